// /admin/v1 audit: the whole log for system admins (GET /audit), and a domain's timeline for its
// admins (GET /domains/{d}/audit): the changes made to the domain, its roles and members, its
// services and their credentials, each with who made it, when, and what it was before and after.

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import { authorize } from '../authz.ts';
import type { AuditEvent, AuditQuery } from '../../storage/records.ts';
import type { Store } from '../../storage/store.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses, pageOf, pageQuerystring, pageSchema, readPage, requireName, timeKey } from '../wire.ts';

const security = [{ bearerAuth: [] }];
/**
 * Audit events read from the store at a time: 10 first, then up to 100. Events written before
 * their size was bounded may hold megabytes each.
 */
const AUDIT_FIRST_READ = 10;
const AUDIT_READ = 100;
/** Characters of `before` and `after` after which a page of the audit log ends early (its nextCursor goes on). */
export const AUDIT_PAGE_CHARS = 4 * 1024 * 1024;

const eventSchema = {
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
} as const;

export function auditRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf } = deps;

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
      const { items, nextCursor } = await auditPage(store, filter, list, limit, after);
      return { events: items.map(auditOut), nextCursor };
    },
  );

  app.get(
    '/domains/:domain/audit',
    {
      schema: {
        summary: "A domain's timeline: the changes to it, its roles and members, its services and their credentials, newest first",
        tags: ['audit'],
        security,
        description:
          'For admins of the domain. `target` narrows it to one service (`<d>.<s>`), one role (`<d>:role.<r>`) or the domain itself; ' +
          '`type` to one kind of change. Paginated as GET /audit.',
        params: { type: 'object', properties: { domain: { type: 'string', maxLength: 256 } }, required: ['domain'] },
        querystring: pageQuerystring('events', undefined, {
          target: { type: 'string', maxLength: 512 },
          type: { type: 'string', maxLength: 64 },
          since: { type: 'string', format: 'date-time' },
        }),
        response: { 200: pageSchema('events', eventSchema), ...errorResponses },
      },
    },
    async (request) => {
      const domain = requireName('domain', request.params.domain);
      authorize(callerOf(request), domain);
      const { query } = request;
      const list = `audit ${domain} ${JSON.stringify([query.target, query.type, query.since])}`;
      const { limit, after } = readPage(query, list, [timeKey, timeKey]);
      const filter = { domain, target: query.target, type: query.type, since: query.since === undefined ? undefined : Date.parse(query.since) };
      const { items, nextCursor } = await auditPage(store, filter, list, limit, after);
      return { events: items.map(auditOut), nextCursor };
    },
  );
}

/** An audit event as the API answers it: `at` as an ISO 8601 time. */
export function auditOut(event: AuditEvent): Omit<AuditEvent, 'at'> & { at: string } {
  return { ...event, at: new Date(event.at).toISOString() };
}

/**
 * One page of audit events matching `filter`, newest first, after the cursor's key. Reads
 * AUDIT_READ rows at a time, and ends the page early once it holds AUDIT_PAGE_CHARS of events: a
 * page of large events (older ones may name thousands of role members) stays a few MB.
 */
export async function auditPage(
  store: Pick<Store, 'queryAudit'>,
  filter: Omit<AuditQuery, 'limit' | 'after'>,
  list: string,
  limit: number,
  after: (string | number)[] | undefined,
): Promise<{ items: AuditEvent[]; nextCursor: string | null }> {
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
  return cut ? pageOf([...rows, rows.at(-1)!], rows.length, list, keyOf) : pageOf(rows, limit, list, keyOf);
}
