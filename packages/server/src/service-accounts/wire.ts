// The service-account JSON dialect: service accounts as its clients see them (camelCase, times as
// ISO 8601 without milliseconds, `scopes` as `<domain>:<role>`), the JSON schemas that
// validate and document each shape, and the reader for the `scopes` a caller asks to grant.

import { badRequest } from '../admin/errors.ts';
import { isDomainName, isRoleName } from '../policy/names.ts';
import type { Membership, Service } from '../storage/records.ts';

/** `2023-09-01T10:15:00Z`, as the dialect writes times. */
export const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : isoSeconds(ms));

/** One role an account is granted: `workflow:read` is role `read` of domain `workflow`. */
export interface ScopeGrant {
  domain: string;
  role: string;
}

export const scopeOf = (grant: ScopeGrant): string => `${grant.domain}:${grant.role}`;

/**
 * Reads `<domain>:<role>` (the dialect's form) or `<domain>:role.<role>` (Athenz's); both name the
 * same role, so a role asked for twice is granted once. Anything else (`<d>:domain`, `openid`)
 * asks for more than one role or none, and is refused rather than guessed at.
 */
export function readScopes(values: readonly string[]): ScopeGrant[] {
  const grants = new Map<string, ScopeGrant>();
  for (const value of values) {
    const colon = value.indexOf(':');
    const domain = value.slice(0, Math.max(colon, 0));
    const rest = value.slice(colon + 1);
    const role = rest.startsWith('role.') ? rest.slice('role.'.length) : rest;
    if (colon <= 0 || !isDomainName(domain) || !isRoleName(role)) {
      throw badRequest(
        `scopes: "${value.slice(0, 80)}" is not "<domain>:<role>" (e.g. "workflow:read") or "<domain>:role.<role>"; ` +
          'names are lower-case letters, digits, "_" and "-", and a role may not be "domain", "openid" or start with "service."',
      );
    }
    grants.set(`${domain}:${role}`, { domain, role });
  }
  return [...grants.values()];
}

/** The roles an account holds now, in the dialect's `<domain>:<role>` form (expired memberships grant nothing). */
export function scopesHeld(memberships: readonly Membership[], now: number): string[] {
  return memberships.filter((m) => m.expiresAt === null || m.expiresAt > now).map((m) => scopeOf(m));
}

export function accountOut(service: Service, scopes: string[]) {
  return {
    serviceAccountId: service.accountId ?? '',
    name: service.name,
    description: service.description,
    principal: service.principal,
    status: service.status,
    clientId: service.clientId,
    scopes,
    allowedIps: service.allowedIps,
    createdAt: isoSeconds(service.createdAt),
    updatedAt: isoSeconds(service.updatedAt),
    expiresAt: isoOrNull(service.expiresAt),
  };
}

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const strings = { type: 'array', items: str } as const;

export const schemas = {
  error: {
    type: 'object',
    properties: { error: { ...str, description: 'an AUTH_1xx code where one applies, else a short name' }, message: str },
    required: ['error', 'message'],
  },
  account: {
    type: 'object',
    properties: {
      serviceAccountId: str,
      name: str,
      description: nullableStr,
      principal: { ...str, description: 'the Tessera principal: `<serviceAccounts.domain>.<name>`, the `sub` of its tokens' },
      status: { type: 'string', enum: ['ACTIVE', 'DISABLED'] },
      clientId: str,
      scopes: strings,
      allowedIps: strings,
      createdAt: str,
      updatedAt: str,
      expiresAt: nullableStr,
    },
  },
  created: {
    type: 'object',
    properties: {
      serviceAccountId: str,
      name: str,
      status: str,
      clientId: str,
      clientSecret: str,
      scopes: strings,
      createdAt: str,
      expiresAt: nullableStr,
      message: str,
    },
  },
  rotated: {
    type: 'object',
    properties: { serviceAccountId: str, clientId: str, clientSecret: str, previousSecretExpiresAt: str, message: str },
  },
  scopes: {
    type: 'array',
    maxItems: 100,
    items: { type: 'string', maxLength: 260 },
    description: '`<domain>:<role>` or `<domain>:role.<role>`; each becomes a role membership of the account',
  },
} as const;

export const errorResponses = { '4xx': schemas.error, '5xx': schemas.error } as const;
