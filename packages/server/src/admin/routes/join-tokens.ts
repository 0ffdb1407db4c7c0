// /admin/v1/join-tokens: one-time bootstrap tokens (docs/certificates.md, Join token). An operator makes one for a
// principal and hands it to a new instance, which trades it once for its first certificate
// (proof type `join-token`, or EST simpleenroll). The token is shown once; only its keyed hash is
// stored (format in keys/join-tokens.ts).

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import { generateJoinToken } from '../../keys/join-tokens.ts';
import { splitPrincipal } from '../../policy/names.ts';
import { NotFoundError } from '../../storage/errors.ts';
import { serviceStanding } from '../../policy/service-standing.ts';
import { authorize, authorizeServiceChange } from '../authz.ts';
import type { JoinTokenInfo } from '../../storage/records.ts';
import { AdminError, badRequest, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses, pageOf, pageParameters, pageSchema, readPage, requireName, textKey, timeKey } from '../wire.ts';

export interface JoinTokenLimits {
  /** Lifetime when the request names none (seconds). */
  defaultTtl: number;
  /** Longest lifetime a request may ask for (seconds). */
  maxTtl: number;
}

const str = { type: 'string' } as const;
const security = [{ bearerAuth: [] }];
const ID_PATTERN = /^[0-9a-f]{16}$/;

const joinTokenSchema = {
  type: 'object',
  properties: { id: str, principal: str, createdAt: str, expiresAt: str },
} as const;

const listQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['principal'],
  properties: {
    principal: { type: 'string', maxLength: 256, description: '`<domain>.<service>` whose join tokens to list' },
    ...pageParameters('join tokens'),
  },
} as const;

export function joinTokenRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf, hasher, now, joinTokens } = deps;

  app.post(
    '/join-tokens',
    {
      schema: {
        summary: 'Create a one-time join token for a service',
        description:
          'Returns the token once; only its keyed hash is stored. The token is bound to `principal`, is used at most once ' +
          '(the first presentation consumes it, even when that request is refused later), and lets the holder get one ' +
          'certificate for that principal while the service is ACTIVE. Format: tsj_<16 hex id>_<43 base64url secret>.',
        tags: ['join-tokens'],
        security,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['principal'],
          properties: {
            principal: { type: 'string', maxLength: 256, description: '`<domain>.<service>` of an existing service' },
            ttlSeconds: {
              type: 'integer',
              minimum: 1,
              description: `seconds until the token expires; default ${joinTokens.defaultTtl}, at most ${joinTokens.maxTtl}`,
            },
          },
        },
        response: {
          201: { type: 'object', properties: { token: str, id: str, principal: str, expiresAt: str } },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const caller = callerOf(request);
      const principal = requireName('principal', body.principal);
      const { domain } = splitPrincipal(principal) ?? { domain: '' };
      authorize(caller, domain);
      await authorizeServiceChange(store, caller, principal, now());
      const ttl = body.ttlSeconds ?? joinTokens.defaultTtl;
      if (ttl > joinTokens.maxTtl) {
        throw badRequest(`ttlSeconds is ${ttl}, more than the ${joinTokens.maxTtl} s this server allows (joinTokens.maxTtl); ask for a shorter lifetime`);
      }
      const service = await store.getService(principal);
      if (!service) throw notFound(`service "${principal}" does not exist; register it first (POST /admin/v1/domains/${domain}/services)`);
      const standing = serviceStanding(service, now());
      if (standing === 'disabled') {
        throw new AdminError(409, 'conflict', `service "${principal}" is disabled, so a join token for it could never be used; enable it first`);
      }
      if (standing === 'expired') {
        throw new AdminError(409, 'conflict', `service "${principal}" has expired, so a join token for it could never be used; extend its expiresAt first`);
      }
      const { token, id } = generateJoinToken();
      const expiresAt = now() + ttl * 1000;
      // Checked again under the service's lock: a grant of another domain's admin role may commit meanwhile.
      const mayAdminister = (other: string): boolean => caller.isSystemAdmin || caller.adminOf.has(other);
      await store.createJoinToken({ id, principal, hash: hasher.hash(token), expiresAt }, { actor: caller.principal }, mayAdminister);
      return reply.code(201).send({ token, id, principal, expiresAt: new Date(expiresAt).toISOString() });
    },
  );

  app.get(
    '/join-tokens',
    {
      schema: {
        summary: 'List the outstanding join tokens of a service, oldest first',
        description:
          'Only tokens neither used nor expired; never the token or its hash. Paginated: follow `nextCursor` until it is null. ' +
          "The caller must administer the principal's domain.",
        tags: ['join-tokens'],
        security,
        querystring: listQuery,
        response: {
          200: pageSchema('joinTokens', joinTokenSchema),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { query } = request;
      const principal = requireName('principal', query.principal);
      authorize(callerOf(request), splitPrincipal(principal)?.domain ?? '');
      const list = `join-tokens ${principal}`;
      const { limit, after: key } = readPage(query, list, [timeKey, textKey(ID_PATTERN)]);
      const after = key && { createdAt: key[0] as number, id: key[1] as string };
      const rows = await store.listJoinTokens(principal, { limit: limit + 1, after, now: now() });
      const { items, nextCursor } = pageOf(rows, limit, list, (token) => [token.createdAt, token.id]);
      return { joinTokens: items.map(joinTokenOut), nextCursor };
    },
  );

  app.delete(
    '/join-tokens/:id',
    {
      schema: {
        summary: 'Revoke an outstanding join token',
        description: "The token can no longer be used. The caller must administer the domain of the token's principal.",
        tags: ['join-tokens'],
        security,
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] },
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const caller = callerOf(request);
      const unknown = (): AdminError =>
        notFound(`there is no outstanding join token "${id.slice(0, 64)}"; list them with GET /admin/v1/join-tokens?principal=<principal>`);
      const found = ID_PATTERN.test(id) ? await store.getJoinToken(id, now()) : null;
      if (!found) throw unknown();
      try {
        authorize(caller, splitPrincipal(found.principal)?.domain ?? '');
      } catch (error) {
        // Another domain's token is answered as an unknown one: a 403 would tell that the id exists.
        if (error instanceof AdminError && error.status === 403) throw unknown();
        throw error;
      }
      try {
        await store.deleteJoinToken(found.principal, id, { actor: caller.principal });
      } catch (error) {
        // Used or expired between the two reads.
        if (error instanceof NotFoundError) throw unknown();
        throw error;
      }
      return reply.code(204).send();
    },
  );
}

const joinTokenOut = (t: JoinTokenInfo) => ({
  id: t.id,
  principal: t.principal,
  createdAt: new Date(t.createdAt).toISOString(),
  expiresAt: new Date(t.expiresAt).toISOString(),
});
