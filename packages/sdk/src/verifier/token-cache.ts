// A small LRU of verified tokens, keyed by the SHA-256 of the token so the cache holds no
// bearer credential. An entry is good until its token's `exp` (judged with the same clock skew
// as a full verification, so a hit never accepts what a miss would refuse); what depends on the
// request (required scopes, the caller's certificate) is checked on every call, hit or miss.
//
// A token is admitted on its second verification, not its first (a "doorkeeper", as in
// TinyLFU): the first sighting leaves only its hash. Callers reuse a token for its whole life,
// so the hit rate barely changes, while a stream of one-off tokens no longer fills the cache
// with verified contexts that live just long enough to be expensive to collect.

import { hash } from 'node:crypto';

export interface TokenCache<V> {
  /** The key under which `token` is stored. */
  keyOf(token: string): string;
  get(key: string, nowSeconds: number): V | undefined;
  set(key: string, value: V, expiresAt: number): void;
  delete(key: string): void;
  readonly size: number;
}

export function createTokenCache<V>(maxEntries: number, clockSkew: number): TokenCache<V> {
  // A Map iterates in insertion order: deleting and re-inserting on a hit makes it an LRU.
  const entries = new Map<string, { value: V; expiresAt: number }>();
  const seen = new Set<string>();
  return {
    keyOf(token) {
      return hash('sha256', token, 'base64url');
    },
    get(key, nowSeconds) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      entries.delete(key);
      if (entry.expiresAt <= nowSeconds - clockSkew) return undefined;
      entries.set(key, entry);
      return entry.value;
    },
    set(key, value, expiresAt) {
      if (maxEntries === 0) return;
      if (!seen.delete(key)) {
        seen.add(key);
        if (seen.size > maxEntries) seen.delete(seen.values().next().value as string);
        return;
      }
      entries.delete(key);
      entries.set(key, { value, expiresAt });
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    },
    delete(key) {
      entries.delete(key);
    },
    get size() {
      return entries.size;
    },
  };
}
