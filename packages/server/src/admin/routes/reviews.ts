// /admin/v1/reviews: memberships due for review (past their reviewBy, which still grants) or
// expiring, across every domain the caller administers, and the bulk action on them: extend
// (a new review date, optionally a new expiry) or remove.

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import type { AuditNote, ReviewAction, ReviewItem } from '../../storage/records.ts';
import { approvalRequiredRoles, requestApproval } from '../approval-gate.ts';
import { SYSTEM_DOMAIN, authorize, type AdminCaller } from '../authz.ts';
import { badRequest, forbidden } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses, nameKey, pageOf, pageQuerystring, pageSchema, readExpiry, readPage, readReviewBy, requireName, schemas, timeKey } from '../wire.ts';
import type { Applied } from './roles.ts';

/** The window of GET /reviews when `within` is absent: 14 days. */
const DEFAULT_WITHIN = 14 * 24 * 60 * 60;
/** The longest window: ten years. */
const MAX_WITHIN = 10 * 365 * 24 * 60 * 60;
/** Items one bulk action may carry. */
export const MAX_REVIEW_ITEMS = 1000;

const security = [{ bearerAuth: [] }];
const nullableDate = { type: ['string', 'null'] } as const;
const dueSchema = {
  type: 'object',
  properties: {
    domain: { type: 'string' },
    role: { type: 'string' },
    principal: { type: 'string' },
    expiresAt: nullableDate,
    reviewBy: nullableDate,
    reason: {
      type: 'array',
      items: { type: 'string', enum: ['review-due', 'expiring'] },
      description: '`review-due`: reviewBy is within the window (or past); `expiring`: expiresAt is (or past: it grants nothing any more)',
    },
  },
} as const;
const itemSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['domain', 'role', 'principal'],
  properties: { domain: { type: 'string', maxLength: 256 }, role: { type: 'string', maxLength: 256 }, principal: { type: 'string', maxLength: 256 } },
} as const;

export interface ReviewsBody {
  items: ReviewItem[];
  action: 'extend' | 'remove';
  reviewBy?: string | null;
  expiresAt?: string | null;
  reason?: string;
}

/** The items (names checked, each membership once) and the action of a bulk review request. */
function readReviews(body: ReviewsBody, now: number): { items: ReviewItem[]; action: ReviewAction } {
  const items = body.items.map((item) => ({
    domain: requireName('domain', item.domain),
    role: requireName('role', item.role),
    principal: requireName('principal', item.principal),
  }));
  if (new Set(items.map((item) => `${item.domain}:${item.role}:${item.principal}`)).size !== items.length) {
    throw badRequest('items: each membership (domain, role, principal) may appear once');
  }
  if (body.action === 'remove') {
    if (body.reviewBy !== undefined || body.expiresAt !== undefined) throw badRequest('reviewBy and expiresAt go with action "extend" only');
    return { items, action: { kind: 'remove' } };
  }
  const reviewBy = readReviewBy(body.reviewBy, now);
  if (reviewBy === null) throw badRequest('action "extend" needs reviewBy: the next review date, in the future');
  const expiresAt = readExpiry(body.expiresAt);
  return { items, action: { kind: 'extend', reviewBy, ...(expiresAt === undefined ? {} : { expiresAt }) } };
}

/** A bulk review action as requested (the items of one domain, for one approved by a second admin): checked against the state now and applied. */
export async function applyReviewsChange(deps: AdminRouteDeps, change: { body: ReviewsBody }, actor: string, note: AuditNote): Promise<Applied> {
  const now = deps.now();
  const { items, action } = readReviews(change.body, now);
  const result = await deps.store.applyReviews(items, action, { actor }, note);
  return { status: 200, body: { ...result, pending: [] } };
}

/** 403 naming every domain of `domains` the caller does not administer (none changes). */
function authorizeAll(caller: AdminCaller, domains: Iterable<string>): void {
  const refused = [...new Set(domains)].filter((domain) => {
    try {
      authorize(caller, domain);
      return false;
    } catch {
      return true;
    }
  });
  if (refused.length > 0) {
    throw forbidden(`${caller.principal} does not administer ${refused.sort().join(', ')}; nothing was changed (every item's domain needs its admin)`);
  }
}

export function reviewRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf, now } = deps;

  app.get(
    '/reviews',
    {
      schema: {
        summary: 'Memberships due for review or expiring, in the domains the caller administers',
        description:
          'A membership is listed when its reviewBy or its expiresAt is within `within` seconds from now (default 14 days), or past; ' +
          'earliest first (the earlier of the two dates). Paginated: follow `nextCursor` until it is null.',
        tags: ['reviews'],
        security,
        querystring: pageQuerystring('memberships', undefined, {
          within: { type: 'string', maxLength: 16, description: `seconds from now, 0 to ${MAX_WITHIN} (default ${DEFAULT_WITHIN}: 14 days)` },
        }),
        response: { 200: pageSchema('memberships', dueSchema), ...errorResponses },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const within = readWithin(request.query.within);
      const list = `reviews ${within}`;
      const { limit, after } = readPage(request.query, list, [timeKey, nameKey('domain'), nameKey('role'), nameKey('principal')]);
      const until = now() + within * 1000;
      const domains = caller.isSystemAdmin ? undefined : [...caller.adminOf].filter((domain) => domain !== SYSTEM_DOMAIN);
      const rows = await store.listDueMemberships({
        ...(domains === undefined ? {} : { domains }),
        until,
        limit: limit + 1,
        ...(after === undefined
          ? {}
          : { after: { dueAt: after[0] as number, domain: after[1] as string, role: after[2] as string, principal: after[3] as string } }),
      });
      const { items, nextCursor } = pageOf(rows, limit, list, (row) => [row.dueAt, row.domain, row.role, row.principal]);
      const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
      return {
        memberships: items.map((row) => ({
          domain: row.domain,
          role: row.role,
          principal: row.principal,
          expiresAt: iso(row.expiresAt),
          reviewBy: iso(row.reviewBy),
          reason: [
            ...(row.reviewBy !== null && row.reviewBy <= until ? ['review-due'] : []),
            ...(row.expiresAt !== null && row.expiresAt <= until ? ['expiring'] : []),
          ],
        })),
        nextCursor,
      };
    },
  );

  app.post(
    '/reviews',
    {
      bodyLimit: MAX_REVIEW_ITEMS * 900 + 4096,
      schema: {
        summary: 'Extend or remove memberships after review',
        description:
          `1 to ${MAX_REVIEW_ITEMS} memberships, each once; the caller must administer every item's domain (checked for all first). ` +
          '`extend` sets reviewBy (required, in the future) and, when given, expiresAt (null: never); `remove` removes the memberships. ' +
          'Every membership must exist. Items of roles that need a second admin (approvalRequiredRoles) are held, per domain, as one ' +
          'pending change of all that domain’s items (202, under `pending`); the others are applied together, all or none, ' +
          'with one audit event per domain (`review.extend` or `review.remove`).',
        tags: ['reviews'],
        security,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['items', 'action'],
          properties: {
            items: { type: 'array', minItems: 1, maxItems: MAX_REVIEW_ITEMS, items: itemSchema },
            action: { type: 'string', enum: ['extend', 'remove'] },
            reviewBy: schemas.reviewBy,
            expiresAt: schemas.expiresAt,
            reason: schemas.reason,
          },
        },
        response: {
          '2xx': {
            type: 'object',
            properties: {
              changed: { type: 'integer', description: 'memberships extended or removed now' },
              joinTokensVoided: { type: 'integer' },
              pending: { type: 'array', items: schemas.pendingChange, description: 'changes waiting for a second admin, one per domain' },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const body = request.body;
      const { items } = readReviews(body, now());
      authorizeAll(
        caller,
        items.map((item) => item.domain),
      );
      const held = new Map<string, ReviewItem[]>();
      const direct: ReviewItem[] = [];
      const gated = new Map<string, ReadonlySet<string>>();
      for (const item of items) {
        if (!gated.has(item.domain)) gated.set(item.domain, await approvalRequiredRoles(store, item.domain));
      }
      for (const domain of gated.keys()) {
        const ofDomain = items.filter((item) => item.domain === domain);
        if (ofDomain.some((item) => gated.get(domain)!.has(item.role))) held.set(domain, ofDomain);
        else direct.push(...ofDomain);
      }
      const note = body.reason === undefined ? {} : { reason: body.reason };
      const result = direct.length > 0 ? ((await applyReviewsChange(deps, { body: { ...body, items: direct } }, caller.principal, note)).body as object) : {};
      const pending = [];
      for (const [domain, ofDomain] of held) {
        const roles = new Set(ofDomain.map((item) => item.role));
        const change = { body: { ...body, items: ofDomain } };
        const role = roles.size === 1 ? [...roles][0]! : null;
        pending.push(await requestApproval(deps, caller.principal, { kind: 'reviews', domain, role, change, reason: body.reason }));
      }
      return reply.code(pending.length > 0 ? 202 : 200).send({ changed: 0, joinTokensVoided: 0, ...result, pending });
    },
  );
}

function readWithin(text: string | undefined): number {
  if (text === undefined) return DEFAULT_WITHIN;
  const within = /^[0-9]{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(within >= 0 && within <= MAX_WITHIN)) throw badRequest(`within must be a whole number of seconds from 0 to ${MAX_WITHIN}, not "${text.slice(0, 20)}"`);
  return within;
}
