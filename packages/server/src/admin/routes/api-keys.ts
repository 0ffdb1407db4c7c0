// /admin/v1/domains/{domain}/services/{service}/api-keys: API keys (SPEC §3.6) for callers that
// cannot do OAuth. A key is shown once, on creation; only its keyed hash is stored, and the
// list shows what an operator needs to find a leaked key (its id is part of the key) and
// revoke it. Revocation takes effect at the next introspection.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { API_KEY_ID_PATTERN, generateApiKey } from '../../keys/api-keys.ts';
import type { ApiKeyRecord } from '../../storage/records.ts';
import { authorize } from '../authz.ts';
import { badRequest, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses, readExpiry, requireName, schemas } from '../wire.ts';

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const security = [{ bearerAuth: [] }];

const serviceParams = {
  type: 'object',
  properties: { domain: { type: 'string', maxLength: 256 }, service: { type: 'string', maxLength: 256 } },
  required: ['domain', 'service'],
} as const;
const keyParams = {
  ...serviceParams,
  properties: { ...serviceParams.properties, id: { type: 'string', pattern: API_KEY_ID_PATTERN, description: 'the 16 hex characters after tsk_' } },
  required: ['domain', 'service', 'id'],
} as const;

const apiKeySchema = {
  type: 'object',
  properties: { id: str, description: nullableStr, createdAt: str, expiresAt: nullableStr, revokedAt: nullableStr },
} as const;

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

/** Never the hash: what the list and the audit trail may show. */
const apiKeyOut = (k: ApiKeyRecord) => ({
  id: k.id,
  description: k.description,
  createdAt: iso(k.createdAt),
  expiresAt: isoOrNull(k.expiresAt),
  revokedAt: isoOrNull(k.revokedAt),
});

export function apiKeyRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  const { store, callerOf, hasher, now } = deps;

  const target = (request: FastifyRequest): { principal: string; actor: string } => {
    const { domain, service } = request.params as { domain: string; service: string };
    const caller = callerOf(request);
    authorize(caller, domain);
    requireName('domain', domain);
    requireName('service', service);
    return { principal: `${domain}.${service}`, actor: caller.principal };
  };

  app.post(
    '/domains/:domain/services/:service/api-keys',
    {
      schema: {
        summary: 'Create an API key for a service',
        description: 'Returns the key once; only its keyed hash is stored. Format: tsk_<16 hex id>_<43 base64url secret><6 base62 CRC-32 checksum>.',
        tags: ['api-keys'],
        security,
        params: serviceParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { expiresAt: schemas.expiresAt, description: schemas.description },
        },
        response: {
          201: { type: 'object', properties: { apiKey: str, id: str, description: nullableStr, expiresAt: nullableStr, createdAt: str } },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { principal, actor } = target(request);
      const body = (request.body ?? {}) as { expiresAt?: string | null; description?: string | null };
      const expiresAt = readExpiry(body.expiresAt) ?? null;
      if (expiresAt !== null && expiresAt <= now()) throw badRequest('expiresAt is in the past; give a future date-time, or leave it out for a key that does not expire');
      const { key, id } = generateApiKey();
      const created = await store.createApiKey({ id, principal, hash: hasher.hash(key), description: body.description ?? null, expiresAt }, { actor });
      return reply.code(201).send({ apiKey: key, ...apiKeyOut(created) });
    },
  );

  app.get(
    '/domains/:domain/services/:service/api-keys',
    {
      schema: {
        summary: 'List the API keys of a service (never the keys themselves)',
        tags: ['api-keys'],
        security,
        params: serviceParams,
        response: { 200: { type: 'object', properties: { apiKeys: { type: 'array', items: apiKeySchema } } }, ...errorResponses },
      },
    },
    async (request) => {
      const { principal } = target(request);
      if (!(await store.getService(principal))) throw notFound(`service "${principal}" does not exist`);
      return { apiKeys: (await store.listApiKeys(principal)).map(apiKeyOut) };
    },
  );

  app.delete(
    '/domains/:domain/services/:service/api-keys/:id',
    {
      schema: {
        summary: 'Revoke an API key at once',
        description: 'Idempotent: revoking a revoked key answers 204 again.',
        tags: ['api-keys'],
        security,
        params: keyParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { principal, actor } = target(request);
      const { id } = request.params as { id: string };
      await store.revokeApiKey(principal, id, { actor });
      return reply.code(204).send();
    },
  );
}
