// /admin/v1/domains/{domain}/approvals and /admin/v1/approvals/{id}: the changes waiting for a
// second admin (admin/approval-gate.ts). Approving applies the change as requested, checked again
// against the state now, by the approver; the applied change's audit event names the requester
// and the approver. A change that no longer applies (its role deleted meanwhile, a membership
// gone, a review date now past) becomes `failed` and is answered 409: request it again if wanted.

import type { FastifyInstance } from 'fastify';
import { optionalBody, type SchemaTypes } from '../../http/route-types.ts';
import { AlreadyDecidedError, ConflictError, NotFoundError } from '../../storage/errors.ts';
import type { AuditNote, PendingChange } from '../../storage/records.ts';
import type { ChangeKind } from '../approval-gate.ts';
import type { AdminCaller } from '../authz.ts';
import { AdminError, forbidden, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses, pageOf, pageQuerystring, pageSchema, pendingChangeOut, readPage, requireName, schemas, textKey, timeKey } from '../wire.ts';
import { applyDomainPatch } from './domains.ts';
import { applyReviewsChange } from './reviews.ts';
import {
  applyMemberDelete,
  applyMemberPut,
  applyMembersPost,
  applyRoleDelete,
  applyRolePut,
  type Applied,
  type MemberDeleteChange,
  type MemberPutChange,
  type MembersPostChange,
  type RoleDeleteChange,
  type RolePutChange,
} from './roles.ts';
import type { ReviewsBody } from './reviews.ts';

const security = [{ bearerAuth: [] }];
const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const;
const reasonBody = { type: ['object', 'null'], additionalProperties: false, properties: { reason: schemas.reason } } as const;
const ID = /^chg_[0-9a-f]{16}$/;

/** Applies a pending change as the route it was requested through would have, by `actor`. */
function apply(deps: AdminRouteDeps, pending: PendingChange, actor: string, note: AuditNote): Promise<Applied> {
  const change = pending.change;
  switch (pending.kind as ChangeKind) {
    case 'role.put':
      return applyRolePut(deps, change as RolePutChange, actor, note);
    case 'role.delete':
      return applyRoleDelete(deps, change as RoleDeleteChange, actor, note);
    case 'member.put':
      return applyMemberPut(deps, change as MemberPutChange, actor, note);
    case 'member.delete':
      return applyMemberDelete(deps, change as MemberDeleteChange, actor, note);
    case 'members.post':
      return applyMembersPost(deps, change as MembersPostChange, actor, note);
    case 'reviews':
      return applyReviewsChange(deps, change as { body: ReviewsBody }, actor, note);
    case 'domain.update':
      return applyDomainPatch(deps, change as Parameters<typeof applyDomainPatch>[1], actor, note);
    default:
      throw new Error(`pending change ${pending.id} is of unknown kind ${pending.kind}`);
  }
}

/** The reason the request gave, if any: the applied change's audit event records it. */
function requestReason(change: unknown): string | undefined {
  const value = change as { reason?: unknown; body?: { reason?: unknown } } | null;
  const reason = value?.reason ?? value?.body?.reason;
  return typeof reason === 'string' ? reason : undefined;
}

/** Whether applying failed because of the change itself or the state (a client error), not an outage. */
const refusedByState = (error: unknown): error is Error =>
  error instanceof NotFoundError || error instanceof ConflictError || error instanceof RangeError || (error instanceof AdminError && error.status < 500);

export function approvalRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf, now } = deps;

  /** The change `id` if the caller may see it (an admin of its domain, or its requester): 404 otherwise, as for an unknown id. */
  const visible = async (caller: AdminCaller, id: string): Promise<PendingChange> => {
    const change = ID.test(id) ? await store.getPendingChange(id) : null;
    const mayAdminister = change !== null && (caller.isSystemAdmin || caller.adminOf.has(change.domain));
    if (change === null || !(mayAdminister || change.requestedBy === caller.principal)) {
      throw notFound(`no change ${id.slice(0, 64)} waits for an approval in a domain you administer`);
    }
    return change;
  };

  app.get(
    '/domains/:domain/approvals',
    {
      schema: {
        summary: "List a domain's changes waiting for a second admin, oldest first",
        description: 'Only those pending and not expired. Paginated: follow `nextCursor` until it is null.',
        tags: ['approvals'],
        security,
        params: { type: 'object', properties: { domain: { type: 'string', maxLength: 256 } }, required: ['domain'] },
        querystring: pageQuerystring('changes'),
        response: { 200: pageSchema('approvals', schemas.pendingChange), ...errorResponses },
      },
    },
    async (request) => {
      const domain = requireName('domain', request.params.domain);
      if (!(await store.getDomain(domain))) throw notFound(`domain "${domain}" does not exist`);
      const list = `approvals ${domain}`;
      const { limit, after } = readPage(request.query, list, [timeKey, textKey(ID)]);
      const rows = await store.listPendingChanges(domain, {
        limit: limit + 1,
        now: now(),
        ...(after === undefined ? {} : { after: { requestedAt: after[0] as number, id: after[1] as string } }),
      });
      const { items, nextCursor } = pageOf(rows, limit, list, (row) => [row.requestedAt, row.id]);
      return { approvals: items.map(pendingChangeOut), nextCursor };
    },
  );

  app.post(
    '/approvals/:id/approve',
    {
      schema: {
        summary: 'Approve a pending change, applying it',
        description:
          'By an admin of its domain other than the one who requested it (a system admin included). The change is checked again ' +
          'against the state now: when it no longer applies it becomes `failed` (409). `reason` is recorded in the approval event.',
        tags: ['approvals'],
        security,
        params: idParams,
        body: reasonBody,
        response: {
          200: {
            type: 'object',
            properties: {
              approval: schemas.pendingChange,
              status: { type: 'integer', description: 'the status the change answered when applied' },
              result: { description: 'what the change answered when applied (null for a deletion)' },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const { reason } = optionalBody(request.body);
      const pending = await visible(caller, request.params.id);
      if (!(caller.isSystemAdmin || caller.adminOf.has(pending.domain))) {
        throw forbidden(`${caller.principal} no longer administers ${pending.domain}: only an admin of the domain may approve its changes`);
      }
      if (pending.requestedBy === caller.principal) {
        throw forbidden(
          `${caller.principal} requested change ${pending.id}: a second admin of ${pending.domain} must approve it (the requester may only reject it)`,
        );
      }
      if (pending.status !== 'pending') throw new AdminError(409, 'conflict', `change ${pending.id} is already ${pending.status}`);
      if (pending.expiresAt <= now()) {
        throw new AdminError(409, 'conflict', `change ${pending.id} expired at ${new Date(pending.expiresAt).toISOString()}; request it again`);
      }
      const actor = { actor: caller.principal };
      const requested = requestReason(pending.change);
      // The write decides the change (pending to approved) in its own transaction, and checks it is
      // not stale there (AuditNote.approval): another decision on it, or a change of its target,
      // either comes first or waits for the commit.
      const note: AuditNote = {
        ...(requested === undefined ? {} : { reason: requested }),
        approval: { id: pending.id, requestedBy: pending.requestedBy, approvedBy: caller.principal },
        approvalOutcome: reason ?? null,
      };
      let applied: Applied;
      try {
        applied = await apply(deps, pending, caller.principal, note);
      } catch (error) {
        if (error instanceof AlreadyDecidedError) throw new AdminError(409, 'conflict', error.message);
        // An outage, or a bug: nothing was written, the decision included; the change still waits.
        if (!refusedByState(error)) throw error;
        const message = error.message;
        try {
          await store.decidePendingChange(pending.id, 'pending', 'failed', actor, { auditVerb: 'fail', outcome: message });
        } catch (failing) {
          if (failing instanceof AlreadyDecidedError) throw new AdminError(409, 'conflict', failing.message);
          throw failing;
        }
        throw new AdminError(409, 'conflict', `change ${pending.id} no longer applies and is now failed: ${message}`);
      }
      const approved = await store.getPendingChange(pending.id);
      return { approval: pendingChangeOut(approved ?? pending), status: applied.status, result: applied.body ?? null };
    },
  );

  app.post(
    '/approvals/:id/reject',
    {
      schema: {
        summary: 'Reject a pending change (or withdraw one you requested)',
        description: 'By an admin of its domain, or by its requester. `reason` is recorded with it.',
        tags: ['approvals'],
        security,
        params: idParams,
        body: reasonBody,
        response: { 200: schemas.pendingChange, ...errorResponses },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const { reason } = optionalBody(request.body);
      const pending = await visible(caller, request.params.id);
      if (pending.status !== 'pending') throw new AdminError(409, 'conflict', `change ${pending.id} is already ${pending.status}`);
      await store.decidePendingChange(pending.id, 'pending', 'rejected', { actor: caller.principal }, { auditVerb: 'reject', outcome: reason ?? null });
      return pendingChangeOut((await store.getPendingChange(pending.id)) ?? pending);
    },
  );
}
