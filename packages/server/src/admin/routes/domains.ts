// /admin/v1/domains: the namespaces teams own.

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import { authorize, SYSTEM_DOMAIN } from '../authz.ts';
import { AdminError, badRequest, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import type { AuditNote, Domain } from '../../storage/records.ts';
import type { DomainPatch } from '../../storage/store.ts';
import { requestApproval } from '../approval-gate.ts';
import { domainOut, errorResponses, nameKey, pageOf, pageQuerystring, pageSchema, readPage, requireName, schemas } from '../wire.ts';

const domainParams = { type: 'object', properties: { domain: { type: 'string', maxLength: 256 } }, required: ['domain'] } as const;
/** The shortest lifetime limit worth setting: below a minute, clients would spend more time fetching tokens than using them. */
const MIN_TOKEN_LIFETIME = 60;

/** The body field for a domain's or role's token lifetime limit; validated by readTokenMaxLifetime. */
export const tokenMaxLifetimeSchema = {
  type: ['number', 'null'],
  description: `Longest access token granting this, in whole seconds (at least ${MIN_TOKEN_LIFETIME}); null removes the limit`,
} as const;

export function readTokenMaxLifetime(value: number | null | undefined): number | null | undefined {
  if (value === undefined || value === null) return value;
  if (!Number.isSafeInteger(value) || value < MIN_TOKEN_LIFETIME) {
    throw badRequest(`tokenMaxLifetime must be a whole number of seconds, at least ${MIN_TOKEN_LIFETIME}, or null to remove the limit; got ${value}`);
  }
  return value;
}

/** Roles a domain may list in approvalRequiredRoles. */
const MAX_APPROVAL_ROLES = 1000;

interface DomainPatchBody {
  description?: string | null;
  tokenMaxLifetime?: number | null;
  approvalRequiredRoles?: string[];
  reason?: string;
}

function readDomainPatch(body: DomainPatchBody): DomainPatch {
  if (body.description === undefined && body.tokenMaxLifetime === undefined && body.approvalRequiredRoles === undefined) {
    throw badRequest('nothing to change: send description, tokenMaxLifetime and/or approvalRequiredRoles');
  }
  const roles = body.approvalRequiredRoles?.map((role) => requireName('role', role));
  if (roles !== undefined && new Set(roles).size !== roles.length) throw badRequest('approvalRequiredRoles: each role may appear once');
  return {
    description: body.description,
    tokenMaxLifetime: readTokenMaxLifetime(body.tokenMaxLifetime),
    ...(roles === undefined ? {} : { approvalRequiredRoles: roles }),
  };
}

const removedRoles = (current: readonly string[], next: readonly string[] | undefined): string[] =>
  next === undefined ? [] : current.filter((role) => !next.includes(role));

/**
 * A PATCH of a domain as requested. `removes`, for one approved by a second admin: the names it
 * removed from approvalRequiredRoles when requested; a list changed since so that the patch would
 * remove others is refused (409), as the approver never saw that. Checked against the domain as
 * updateDomain's transaction holds it (its guard), so no change of the list can come between.
 */
export async function applyDomainPatch(
  deps: Pick<AdminRouteDeps, 'store'>,
  change: { domain: string; body: DomainPatchBody; removes?: string[] },
  actor: string,
  note: AuditNote,
): Promise<{ status: number; body: unknown }> {
  const patch = readDomainPatch(change.body);
  const { removes } = change;
  const guard =
    removes === undefined
      ? undefined
      : (current: Domain) => {
          const now = removedRoles(current.approvalRequiredRoles, patch.approvalRequiredRoles).filter((role) => !removes.includes(role));
          if (now.length > 0) {
            throw new AdminError(409, 'conflict', `approvalRequiredRoles changed since this was requested: it would now also remove ${now.join(', ')}`);
          }
        };
  const domain = await deps.store.updateDomain(change.domain, patch, { actor }, note, guard);
  return { status: 200, body: domainOut(domain) };
}

export function domainRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf } = deps;

  app.post(
    '/domains',
    {
      schema: {
        summary: 'Create a domain',
        description:
          "Its services' certificates carry DNS names `<service>.<domain with dots as dashes>.<dns suffix>`, so a name that " +
          "another domain's matches once dots are read as dashes (`pay.prod` beside `pay-prod`) is refused with 409.",
        tags: ['domains'],
        security: [{ bearerAuth: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: { name: { type: 'string', maxLength: 256 }, description: schemas.description },
        },
        response: { 201: schemas.domain, ...errorResponses },
      },
    },
    async (request, reply) => {
      authorize(callerOf(request));
      const body = request.body;
      const domain = await store.createDomain(
        { name: requireName('domain', body.name), description: body.description ?? null },
        { actor: callerOf(request).principal },
      );
      return reply.code(201).send(domainOut(domain));
    },
  );

  app.get(
    '/domains',
    {
      schema: {
        summary: 'List the domains the caller administers, by name',
        description: 'Paginated: follow `nextCursor` until it is null.',
        tags: ['domains'],
        security: [{ bearerAuth: [] }],
        querystring: pageQuerystring('domains'),
        response: { 200: pageSchema('domains', schemas.domain), ...errorResponses },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const { limit, after } = readPage(request.query, 'domains', [nameKey('domain')]);
      const names = caller.isSystemAdmin ? undefined : [...caller.adminOf];
      const rows = await store.listDomains({ limit: limit + 1, after: after?.[0] as string | undefined, names });
      const { items, nextCursor } = pageOf(rows, limit, 'domains', (domain) => [domain.name]);
      return { domains: items.map(domainOut), nextCursor };
    },
  );

  app.get(
    '/domains/:domain',
    {
      schema: {
        summary: 'Get a domain',
        tags: ['domains'],
        security: [{ bearerAuth: [] }],
        params: domainParams,
        response: { 200: schemas.domain, ...errorResponses },
      },
    },
    async (request) => {
      const { domain: name } = request.params;
      authorize(callerOf(request), name);
      const domain = await store.getDomain(requireName('domain', name));
      if (!domain) throw notFound(`domain "${name}" does not exist`);
      return domainOut(domain);
    },
  );

  app.patch(
    '/domains/:domain',
    {
      schema: {
        summary: 'Change a domain',
        description:
          'Domain admins may change their own domain. `tokenMaxLifetime` caps every access token granting a role of this domain. ' +
          '`approvalRequiredRoles` replaces the list of roles whose member changes wait for a second admin: names added apply at once; ' +
          'a change that removes names waits itself for a second admin (202 with the pending change).',
        tags: ['domains'],
        security: [{ bearerAuth: [] }],
        params: domainParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            description: schemas.description,
            tokenMaxLifetime: tokenMaxLifetimeSchema,
            approvalRequiredRoles: {
              type: 'array',
              maxItems: MAX_APPROVAL_ROLES,
              items: { type: 'string', maxLength: 256 },
              description: `role names (at most ${MAX_APPROVAL_ROLES}; need not exist yet) whose member changes a second admin of the domain must approve`,
            },
            reason: schemas.reason,
          },
        },
        response: { 200: schemas.domain, 202: schemas.pendingChange, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { domain: name } = request.params;
      const caller = callerOf(request);
      authorize(caller, name);
      const domain = requireName('domain', name);
      const body = request.body;
      readDomainPatch(body);
      const current = await store.getDomain(domain);
      if (!current) throw notFound(`domain "${name}" does not exist`);
      const removes = removedRoles(current.approvalRequiredRoles, body.approvalRequiredRoles);
      if (removes.length > 0) {
        const change = { domain, body, removes };
        return reply.code(202).send(await requestApproval(deps, caller.principal, { kind: 'domain.update', domain, role: null, change, reason: body.reason }));
      }
      const applied = await applyDomainPatch(deps, { domain, body }, caller.principal, body.reason === undefined ? {} : { reason: body.reason });
      return reply.code(applied.status).send(applied.body);
    },
  );

  app.delete(
    '/domains/:domain',
    {
      schema: {
        summary: 'Delete an empty domain',
        tags: ['domains'],
        security: [{ bearerAuth: [] }],
        params: domainParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { domain: name } = request.params;
      authorize(callerOf(request));
      if (name === SYSTEM_DOMAIN) throw new AdminError(409, 'conflict', `the system domain ${SYSTEM_DOMAIN} cannot be deleted`);
      await store.deleteDomain(requireName('domain', name), { actor: callerOf(request).principal });
      return reply.code(204).send();
    },
  );
}
