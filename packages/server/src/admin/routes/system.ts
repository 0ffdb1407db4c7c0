// /admin/v1 system resources: signing keys. System admins only.

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import { authorize } from '../authz.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses } from '../wire.ts';

const security = [{ bearerAuth: [] }];

export function systemRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf, signingKeys } = deps;

  app.post(
    '/signing-keys/rotate',
    {
      schema: {
        summary: 'Start a signing-key rotation',
        description:
          'Publishes a new key now; it starts signing after the pre-publication window, so verifiers that cache the JWKS never see a token signed by a key they do not know.',
        tags: ['keys'],
        security,
        response: {
          202: { type: 'object', properties: { kid: { type: 'string' }, activatesAt: { type: 'string' }, created: { type: 'boolean' } } },
          ...errorResponses,
        },
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
                  properties: {
                    kid: { type: 'string' },
                    alg: { type: 'string' },
                    state: { type: 'string' },
                    activatesAt: { type: 'string' },
                    retiredAt: { type: ['string', 'null'] },
                    removeAt: { type: ['string', 'null'] },
                  },
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
      return {
        keys: keys.map((k) => ({
          kid: k.kid,
          alg: k.alg,
          state: k.state,
          activatesAt: iso(k.activatesAt),
          retiredAt: iso(k.retiredAt),
          removeAt: iso(k.removeAt),
        })),
      };
    },
  );
}
