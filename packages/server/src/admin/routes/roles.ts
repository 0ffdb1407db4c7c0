// /admin/v1/domains/{domain}/roles: who may act in a domain. A role belongs to the domain that
// protects the resource; its admins grant access by adding members.

import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { optionalBody, type RequestWithParams, type SchemaTypes } from '../../http/route-types.ts';
import type { AuditNote } from '../../storage/records.ts';
import { approvalRequired, requestApproval } from '../approval-gate.ts';
import { describeNameRule, isPrincipalName } from '../../policy/names.ts';
import type { Role, RoleMember } from '../../storage/records.ts';
import { MAX_ROLE_ACTORS } from '../../policy/delegation.ts';
import { authorize } from '../authz.ts';
import { AdminError, badRequest, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { readTokenMaxLifetime, tokenMaxLifetimeSchema } from './domains.ts';
import {
  DEFAULT_PAGE_LIMIT,
  errorResponses,
  memberOut,
  nameKey,
  pageOf,
  pageQuerystring,
  pageSchema,
  readExpiry,
  readPage,
  readReviewBy,
  requireName,
  roleOut,
  schemas,
} from '../wire.ts';

const MAX_MEMBERS = 10_000;
/** Members one bulk addition (POST .../members) may carry. */
const MAX_BULK_MEMBERS = 1000;
/**
 * The most bytes one member takes in a request body: `{"principal":"` (14), a principal of the
 * longest allowed (256), `","expiresAt":"` (15), a date-time with fraction and offset (35),
 * `","reviewBy":"` (14), another date-time (35), `"},` (3): 372, rounded up. Routes taking member lists accept bodies of
 * that many bytes a member, plus 4 KiB for the rest, above the server's general body limit.
 */
const MEMBER_JSON_BYTES = 400;
const memberListBodyLimit = (members: number): number => members * MEMBER_JSON_BYTES + 4096;
/** Members a role shows where it is shown whole (GET, PUT, the list of roles); the rest through GET .../members. */
const MEMBERS_SHOWN = DEFAULT_PAGE_LIMIT;
const roleParams = {
  type: 'object',
  properties: { domain: { type: 'string', maxLength: 256 }, role: { type: 'string', maxLength: 256 } },
  required: ['domain', 'role'],
} as const;
const memberParams = {
  ...roleParams,
  properties: { ...roleParams.properties, principal: { type: 'string', maxLength: 256 } },
  required: ['domain', 'role', 'principal'],
} as const;
const security = [{ bearerAuth: [] }];
const joinTokensVoided = {
  type: 'integer',
  description:
    "outstanding join tokens of the member voided by this change: granting a service another domain's admin role " + 'voids the join tokens made for it before',
} as const;
const membersNextCursor = {
  type: ['string', 'null'],
  description:
    `members are shown by principal, the first ${MEMBERS_SHOWN}; when there are more, the cursor for GET .../roles/{role}/members?cursor= ` +
    'that lists the rest (null when all are shown)',
} as const;
const roleSchema = { ...schemas.role, properties: { ...schemas.role.properties, membersNextCursor } } as const;
const roleAnswer = { ...roleSchema, properties: { ...roleSchema.properties, joinTokensVoided } } as const;
const memberList = (domain: string, role: string): string => `members ${domain} ${role}`;

/** The role as shown: its first MEMBERS_SHOWN members, read with one more to tell whether there are others. */
function roleShown(role: Role) {
  const { items, nextCursor } = pageOf(role.members, MEMBERS_SHOWN, memberList(role.domain, role.name), (member) => [member.principal]);
  return { ...roleOut({ ...role, members: items }), membersNextCursor: nextCursor };
}

export function roleRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf, now } = deps;

  /** 404 for a role that does not exist: a change of it held for approval could never apply. */
  const requireRole = async (domain: string, role: string): Promise<void> => {
    if (!(await store.getRole(domain, role, 0))) throw notFound(`role ${domain}:role.${role} does not exist`);
  };

  const target = (request: RequestWithParams<typeof roleParams>): { domain: string; role: string; actor: string } => {
    const { domain, role } = request.params;
    const caller = callerOf(request);
    authorize(caller, domain);
    return { domain: requireName('domain', domain), role: requireName('role', role), actor: caller.principal };
  };

  app.get(
    '/domains/:domain/roles',
    {
      schema: {
        summary: 'List the roles of a domain, by name',
        description: `Paginated: follow \`nextCursor\` until it is null. Each role shows its first ${MEMBERS_SHOWN} members (see membersNextCursor).`,
        tags: ['roles'],
        security,
        params: { type: 'object', properties: { domain: { type: 'string', maxLength: 256 } }, required: ['domain'] },
        querystring: pageQuerystring('roles'),
        response: { 200: pageSchema('roles', roleSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { domain } = request.params;
      authorize(callerOf(request), domain);
      if (!(await store.getDomain(requireName('domain', domain)))) throw notFound(`domain "${domain}" does not exist`);
      const list = `roles ${domain}`;
      const { limit, after } = readPage(request.query, list, [nameKey('role')]);
      const rows = await store.listRoles(domain, { limit: limit + 1, after: after?.[0] as string | undefined, memberLimit: MEMBERS_SHOWN + 1 });
      const { items, nextCursor } = pageOf(rows, limit, list, (role) => [role.name]);
      return { roles: items.map(roleShown), nextCursor };
    },
  );

  app.put(
    '/domains/:domain/roles/:role',
    {
      bodyLimit: memberListBodyLimit(MAX_MEMBERS),
      schema: {
        summary: 'Create or replace a role',
        description:
          'With `members`, the member list is replaced; without, a new role starts empty and an existing one keeps its members. ' +
          '`tokenMaxLifetime` caps every access token granting this role; without it, an existing role keeps its limit. ' +
          '`actors` (and `impersonators`) name who may get tokens carrying this role for a member (docs/tokens.md, Token exchange); ' +
          'without them, an existing role keeps its lists. ' +
          "`idTokenSubjects: true` lets those actors exchange a member's ID token (one issued for the actor itself) for tokens carrying this role; " +
          'false by default, and an existing role keeps it when it is left out. ' +
          'A member that becomes an admin of a domain other than its own loses its outstanding join tokens (`joinTokensVoided`). ' +
          `Up to ${MAX_MEMBERS} members; the body may be larger than the server's general limit, up to ${memberListBodyLimit(MAX_MEMBERS)} bytes. ` +
          'To add members without replacing the others, POST .../members.',
        tags: ['roles'],
        security,
        params: roleParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            members: { type: 'array', maxItems: MAX_MEMBERS, items: schemas.member },
            tokenMaxLifetime: tokenMaxLifetimeSchema,
            actors: principalListSchema('principals that may act for a member of this role (token exchange, proxy_for_principal)'),
            impersonators: principalListSchema('principals that may impersonate a member of this role, when they ask for it explicitly'),
            reason: schemas.reason,
            idTokenSubjects: {
              type: 'boolean',
              description: "whether its actors may exchange a member's ID token (subject_token_type id_token) for tokens carrying this role; default false",
            },
          },
        },
        response: { 202: schemas.pendingChange, '2xx': roleAnswer, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { domain, role, actor } = target(request);
      const body = optionalBody(request.body);
      const change = { domain, role, body };
      readRolePut(change, now());
      // Judged by what it asks: members, actors, impersonators or idTokenSubjects, given, change who holds or acts with the role.
      const delegation = body.members !== undefined || body.actors !== undefined || body.impersonators !== undefined || body.idTokenSubjects !== undefined;
      if (delegation && (await approvalRequired(store, domain, role))) {
        // What it replaces, as it stands now: an approval finding the role changed since is refused (applyRolePut).
        const held: RolePutChange = { ...change, basis: rolePutBasis(change, await store.getRole(domain, role)) };
        return reply.code(202).send(await requestApproval(deps, actor, { kind: 'role.put', domain, role, change: held, reason: body.reason }));
      }
      const result = await applyRolePut(deps, change, actor, noteOf(body.reason));
      return reply.code(result.status).send(result.body);
    },
  );

  app.get(
    '/domains/:domain/roles/:role',
    {
      schema: {
        summary: 'Get a role and its first members',
        description: `The first ${MEMBERS_SHOWN} members by principal; when there are more, \`membersNextCursor\` pages on through GET .../members.`,
        tags: ['roles'],
        security,
        params: roleParams,
        response: { 200: roleSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { domain, role } = target(request);
      const found = await store.getRole(domain, role, MEMBERS_SHOWN + 1);
      if (!found) throw notFound(`role ${domain}:role.${role} does not exist`);
      return roleShown(found);
    },
  );

  app.get(
    '/domains/:domain/roles/:role/members',
    {
      schema: {
        summary: 'List the members of a role, by principal',
        description: 'Paginated: follow `nextCursor` until it is null.',
        tags: ['roles'],
        security,
        params: roleParams,
        querystring: pageQuerystring('members'),
        response: { 200: pageSchema('members', schemas.role.properties.members.items), ...errorResponses },
      },
    },
    async (request) => {
      const { domain, role } = target(request);
      const list = memberList(domain, role);
      const { limit, after } = readPage(request.query, list, [nameKey('principal')]);
      if (!(await store.getRole(domain, role, 0))) throw notFound(`role ${domain}:role.${role} does not exist`);
      const rows = await store.listRoleMembers(domain, role, { limit: limit + 1, after: after?.[0] as string | undefined });
      const { items, nextCursor } = pageOf(rows, limit, list, (member) => [member.principal]);
      return {
        members: items.map(memberOut),
        nextCursor,
      };
    },
  );

  app.post(
    '/domains/:domain/roles/:role/members',
    {
      bodyLimit: memberListBodyLimit(MAX_BULK_MEMBERS),
      schema: {
        summary: 'Add members to a role (or change their expiry), keeping the others',
        description:
          `Up to ${MAX_BULK_MEMBERS} members a call, each principal once; all are written or none, with one audit event ` +
          '(`role-member.put-many`). Each member is added as PUT .../members/{principal} adds one: a service granted another ' +
          "domain's admin role (or renewed after it expired) loses the join tokens made for it before (`joinTokensVoided`).",
        tags: ['roles'],
        security,
        params: roleParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['members'],
          properties: { members: { type: 'array', minItems: 1, maxItems: MAX_BULK_MEMBERS, items: schemas.member }, reason: schemas.reason },
        },
        response: {
          202: schemas.pendingChange,
          200: {
            type: 'object',
            properties: {
              created: { type: 'integer', description: 'members that were not members before' },
              updated: { type: 'integer', description: 'members whose expiry was set anew' },
              joinTokensVoided,
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { domain, role, actor } = target(request);
      const change = { domain, role, body: request.body };
      readMembersPost(change, now());
      if (await approvalRequired(store, domain, role)) {
        await requireRole(domain, role);
        return reply.code(202).send(await requestApproval(deps, actor, { kind: 'members.post', domain, role, change, reason: request.body.reason }));
      }
      const result = await applyMembersPost(deps, change, actor, noteOf(request.body.reason));
      return reply.code(result.status).send(result.body);
    },
  );

  app.delete(
    '/domains/:domain/roles/:role',
    {
      schema: {
        summary: 'Delete a role',
        description: 'A role its domain lists in approvalRequiredRoles is deleted only when a second admin approves (202 with the pending change).',
        tags: ['roles'],
        security,
        params: roleParams,
        querystring: reasonQuery,
        response: { 202: schemas.pendingChange, 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { domain, role, actor } = target(request);
      const { reason } = request.query;
      const change = { domain, role, ...(reason === undefined ? {} : { reason }) };
      if (await approvalRequired(store, domain, role)) {
        await requireRole(domain, role);
        return reply.code(202).send(await requestApproval(deps, actor, { kind: 'role.delete', domain, role, change, reason }));
      }
      const result = await applyRoleDelete(deps, change, actor, noteOf(reason));
      return reply.code(result.status).send(result.body);
    },
  );

  app.put(
    '/domains/:domain/roles/:role/members/:principal',
    {
      schema: {
        summary: 'Add a member to a role (or change its expiry)',
        description:
          "Granting a service another domain's admin role (or renewing it after it expired) voids the join tokens made " +
          'for it before (`joinTokensVoided`); rotate its other credentials too, as their holders now act as that admin.',
        tags: ['roles'],
        security,
        params: memberParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { expiresAt: schemas.expiresAt, reviewBy: schemas.reviewBy, reason: schemas.reason },
        },
        response: {
          202: schemas.pendingChange,
          '2xx': {
            type: 'object',
            properties: {
              principal: { type: 'string' },
              expiresAt: { type: ['string', 'null'] },
              reviewBy: { type: ['string', 'null'] },
              created: { type: 'boolean' },
              joinTokensVoided,
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { domain, role, actor } = target(request);
      const body = optionalBody(request.body);
      const change = { domain, role, principal: request.params.principal, body };
      readMemberPut(change, now());
      if (await approvalRequired(store, domain, role)) {
        await requireRole(domain, role);
        return reply.code(202).send(await requestApproval(deps, actor, { kind: 'member.put', domain, role, change, reason: body.reason }));
      }
      const result = await applyMemberPut(deps, change, actor, noteOf(body.reason));
      return reply.code(result.status).send(result.body);
    },
  );

  app.delete(
    '/domains/:domain/roles/:role/members/:principal',
    {
      schema: {
        summary: 'Remove a member from a role',
        tags: ['roles'],
        security,
        params: memberParams,
        querystring: reasonQuery,
        response: { 202: schemas.pendingChange, 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { domain, role, actor } = target(request);
      const { reason } = request.query;
      const change = { domain, role, principal: requireName('principal', request.params.principal), ...(reason === undefined ? {} : { reason }) };
      if (await approvalRequired(store, domain, role)) {
        await requireRole(domain, role);
        if (!(await store.membershipsOf(change.principal)).some((m) => m.domain === domain && m.role === role)) {
          throw notFound(`${change.principal} is not a member of ${domain}:role.${role}`);
        }
        return reply.code(202).send(await requestApproval(deps, actor, { kind: 'member.delete', domain, role, change, reason }));
      }
      const result = await applyMemberDelete(deps, change, actor, noteOf(reason));
      return reply.code(result.status).send(result.body);
    },
  );
}

/**
 * A role's actors or impersonators: principal names, each once. A principal of any domain may be
 * named, as a member may: the role's own domain admins decide who may act on its resources, and
 * only they can change the role (authorize, above).
 */
function readPrincipalList(field: 'actors' | 'impersonators', values: string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  for (const value of values) {
    if (!isPrincipalName(value)) throw badRequest(`${field}: "${value.slice(0, 80)}" is not a valid principal name: ${describeNameRule('principal')}`);
  }
  if (new Set(values).size !== values.length) throw badRequest(`${field}: each principal may appear once`);
  return values;
}

function principalListSchema(description: string) {
  const items = { type: 'string', maxLength: 256 } as const;
  return { type: 'array', maxItems: MAX_ROLE_ACTORS, items, description: `${description}; at most ${MAX_ROLE_ACTORS}` } as const;
}

function readMember(input: { principal: string; expiresAt?: string | null; reviewBy?: string | null }, now: number): RoleMember {
  const reviewBy = readReviewBy(input.reviewBy, now);
  return { principal: requireName('principal', input.principal), expiresAt: readExpiry(input.expiresAt) ?? null, ...(reviewBy === null ? {} : { reviewBy }) };
}

function readMembers(list: readonly { principal: string; expiresAt?: string | null; reviewBy?: string | null }[], now: number): RoleMember[] {
  const members = list.map((member) => readMember(member, now));
  if (new Set(members.map((m) => m.principal)).size !== members.length) throw badRequest('members: each principal may appear once');
  return members;
}

/** `?reason=` of a DELETE: why the change is made, for its audit event. */
const reasonQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: 500, description: 'why: recorded in the audit event (at most 500 characters)' } },
} as const;

export const noteOf = (reason: string | undefined): AuditNote => (reason === undefined ? {} : { reason });

// The changes of a role and its members, each as requested (path parameters and body, as a
// pending change stores it): read (400 for what is malformed), checked against the state now,
// and written. Routes apply them at once, or, for a role that needs a second admin, when that
// admin approves (routes/approvals.ts); `note` adds the reason and the approval to the audit.

/** What applying a change answers: the status and body the route would have answered. */
export interface Applied {
  status: number;
  body: unknown;
}

interface MemberInput {
  principal: string;
  expiresAt?: string | null;
  reviewBy?: string | null;
}

export interface RolePutChange {
  domain: string;
  role: string;
  body: {
    members?: MemberInput[];
    tokenMaxLifetime?: number | null;
    actors?: string[];
    impersonators?: string[];
    idTokenSubjects?: boolean;
    reason?: string;
  };
  /**
   * Set on a held change (approval-gate.ts): a fingerprint of each part of the role the PUT
   * replaces (members, actors, impersonators, idTokenSubjects), as it stood when requested. The
   * approver judges the change against that state; applying it to a role changed since would
   * silently undo what was changed (drop a member added since, re-add one removed), so it is refused.
   */
  basis?: Record<string, string>;
}

/** The parts of `current` a role PUT replaces, each fingerprinted (RolePutChange.basis). */
export function rolePutBasis(change: RolePutChange, current: Role | null): Record<string, string> {
  const { body } = change;
  const byPrincipal = (a: RoleMember, b: RoleMember): number => (a.principal < b.principal ? -1 : a.principal > b.principal ? 1 : 0);
  const sorted = (list: readonly string[] | undefined): string[] => [...(list ?? [])].sort();
  const parts: Record<string, unknown> = {
    role: current !== null,
    ...(body.members !== undefined && {
      members: [...(current?.members ?? [])].sort(byPrincipal).map((m) => [m.principal, m.expiresAt, m.reviewBy ?? null]),
    }),
    ...(body.actors !== undefined && { actors: sorted(current?.actors) }),
    ...(body.impersonators !== undefined && { impersonators: sorted(current?.impersonators) }),
    ...(body.idTokenSubjects !== undefined && { idTokenSubjects: current?.idTokenSubjects ?? false }),
  };
  const fingerprint = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 22);
  return Object.fromEntries(Object.entries(parts).map(([name, value]) => [name, fingerprint(value)]));
}

/**
 * A held role PUT's basis against the role as putRole's transaction holds it: 409 naming what
 * changed since it was requested. Called inside that transaction (putRole's guard), so nothing can
 * change the role between this check and the write.
 */
function refuseStaleRolePut(change: RolePutChange & { basis: Record<string, string> }, current: Role | null): void {
  const { domain, role, basis } = change;
  const now = rolePutBasis(change, current);
  const changed = Object.keys(basis).filter((part) => basis[part] !== now[part]);
  if (changed.length === 0) return;
  const what = changed.includes('role') ? 'was created or deleted' : `changed (${changed.join(', ')})`;
  throw new AdminError(
    409,
    'conflict',
    `${domain}:role.${role} ${what} since this change was requested: approving it now would replace what was changed since ` +
      '(members added or removed meanwhile would be silently undone); request it again against the role as it is now',
  );
}

function readRolePut(change: RolePutChange, now: number) {
  const { body } = change;
  const members = body.members === undefined ? undefined : readMembers(body.members, now);
  const tokenMaxLifetime = readTokenMaxLifetime(body.tokenMaxLifetime);
  const actors = readPrincipalList('actors', body.actors);
  const impersonators = readPrincipalList('impersonators', body.impersonators);
  const settings = {
    ...(tokenMaxLifetime === undefined ? {} : { tokenMaxLifetime }),
    ...(actors === undefined ? {} : { actors }),
    ...(impersonators === undefined ? {} : { impersonators }),
    ...(body.idTokenSubjects === undefined ? {} : { idTokenSubjects: body.idTokenSubjects }),
  };
  return { members, settings };
}

export async function applyRolePut(deps: AdminRouteDeps, change: RolePutChange, actor: string, note: AuditNote): Promise<Applied> {
  const { domain, role } = change;
  const { members, settings } = readRolePut(change, deps.now());
  const { basis } = change;
  const guard = basis === undefined ? undefined : (current: Role | null) => refuseStaleRolePut({ ...change, basis }, current);
  const result = await deps.store.putRole(domain, role, members, { actor }, settings, note, guard);
  return { status: result.created ? 201 : 200, body: { ...roleShown(result.role), joinTokensVoided: result.joinTokensVoided } };
}

export interface MembersPostChange {
  domain: string;
  role: string;
  body: { members: MemberInput[]; reason?: string };
}

function readMembersPost(change: MembersPostChange, now: number): RoleMember[] {
  return readMembers(change.body.members, now);
}

export async function applyMembersPost(deps: AdminRouteDeps, change: MembersPostChange, actor: string, note: AuditNote): Promise<Applied> {
  const { domain, role } = change;
  const members = readMembersPost(change, deps.now());
  return { status: 200, body: await deps.store.putRoleMembers(domain, role, members, { actor }, note) };
}

export interface MemberPutChange {
  domain: string;
  role: string;
  principal: string;
  body: { expiresAt?: string | null; reviewBy?: string | null; reason?: string };
}

function readMemberPut(change: MemberPutChange, now: number): RoleMember {
  return readMember({ principal: change.principal, expiresAt: change.body.expiresAt, reviewBy: change.body.reviewBy }, now);
}

export async function applyMemberPut(deps: AdminRouteDeps, change: MemberPutChange, actor: string, note: AuditNote): Promise<Applied> {
  const { domain, role } = change;
  const member = readMemberPut(change, deps.now());
  const { created, joinTokensVoided } = await deps.store.putRoleMember(domain, role, member, { actor }, note);
  return { status: created ? 201 : 200, body: { ...memberOut(member), created, joinTokensVoided } };
}

export interface MemberDeleteChange {
  domain: string;
  role: string;
  principal: string;
  reason?: string;
}

export async function applyMemberDelete(deps: AdminRouteDeps, change: MemberDeleteChange, actor: string, note: AuditNote): Promise<Applied> {
  const { domain, role } = change;
  const principal = requireName('principal', change.principal);
  await deps.store.deleteRoleMember(domain, role, principal, { actor }, note);
  return { status: 204, body: undefined };
}

export interface RoleDeleteChange {
  domain: string;
  role: string;
  reason?: string;
}

export async function applyRoleDelete(deps: AdminRouteDeps, change: RoleDeleteChange, actor: string, note: AuditNote): Promise<Applied> {
  const { domain, role } = change;
  await deps.store.deleteRole(domain, role, { actor }, note);
  return { status: 204, body: undefined };
}
