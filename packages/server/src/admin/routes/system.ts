// /admin/v1 system resources: signing-key rotation and the audit log. System admins only.

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import { authorize } from '../authz.ts';
import type { AuditEvent } from '../../storage/records.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses, pageOf, pageQuerystring, pageSchema, readPage, timeKey } from '../wire.ts';

const security = [{ bearerAuth: [] }];
/**
 * Audit events read from the store at a time: 10 first, then up to 100. Events written before
 * their size was bounded may hold megabytes each.
 */
const AUDIT_FIRST_READ = 10;
const AUDIT_READ = 100;
/** Characters of `before` and `after` after which a page of the audit log ends early (its nextCursor goes on). */
export const AUDIT_PAGE_CHARS = 4 * 1024 * 1024;

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

  app.get(
    '/audit',
    {
      schema: {
        summary: 'Audit events, newest first',
        tags: ['audit'],
        security,
        description:
          'Paginated: follow `nextCursor` until it is null; `since` and the filters stay as on the first page. ' +
          'A page ends before `limit` once its events hold about 4 MB.',
        querystring: pageQuerystring('events', undefined, {
          principal: { type: 'string', maxLength: 256 },
          type: { type: 'string', maxLength: 64 },
          since: { type: 'string', format: 'date-time' },
        }),
        response: {
          200: pageSchema('events', {
            type: 'object',
            properties: {
              id: { type: 'integer' },
              at: { type: 'string' },
              actor: { type: 'string' },
              type: { type: 'string' },
              target: { type: 'string' },
              before: {},
              after: {},
            },
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      authorize(callerOf(request));
      const { query } = request;
      const list = `audit ${JSON.stringify([query.principal, query.type, query.since])}`;
      const { limit, after } = readPage(query, list, [timeKey, timeKey]);
      const filter = { principal: query.principal, type: query.type, since: query.since === undefined ? undefined : Date.parse(query.since) };
      // Read AUDIT_READ rows at a time, and end the page early once it holds AUDIT_PAGE_CHARS of
      // events: a page of large events (older ones may name thousands of role members) stays a few MB.
      const rows: AuditEvent[] = [];
      let chars = 0;
      let from = after && { at: after[0] as number, id: after[1] as number };
      let cut = false;
      // The first read is small; the next ones hold as many events as the largest so far leaves room for.
      let largest = 0;
      let batch = AUDIT_FIRST_READ;
      for (;;) {
        const want = Math.min(batch, limit + 1 - rows.length);
        const read = await store.queryAudit({ ...filter, limit: want, after: from });
        for (const row of read) {
          rows.push(row);
          const size = JSON.stringify(row.before ?? null).length + JSON.stringify(row.after ?? null).length;
          chars += size;
          largest = Math.max(largest, size);
          if (chars >= AUDIT_PAGE_CHARS && rows.length <= limit) {
            cut = true;
            break;
          }
        }
        const last = rows.at(-1);
        if (cut || read.length < want || rows.length > limit || last === undefined) break;
        from = { at: last.at, id: last.id };
        batch = Math.max(1, Math.min(AUDIT_READ, Math.ceil((AUDIT_PAGE_CHARS - chars) / Math.max(largest, 1))));
      }
      const keyOf = (event: AuditEvent): [number, number] => [event.at, event.id];
      // Cut: the page ends with the last event read, and its cursor goes on from there.
      const { items, nextCursor } = cut ? pageOf([...rows, rows.at(-1)!], rows.length, list, keyOf) : pageOf(rows, limit, list, keyOf);
      return { events: items.map((e) => ({ ...e, at: new Date(e.at).toISOString() })), nextCursor };
    },
  );
}
