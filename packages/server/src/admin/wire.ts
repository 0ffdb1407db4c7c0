// Records as the admin API shows them (times as ISO 8601), the JSON schemas that describe them,
// and readers for the inputs every route shares. The schemas serialise responses and feed
// /openapi.json, so each shape is written once.

import { createHash } from 'node:crypto';
import { cidrProblem } from '../policy/ip-ranges.ts';
import { describeNameRule, isDomainName, isPrincipalName, isRoleName, isServiceName } from '../policy/names.ts';
import type { Domain, PendingChange, Role, RoleMember, Service } from '../storage/records.ts';
import { badRequest } from './errors.ts';

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

export const domainOut = (d: Domain) => ({
  name: d.name,
  description: d.description,
  tokenMaxLifetime: d.tokenMaxLifetime,
  approvalRequiredRoles: d.approvalRequiredRoles,
  createdAt: iso(d.createdAt),
  updatedAt: iso(d.updatedAt),
});

export const serviceOut = (s: Service) => ({
  principal: s.principal,
  domain: s.domain,
  name: s.name,
  clientId: s.clientId,
  description: s.description,
  accountId: s.accountId,
  status: s.status,
  allowedIps: s.allowedIps,
  expiresAt: isoOrNull(s.expiresAt),
  createdAt: iso(s.createdAt),
  updatedAt: iso(s.updatedAt),
});

/** A member as the admin API shows it: reviewBy null when none is set. */
export const memberOut = (m: RoleMember) => ({ principal: m.principal, expiresAt: isoOrNull(m.expiresAt), reviewBy: isoOrNull(m.reviewBy ?? null) });

export const roleOut = (r: Role) => ({
  domain: r.domain,
  name: r.name,
  fullName: `${r.domain}:role.${r.name}`,
  members: r.members.map(memberOut),
  tokenMaxLifetime: r.tokenMaxLifetime,
  actors: r.actors,
  impersonators: r.impersonators,
  idTokenSubjects: r.idTokenSubjects,
  createdAt: iso(r.createdAt),
  updatedAt: iso(r.updatedAt),
});

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const nullableInt = { type: ['integer', 'null'], description: 'seconds; null when no limit is set' } as const;
const dateTime = { type: ['string', 'null'], format: 'date-time' } as const;
const reviewByText = 'ISO 8601 date-time when the membership is due for review (in the future when written), or null for none; it still grants after it';

export const schemas = {
  error: { type: 'object', properties: { error: str, message: str }, required: ['error', 'message'] },
  domain: {
    type: 'object',
    properties: {
      name: str,
      description: nullableStr,
      tokenMaxLifetime: nullableInt,
      approvalRequiredRoles: {
        type: 'array',
        items: str,
        description: 'roles whose member changes made through the admin API wait for a second admin of the domain to approve them',
      },
      createdAt: str,
      updatedAt: str,
    },
  },
  service: {
    type: 'object',
    properties: {
      principal: str,
      domain: str,
      name: str,
      clientId: str,
      description: nullableStr,
      accountId: { type: ['string', 'null'], description: 'set on accounts made through /auth/admin/service-accounts' },
      status: { type: 'string', enum: ['ACTIVE', 'DISABLED'] },
      allowedIps: { type: 'array', items: str },
      expiresAt: nullableStr,
      createdAt: str,
      updatedAt: str,
    },
  },
  role: {
    type: 'object',
    properties: {
      domain: str,
      name: str,
      fullName: str,
      members: { type: 'array', items: { type: 'object', properties: { principal: str, expiresAt: nullableStr, reviewBy: nullableStr } } },
      tokenMaxLifetime: nullableInt,
      actors: {
        type: 'array',
        items: str,
        description: 'principals that may act for a member (token exchange, proxy_for_principal): their tokens carry the role with an act claim naming them',
      },
      impersonators: {
        type: 'array',
        items: str,
        description: 'principals that may impersonate a member when they ask for it (impersonation=true): tokens without act',
      },
      idTokenSubjects: {
        type: 'boolean',
        description: "whether its actors may get its tokens for a member by exchanging the member's ID token (subject_token_type id_token)",
      },
      createdAt: str,
      updatedAt: str,
    },
  },
  description: { type: ['string', 'null'], maxLength: 1024 },
  expiresAt: { ...dateTime, description: 'ISO 8601 date-time, or null for never' },
  allowedIps: { type: 'array', maxItems: 100, items: { type: 'string', maxLength: 64 }, description: 'CIDR blocks, IPv4 or IPv6' },
  member: {
    type: 'object',
    additionalProperties: false,
    required: ['principal'],
    properties: { principal: { type: 'string', maxLength: 256 }, expiresAt: dateTime, reviewBy: { ...dateTime, description: reviewByText } },
  },
  reviewBy: { ...dateTime, description: reviewByText },
  reason: { type: 'string', maxLength: 500, description: 'why the change is made: recorded in its audit event (at most 500 characters)' },
  pendingChange: {
    type: 'object',
    properties: {
      id: str,
      domain: str,
      role: nullableStr,
      kind: str,
      change: {
        description:
          'the request as given: its path parameters and body (a role PUT adds `basis`, fingerprints of the parts of the role it replaces, as they stood)',
      },
      requestedBy: str,
      requestedAt: str,
      expiresAt: str,
      status: { type: 'string', enum: ['pending', 'approved', 'rejected', 'failed'] },
      decidedBy: nullableStr,
      decidedAt: nullableStr,
      outcome: { type: ['string', 'null'], description: "a rejection's reason, or why applying the change failed" },
    },
  },
} as const;

export const pendingChangeOut = (c: PendingChange) => ({
  id: c.id,
  domain: c.domain,
  role: c.role,
  kind: c.kind,
  change: c.change,
  requestedBy: c.requestedBy,
  requestedAt: iso(c.requestedAt),
  expiresAt: iso(c.expiresAt),
  status: c.status,
  decidedBy: c.decidedBy,
  decidedAt: isoOrNull(c.decidedAt),
  outcome: c.outcome,
});

/** Paginated lists: entries per page when `?limit=` is absent, and the most it may ask for. */
export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** A list's `?limit=`: 1 to MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT when absent. */
export function readPageLimit(text: string | undefined, fallback = DEFAULT_PAGE_LIMIT): number {
  if (text === undefined) return fallback;
  const limit = /^[0-9]{1,4}$/.test(text) ? Number(text) : Number.NaN;
  if (!(limit >= 1 && limit <= MAX_PAGE_LIMIT)) {
    throw badRequest(`limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}, not "${text.slice(0, 20)}"`);
  }
  return limit;
}

/**
 * Where a page of a list ends: the sort key of its last entry (times in ms, names, ids), the
 * store's keyset query starts after it.
 */
export type PageKey = readonly (string | number)[];
/** What each part of a list's key must be, checked when a cursor is read back. */
export type KeyShape = readonly ((part: unknown) => boolean)[];

export const timeKey = (part: unknown): boolean => typeof part === 'number' && Number.isSafeInteger(part) && part >= 0;
export const textKey =
  (pattern: RegExp) =>
  (part: unknown): boolean =>
    typeof part === 'string' && pattern.test(part);
export const nameKey =
  (kind: NameKind) =>
  (part: unknown): boolean =>
    typeof part === 'string' && CHECKS[kind](part);

/**
 * A cursor names its list (`list`: the route and what narrows it, such as the domain or a filter)
 * by a short hash, so that a cursor of another list, or of the same list in another domain, is
 * refused rather than read as a position in this one.
 */
const listTag = (list: string): string => createHash('sha256').update(list).digest('base64url').slice(0, 12);

/**
 * One page of `rows`, which were read with `limit + 1` so the extra row tells whether a next page
 * exists; `nextCursor` is opaque to clients and read back by readPage with the same `list`.
 */
export function pageOf<T>(rows: readonly T[], limit: number, list: string, key: (row: T) => PageKey): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  if (rows.length <= limit || last === undefined) return { items, nextCursor: null };
  return { items, nextCursor: Buffer.from(JSON.stringify([listTag(list), ...key(last)])).toString('base64url') };
}

/** A list request's `?limit=` and `?cursor=`: the page size, and the key the page starts after (undefined: the start). */
export function readPage(
  query: { limit?: string; cursor?: string },
  list: string,
  shape: KeyShape,
  defaultLimit = DEFAULT_PAGE_LIMIT,
): { limit: number; after: (string | number)[] | undefined } {
  const limit = readPageLimit(query.limit, defaultLimit);
  if (query.cursor === undefined) return { limit, after: undefined };
  const parts = cursorParts(query.cursor);
  const [tag, ...key] = parts ?? [];
  if (tag !== listTag(list) || key.length !== shape.length || !shape.every((fits, i) => fits(key[i]))) {
    throw badRequest('cursor is not one this list gave out; pass the nextCursor of the previous page unchanged, or leave it out to start over');
  }
  return { limit, after: key as (string | number)[] };
}

function cursorParts(cursor: string): unknown[] | null {
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(cursor)) return null;
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    return Array.isArray(parts) ? parts : null;
  } catch {
    return null;
  }
}

/** The `?limit=` and `?cursor=` of a list's querystring schema; `what` names its entries. */
export function pageParameters(what: string, defaultLimit = DEFAULT_PAGE_LIMIT) {
  return {
    limit: { type: 'string', maxLength: 16, description: `${what} per page, 1 to ${MAX_PAGE_LIMIT} (default ${defaultLimit})` },
    cursor: { type: 'string', maxLength: 1024, description: 'nextCursor of the previous page, unchanged; absent for the first page' },
  } as const;
}

/** A list's querystring schema: limit, cursor and `extra` parameters. */
export function pageQuerystring<const P extends object = Record<never, never>>(what: string, defaultLimit = DEFAULT_PAGE_LIMIT, extra?: P) {
  // Object.assign, not a spread: its type keeps `extra`'s properties, so the handler's request.query has them (http/route-types.ts).
  const properties = Object.assign(pageParameters(what, defaultLimit), extra);
  return { type: 'object', additionalProperties: false, properties } as const;
}

export const nextCursorSchema = { type: ['string', 'null'], description: 'pass as ?cursor= for the next page; null on the last page' } as const;

/** A list answer's schema: the entries under `name`, then nextCursor. */
export function pageSchema(name: string, item: object) {
  return { type: 'object', properties: { [name]: { type: 'array', items: item }, nextCursor: nextCursorSchema } } as const;
}

/** Responses every admin route can give besides its success. */
export const errorResponses = { '4xx': schemas.error, '5xx': schemas.error } as const;

type NameKind = 'domain' | 'service' | 'role' | 'principal';
const CHECKS: Record<NameKind, (name: string) => boolean> = {
  domain: isDomainName,
  service: isServiceName,
  role: isRoleName,
  principal: isPrincipalName,
};

export function requireName(kind: NameKind, value: string): string {
  if (!CHECKS[kind](value)) throw badRequest(`"${value.slice(0, 80)}" is not a valid ${kind} name: ${describeNameRule(kind)}`);
  return value;
}

export function readExpiry(value: string | null | undefined, field = 'expiresAt'): number | null | undefined {
  if (value === undefined || value === null) return value;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw badRequest(`${field} must be an ISO 8601 date-time such as 2030-01-01T00:00:00Z`);
  return ms;
}

/** A review date as written: in the future (400 otherwise); null or undefined for none. */
export function readReviewBy(value: string | null | undefined, now: number): number | null {
  const ms = readExpiry(value, 'reviewBy');
  if (ms === undefined || ms === null) return null;
  if (ms <= now) throw badRequest(`reviewBy must be in the future, not ${new Date(ms).toISOString()}`);
  return ms;
}

export function readAllowedIps(values: string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  for (const cidr of values) {
    const problem = cidrProblem(cidr);
    if (problem) throw badRequest(`allowedIps: ${problem}; use CIDR blocks such as 10.0.1.0/24 or 2001:db8::/32`);
  }
  return values;
}
