// /admin/v1 system resources: signing-key rotation and the audit log. System admins only.

import type { FastifyInstance } from 'fastify';
import { authorize } from '../authz.ts';
import { badRequest } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses } from '../wire.ts';

const MAX_AUDIT_LIMIT = 1000;
const security = [{ bearerAuth: [] }];

export function systemRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  const { store, callerOf, signingKeys } = deps;

  app.post(
    '/signing-keys/rotate',
    {
      schema: {
        summary: 'Start a signing-key rotation',
        description: 'Publishes a new key now; it starts signing after the pre-publication window, so verifiers that cache the JWKS never see a token signed by a key they do not know.',
        tags: ['keys'],
        security,
        response: { 202: { type: 'object', properties: { kid: { type: 'string' }, activatesAt: { type: 'string' }, created: { type: 'boolean' } } }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      authorize(caller);
      const next = await signingKeys.rotate(caller.principal);
      return reply.code(202).send({ kid: next.kid, activatesAt: new Date(next.activatesAt).toISOString(), created: next.created });
    },
  );

  app.get(
    '/signing-keys',
    {
      schema: {
        summary: 'List the signing keys and their rotation state',
        tags: ['keys'],
        security,
        response: {
          200: {
            type: 'object',
            properties: {
              keys: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { kid: { type: 'string' }, alg: { type: 'string' }, state: { type: 'string' }, activatesAt: { type: 'string' }, retiredAt: { type: ['string', 'null'] }, removeAt: { type: ['string', 'null'] } },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      authorize(callerOf(request));
      const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
      const keys = await store.listSigningKeys();
      return { keys: keys.map((k) => ({ kid: k.kid, alg: k.alg, state: k.state, activatesAt: iso(k.activatesAt), retiredAt: iso(k.retiredAt), removeAt: iso(k.removeAt) })) };
    },
  );

  app.get(
    '/audit',
    {
      schema: {
        summary: 'Audit events, newest first',
        tags: ['audit'],
        security,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            principal: { type: 'string', maxLength: 256 },
            type: { type: 'string', maxLength: 64 },
            since: { type: 'string', format: 'date-time' },
            limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              events: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { id: { type: 'integer' }, at: { type: 'string' }, actor: { type: 'string' }, type: { type: 'string' }, target: { type: 'string' }, before: {}, after: {} },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      authorize(callerOf(request));
      const query = request.query as { principal?: string; type?: string; since?: string; limit?: string };
      const limit = query.limit === undefined ? 100 : Number(query.limit);
      if (limit < 1 || limit > MAX_AUDIT_LIMIT) throw badRequest(`limit must be between 1 and ${MAX_AUDIT_LIMIT}`);
      const events = await store.queryAudit({
        principal: query.principal,
        type: query.type,
        since: query.since === undefined ? undefined : Date.parse(query.since),
        limit,
      });
      return { events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) };
    },
  );
}
