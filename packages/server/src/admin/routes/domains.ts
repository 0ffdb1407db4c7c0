// /admin/v1/domains: the namespaces teams own.

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import { authorize, SYSTEM_DOMAIN } from '../authz.ts';
import { AdminError, badRequest, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
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
        description: 'Domain admins may change their own domain. `tokenMaxLifetime` caps every access token granting a role of this domain.',
        tags: ['domains'],
        security: [{ bearerAuth: [] }],
        params: domainParams,
        body: { type: 'object', additionalProperties: false, properties: { description: schemas.description, tokenMaxLifetime: tokenMaxLifetimeSchema } },
        response: { 200: schemas.domain, ...errorResponses },
      },
    },
    async (request) => {
      const { domain: name } = request.params;
      const caller = callerOf(request);
      authorize(caller, name);
      const body = request.body;
      if (body.description === undefined && body.tokenMaxLifetime === undefined)
        throw badRequest('nothing to change: send description and/or tokenMaxLifetime');
      const patch = { description: body.description, tokenMaxLifetime: readTokenMaxLifetime(body.tokenMaxLifetime) };
      const domain = await store.updateDomain(requireName('domain', name), patch, { actor: caller.principal });
      return domainOut(domain);
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
