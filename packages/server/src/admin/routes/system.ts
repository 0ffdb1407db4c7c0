// /admin/v1 system resources: signing keys and their next rotation, the token endpoints' rates
// (issued, refused by code, per hour) and the storage's health. System admins only.

import type { FastifyInstance } from 'fastify';
import { HOUR_MS } from '../../guards/token-callers.ts';
import { ISSUED } from '../../guards/token-rates.ts';
import type { SchemaTypes } from '../../http/route-types.ts';
import type { TokenRateEndpoint } from '../../storage/records.ts';
import { authorize } from '../authz.ts';
import { badRequest } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses } from '../wire.ts';

/** The token rates' period when `since` is absent. */
export const DEFAULT_TOKEN_RATES_PERIOD_MS = 86_400_000;

const security = [{ bearerAuth: [] }];
const ENDPOINTS: readonly TokenRateEndpoint[] = ['token', 'introspect', 'revoke'];

interface RatePoint {
  at: string;
  issued: number;
  refused: number;
  refusals: Record<string, number>;
}

export function systemRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf, signingKeys, now, storage } = deps;

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
        description:
          '`nextRotationAt`: when the scheduler will next create a key (`signing.rotationInterval` after the active key, or the waiting ' +
          'key, activated, less the pre-publication window); a time in the past is due at the next check.',
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
              nextRotationAt: { type: ['string', 'null'], description: 'when the next key will be created; null when none is scheduled' },
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
        nextRotationAt: iso(signingKeys.nextRotationAt(keys)),
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

  app.get(
    '/system/token-rates',
    {
      schema: {
        summary: 'Tokens issued and requests refused per hour, with the refusals by error code',
        description:
          'Counted from the token audit as it is written: `issued` are the tokens the token endpoint handed out (reused ones included); ' +
          '`refused` the requests the token, introspection and revocation endpoints refused, before authentication (a wrong secret, ' +
          'the address limit) or after it (a scope not held, the client limit), with `refusals` by error code. Hours with none are ' +
          'left out. Kept for `audit.retention.callers`.',
        tags: ['system'],
        security,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'string', format: 'date-time', description: 'start of the period, rounded down to the hour (default: 24 hours ago)' },
            endpoint: { type: 'string', enum: ENDPOINTS, description: 'only this endpoint (default: all three)' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              since: { type: 'string' },
              bucket: { type: 'string', enum: ['hour'] },
              points: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    at: { type: 'string', description: "the hour's start" },
                    issued: { type: 'integer' },
                    refused: { type: 'integer' },
                    refusals: { type: 'object', additionalProperties: { type: 'integer' }, description: 'refused requests by error code' },
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
      const text = request.query.since;
      const ms = text === undefined ? now() - DEFAULT_TOKEN_RATES_PERIOD_MS : Date.parse(text);
      if (Number.isNaN(ms)) throw badRequest('since must be an ISO 8601 date-time such as 2030-01-01T00:00:00Z');
      if (ms > now()) throw badRequest('since is in the future; give a time in the past, or leave it out for the last 24 hours');
      const start = Math.floor(ms / HOUR_MS) * HOUR_MS;
      const points = new Map<number, RatePoint>();
      for (const rate of await store.tokenRates(start)) {
        if (request.query.endpoint !== undefined && rate.endpoint !== request.query.endpoint) continue;
        let point = points.get(rate.hour);
        if (point === undefined) {
          point = { at: new Date(rate.hour).toISOString(), issued: 0, refused: 0, refusals: {} };
          points.set(rate.hour, point);
        }
        if (rate.outcome === ISSUED) {
          point.issued += rate.count;
        } else {
          point.refused += rate.count;
          point.refusals[rate.outcome] = (point.refusals[rate.outcome] ?? 0) + rate.count;
        }
      }
      return { since: new Date(start).toISOString(), bucket: 'hour' as const, points: [...points.values()] };
    },
  );

  app.get(
    '/system/storage',
    {
      schema: {
        summary: 'The storage backend and whether it answers now',
        description:
          'What `/readyz` checks, asked now: whether storage answers a ping (within a second) and how long it took, whether the ' +
          'signing keys are loaded, and what keeps the instance from being ready. `location` names the database without credentials.',
        tags: ['system'],
        security,
        response: {
          200: {
            type: 'object',
            properties: {
              backend: { type: 'string', enum: ['sqlite', 'postgres'] },
              location: { type: 'string', description: "the SQLite file, or PostgreSQL's host, port and database (never the user or password)" },
              answers: { type: 'boolean', description: 'storage answered the ping' },
              pingMs: { type: 'number' },
              ready: { type: 'boolean', description: 'what /readyz would answer: 200 when true, 503 when false' },
              problems: { type: 'array', items: { type: 'string' } },
              checkedAt: { type: 'string' },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      authorize(callerOf(request));
      const checked = await storage.readiness(request.log);
      return {
        backend: storage.backend,
        location: storage.location,
        answers: checked.storageAnswers,
        pingMs: checked.pingMs,
        ready: checked.ready,
        problems: checked.problems,
        checkedAt: new Date(now()).toISOString(),
      };
    },
  );
}
