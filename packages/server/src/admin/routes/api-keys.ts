// /admin/v1/domains/{domain}/services/{service}/api-keys: API keys for callers that
// cannot do OAuth. A key is shown once, on creation; only its keyed hash is stored, and the
// list shows what an operator needs to find a leaked key (its id is part of the key) and
// revoke it. Revocation takes effect at the next introspection.
//
// A key is issued for one audience, a domain, as an access token is: only that domain's
// resource servers accept it, and only while the service holds a role there (the token
// endpoint's rule), so a domain's admin cannot make keys that other tenants' services accept.

import type { FastifyInstance } from 'fastify';
import type { RequestWithParams, SchemaTypes } from '../../http/route-types.ts';
import { API_KEY_ID_PATTERN, generateApiKey } from '../../keys/api-keys.ts';
import type { ApiKeyRecord } from '../../storage/records.ts';
import { authorize, authorizeServiceChange } from '../authz.ts';
import { badRequest, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses, pageOf, pageQuerystring, pageSchema, readExpiry, readPage, requireName, schemas, textKey, timeKey } from '../wire.ts';

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
  properties: {
    id: str,
    audience: { type: 'string', description: 'the domain whose resource servers accept the key' },
    description: nullableStr,
    createdAt: str,
    expiresAt: nullableStr,
    revokedAt: nullableStr,
  },
} as const;

const createBody = {
  // null lets a request without a body reach the handler, which says what to send.
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['audience'],
  properties: {
    audience: {
      type: 'string',
      maxLength: 256,
      description: 'the domain whose resource servers will accept the key; the service must hold a role there',
    },
    expiresAt: schemas.expiresAt,
    description: schemas.description,
  },
} as const;

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

/** Never the hash: what the list and the audit trail may show. */
const apiKeyOut = (k: ApiKeyRecord) => ({
  id: k.id,
  audience: k.audience,
  description: k.description,
  createdAt: iso(k.createdAt),
  expiresAt: isoOrNull(k.expiresAt),
  revokedAt: isoOrNull(k.revokedAt),
});

export function apiKeyRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf, hasher, now } = deps;

  /** The audience a new key of `principal` may have: an existing domain where the service holds a role now. */
  const readAudience = async (principal: string, audience: string): Promise<string> => {
    requireName('domain', audience);
    if (!(await store.getService(principal))) throw notFound(`service "${principal}" does not exist`);
    if (!(await store.getDomain(audience))) {
      throw badRequest(`audience "${audience}" is not a domain; name the domain whose services will accept the key`);
    }
    if ((await store.rolesHeld(principal, [audience], now())).length === 0) {
      throw badRequest(
        `${principal} holds no role in ${audience}, so ${audience}'s services would refuse the key; ` +
          `ask ${audience}'s admin to add ${principal} to a role first`,
      );
    }
    return audience;
  };

  const target = (request: RequestWithParams<typeof serviceParams>): { principal: string; actor: string } => {
    const { domain, service } = request.params;
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
        description:
          'Returns the key once; only its keyed hash is stored. Format: tsk_<16 hex id>_<43 base64url secret><6 base62 CRC-32 checksum>. ' +
          'The key is accepted only by services of its audience domain, and only while the service holds a role there.',
        tags: ['api-keys'],
        security,
        params: serviceParams,
        body: createBody,
        response: {
          201: { type: 'object', properties: { apiKey: str, ...apiKeySchema.properties } },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { principal, actor } = target(request);
      await authorizeServiceChange(store, callerOf(request), principal, now());
      const body = request.body ?? null;
      if (body === null) {
        throw badRequest('send a JSON body naming the key\'s audience, the domain whose services will accept it: {"audience": "<domain>"}');
      }
      const expiresAt = readExpiry(body.expiresAt) ?? null;
      if (expiresAt !== null && expiresAt <= now())
        throw badRequest('expiresAt is in the past; give a future date-time, or leave it out for a key that does not expire');
      const audience = await readAudience(principal, body.audience);
      const { key, id } = generateApiKey();
      const description = body.description ?? null;
      const created = await store.createApiKey({ id, principal, audience, hash: hasher.hash(key), description, expiresAt }, { actor });
      return reply.code(201).send({ apiKey: key, ...apiKeyOut(created) });
    },
  );

  app.get(
    '/domains/:domain/services/:service/api-keys',
    {
      schema: {
        summary: 'List the API keys of a service, newest first (never the keys themselves)',
        description: 'Paginated: follow `nextCursor` until it is null.',
        tags: ['api-keys'],
        security,
        params: serviceParams,
        querystring: pageQuerystring('API keys'),
        response: { 200: pageSchema('apiKeys', apiKeySchema), ...errorResponses },
      },
    },
    async (request) => {
      const { principal } = target(request);
      if (!(await store.getService(principal))) throw notFound(`service "${principal}" does not exist`);
      const list = `api-keys ${principal}`;
      const { limit, after } = readPage(request.query, list, [timeKey, textKey(new RegExp(API_KEY_ID_PATTERN))]);
      const page = { limit: limit + 1, after: after && { createdAt: after[0] as number, id: after[1] as string } };
      const { items, nextCursor } = pageOf(await store.listApiKeys(principal, page), limit, list, (key) => [key.createdAt, key.id]);
      return { apiKeys: items.map(apiKeyOut), nextCursor };
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
      const { id } = request.params;
      await store.revokeApiKey(principal, id, { actor });
      return reply.code(204).send();
    },
  );
}
