// Turns what a caller asks for into the scope string sent to the server and the part of the cache
// key that identifies it. Equivalent requests share one cache entry: item order and repeats do
// not matter, and the short form `<d>:<r>` is the same item as `<d>:role.<r>` (docs/tokens.md, Scopes). The
// audience is the set of domains in the scope, so the scope set fixes it too.

import type { AccessTokenRequest } from './options.ts';

/** A validated request: what to send and how to find it in the cache. */
export interface NormalizedRequest {
  /** The scope parameter sent: the items sorted, without repeats. */
  scope: string;
  expiresIn: number | undefined;
  /** Identifies the request within one principal and binding. */
  key: string;
}

/** Validates a request (TypeError saying what to fix) and normalizes it. */
export function normalizeRequest(request: AccessTokenRequest): NormalizedRequest {
  if (request === null || typeof request !== 'object') {
    throw new TypeError('getAccessToken needs { scope } or { domain, roles? }');
  }
  const expiresIn = request.expiresIn;
  if (expiresIn !== undefined && !(Number.isSafeInteger(expiresIn) && expiresIn > 0)) {
    throw new TypeError(`expiresIn must be a positive whole number of seconds, not ${String(expiresIn)}`);
  }
  const items = 'scope' in request ? scopeItems(request) : domainItems(request);
  const sorted = [...new Set(items)].sort();
  const canonical = [...new Set(sorted.map(canonicalItem))].sort();
  return { scope: sorted.join(' '), expiresIn, key: `${canonical.join(' ')}\n${expiresIn ?? ''}` };
}

function scopeItems(request: { scope: string; domain?: unknown }): string[] {
  if ('domain' in request) throw new TypeError('give either scope or domain, not both');
  if (typeof request.scope !== 'string') throw new TypeError('scope must be a string of space-separated items');
  const items = request.scope.split(/\s+/).filter((item) => item !== '');
  if (items.length === 0) throw new TypeError('scope is empty: name at least one item, e.g. "beta:domain"');
  return items;
}

function domainItems(request: { domain?: unknown; roles?: unknown }): string[] {
  const { domain, roles } = request;
  if (typeof domain !== 'string' || !/^[^\s:]+$/.test(domain)) {
    throw new TypeError('domain must be a domain name such as "beta" (no spaces or colons)');
  }
  if (roles === undefined) return [`${domain}:domain`];
  if (!Array.isArray(roles) || roles.length === 0) throw new TypeError('roles must be a non-empty array of role names, or left out for every role');
  return roles.map((role: unknown) => {
    if (typeof role !== 'string' || !/^[^\s:]+$/.test(role))
      throw new TypeError(`role names must be non-empty and hold no spaces or colons: ${JSON.stringify(role)}`);
    return `${domain}:role.${role}`;
  });
}

function canonicalItem(item: string): string {
  const colon = item.indexOf(':');
  if (colon < 0) return item;
  const name = item.slice(colon + 1);
  if (name === 'domain' || name.startsWith('role.') || name.startsWith('service.')) return item;
  return `${item.slice(0, colon)}:role.${name}`;
}
