// /admin/v1/join-tokens: one-time bootstrap tokens (SPEC §4.1, §5). An operator makes one for a
// principal and hands it to a new instance, which trades it once for its first certificate
// (proof type `join-token`, or EST simpleenroll). The token is shown once; only its keyed hash is
// stored (format in keys/join-tokens.ts).

import type { FastifyInstance } from 'fastify';
import { generateJoinToken } from '../../keys/join-tokens.ts';
import { splitPrincipal } from '../../policy/names.ts';
import { serviceStanding } from '../../policy/service-standing.ts';
import { authorize, authorizeServiceChange } from '../authz.ts';
import { AdminError, badRequest, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses, requireName } from '../wire.ts';

export interface JoinTokenLimits {
  /** Lifetime when the request names none (seconds). */
  defaultTtl: number;
  /** Longest lifetime a request may ask for (seconds). */
  maxTtl: number;
}

const str = { type: 'string' } as const;
const security = [{ bearerAuth: [] }];

export function joinTokenRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
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
            ttlSeconds: { type: 'integer', minimum: 1, description: `seconds until the token expires; default ${joinTokens.defaultTtl}, at most ${joinTokens.maxTtl}` },
          },
        },
        response: {
          201: { type: 'object', properties: { token: str, id: str, principal: str, expiresAt: str } },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const body = request.body as { principal: string; ttlSeconds?: number };
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
      await store.createJoinToken({ id, principal, hash: hasher.hash(token), expiresAt }, { actor: caller.principal });
      return reply.code(201).send({ token, id, principal, expiresAt: new Date(expiresAt).toISOString() });
    },
  );
}
