// Server-side token reuse (off by default; `tokenReuse.enabled`). A client that asks again
// for exactly what it just got — same principal, same granted scope and audience, same
// lifetime, same ID-token audience, same certificate binding — within `window` seconds gets
// the token it already holds instead of a fresh signature. An answer with an ID token (`openid`)
// is never reused: the ID token can be revoked by its own jti, and the cache would hand it out again.
//
// The trade-off, and why it is safe enough to offer:
// - Everything that decides *whether* a token may be issued still runs on every request: client
//   authentication, status, expiry and allowedIps, rate limits, and role resolution. Only the
//   signature is skipped, and the key includes the granted scope, so a changed grant (a role
//   removed, a membership expired) never matches an older token. A token ends no later than the
//   first membership behind its roles, nor than the certificate it is bound to; a hit that would
//   now outlive either (a membership's end was brought forward since) is not handed out, and a
//   fresh token is signed instead (grants/client_credentials.ts).
// - The key names the service record, not only the principal: a service deleted and registered
//   again under the same name (its `createdAt`), or one that has lost a registered key since
//   (`keyRemovedAt`), never gets a token signed before, which acceptance would refuse
//   (accept-token.ts) and whose other holder may be the one the change was meant to shut out.
// - The reused token carries its original `iat`, `exp` and `jti`; `expires_in` counts down the
//   time it really has left, so client caches stay correct.
// - Revoking the token (RFC 7009) revokes it for every request that received it — they are all
//   the same client. A hit is checked against the revocation list before it is handed out.
// - The cache is per instance and bounded; several instances each sign once per window.

import type { Service } from '../storage/records.ts';
import type { GrantResponse } from './grants/client_credentials.ts';

export interface ReusableToken {
  response: GrantResponse;
  jti: string;
  /** Milliseconds since the epoch. */
  issuedAt: number;
  expiresAt: number;
}

export interface TokenReuseCache {
  find(key: string, now: number): ReusableToken | undefined;
  remember(key: string, token: ReusableToken): void;
}

export const MAX_REUSABLE_TOKENS = 10_000;

export function createTokenReuseCache(windowSeconds: number, maxEntries = MAX_REUSABLE_TOKENS): TokenReuseCache {
  const entries = new Map<string, ReusableToken>();
  const windowMs = windowSeconds * 1000;
  return {
    find(key, now) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (now - entry.issuedAt > windowMs || now >= entry.expiresAt) {
        entries.delete(key);
        return undefined;
      }
      return entry;
    },
    remember(key, token) {
      entries.delete(key);
      entries.set(key, token);
      // Map keeps insertion order: the first key is the oldest entry.
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    },
  };
}

export interface ReuseKeyParts {
  /** The service record the token is issued to, not only its name (see the top of this file). */
  service: Pick<Service, 'principal' | 'createdAt' | 'keyRemovedAt'>;
  scope: string;
  audience: string | string[];
  lifetime: number;
  idTokenAudience?: string;
  binding?: string;
}

export function reuseKey(parts: ReuseKeyParts): string {
  const { principal, createdAt, keyRemovedAt } = parts.service;
  const { scope, audience, lifetime, idTokenAudience, binding } = parts;
  const request = [scope, audience, lifetime, idTokenAudience ?? '', binding ?? ''];
  return JSON.stringify([principal, createdAt, keyRemovedAt, ...request]);
}
