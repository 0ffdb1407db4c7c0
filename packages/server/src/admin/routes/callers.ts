// /admin/v1/domains/{domain}/callers: who calls whom. Which principals obtained tokens for the
// domain, with which roles, through which actor (token exchange, proxy_for_principal), how many
// and when first and last in the period; and how many per hour, for a chart. Read from the hourly
// sums the token audit's writer keeps (guards/token-callers.ts), never from the audit rows, so a
// busy domain's answer costs one index range of those sums. Counts cover tokens handed out,
// reused ones included; they reach the sums with the audit's batches, within about a second.

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import { HOUR_MS } from '../../guards/token-callers.ts';
import { badRequest, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses, nameKey, pageOf, pageQuerystring, pageSchema, readPage, requireName, textKey } from '../wire.ts';

/** The period when `since` is absent. */
export const DEFAULT_CALLERS_PERIOD_MS = 30 * 86_400_000;

const security = [{ bearerAuth: [] }];
const domainParams = { type: 'object', properties: { domain: { type: 'string', maxLength: 256 } }, required: ['domain'] } as const;
const since = { type: 'string', format: 'date-time', description: 'start of the period, rounded down to the hour (default: 30 days ago)' } as const;

const caller = {
  type: 'object',
  properties: {
    principal: { type: 'string', description: 'the token subject' },
    actor: {
      type: ['string', 'null'],
      description: 'the client that got the token for the subject (token exchange, proxy_for_principal); null when the subject asked itself',
    },
    roles: { type: 'array', items: { type: 'string' }, description: 'the roles granted in this domain' },
    count: { type: 'integer', description: 'tokens handed out in the period (reused ones included)' },
    firstSeen: { type: 'string', description: 'the first in the period' },
    lastSeen: { type: 'string', description: 'the last in the period' },
  },
} as const;

// Cursor parts: principal, actor ('' for none), roles (space-separated role names).
const actorKey = (part: unknown): boolean => part === '' || nameKey('principal')(part);
const rolesKey = textKey(/^[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*$/);

export function callerRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, now } = deps;

  /** The period's start: `since` rounded down to its hour, at most as old as what is kept. */
  const periodStart = (text: string | undefined): number => {
    const ms = text === undefined ? now() - DEFAULT_CALLERS_PERIOD_MS : Date.parse(text);
    if (Number.isNaN(ms)) throw badRequest('since must be an ISO 8601 date-time such as 2030-01-01T00:00:00Z');
    if (ms > now()) throw badRequest('since is in the future; give a time in the past, or leave it out for the last 30 days');
    return Math.floor(ms / HOUR_MS) * HOUR_MS;
  };
  const existing = async (domain: string): Promise<string> => {
    if (!(await store.getDomain(requireName('domain', domain)))) throw notFound(`domain "${domain}" does not exist`);
    return domain;
  };

  app.get(
    '/domains/:domain/callers',
    {
      schema: {
        summary: 'Who calls this domain: the principals that obtained tokens for it',
        description:
          'One entry per principal, actor and set of roles, with the tokens it obtained in the period and when first and last, ' +
          'by principal. Paginated: follow `nextCursor` until it is null, with the same `since`.',
        tags: ['callers'],
        security,
        params: domainParams,
        querystring: pageQuerystring('callers', undefined, { since }),
        response: {
          200: { ...pageSchema('callers', caller), properties: { ...pageSchema('callers', caller).properties, since: { type: 'string' } } },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const domain = await existing(request.params.domain);
      const start = periodStart(request.query.since);
      const list = `callers ${domain} ${start}`;
      const { limit, after } = readPage(request.query, list, [nameKey('principal'), actorKey, rolesKey]);
      const rows = await store.listCallers({ domain, since: start, limit: limit + 1, ...(after && { after: after as [string, string, string] }) });
      const { items, nextCursor } = pageOf(rows, limit, list, (row) => [row.principal, row.actor, row.roles]);
      return {
        since: new Date(start).toISOString(),
        callers: items.map((row) => ({
          principal: row.principal,
          actor: row.actor === '' ? null : row.actor,
          roles: row.roles === '' ? [] : row.roles.split(' '),
          count: row.count,
          firstSeen: new Date(row.firstAt).toISOString(),
          lastSeen: new Date(row.lastAt).toISOString(),
        })),
        nextCursor,
      };
    },
  );

  app.get(
    '/domains/:domain/callers/series',
    {
      schema: {
        summary: 'Tokens obtained for this domain per hour',
        description: 'Hours with no token are left out. `principal` narrows it to the tokens of one subject.',
        tags: ['callers'],
        security,
        params: domainParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since, principal: { type: 'string', maxLength: 256 } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              since: { type: 'string' },
              bucket: { type: 'string', enum: ['hour'] },
              points: { type: 'array', items: { type: 'object', properties: { at: { type: 'string' }, count: { type: 'integer' } } } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const domain = await existing(request.params.domain);
      const start = periodStart(request.query.since);
      const principal = request.query.principal === undefined ? undefined : requireName('principal', request.query.principal);
      const points = await store.callerSeries({ domain, since: start, ...(principal !== undefined && { principal }) });
      return {
        since: new Date(start).toISOString(),
        bucket: 'hour' as const,
        points: points.map((point) => ({ at: new Date(point.hour).toISOString(), count: point.count })),
      };
    },
  );
}
