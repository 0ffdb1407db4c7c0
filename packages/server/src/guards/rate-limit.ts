// Token-endpoint rate limits (AUTH_106, RFC 6585 §4): a token bucket per source IP
// and one per client. A request spends one token from each bucket that applies; a bucket holds
// at most `burst` tokens and refills at `rate` per second.
//
// The two buckets are spent at different moments because they protect different things. The
// address bucket is spent before authentication: it holds back a flood from one source,
// failures included, before each request costs a secret check. The client bucket is keyed by
// the authenticated principal and spent after authentication, so only requests that proved
// they are the client count against it. Keyed by the claimed client id before authentication,
// it would let a stranger lock any client out (429) by naming it with a wrong secret.
//
// When the client limit refuses, the address token that request spent stays spent. By then
// the request has cost the authentication the address bucket rations, so counting it against
// its source is right; and the client is told to wait by Retry-After, which an honest client
// obeys, so it does not go on draining its address.
//
// An address is counted by policy/ip-ranges.ts addressKey: an IPv6 caller by its /64, which one
// host commonly holds whole, so rotating through it does not buy a fresh bucket per address.
//
// The buckets live in this process's memory: with several instances behind a load balancer,
// each instance allows the configured rate, so the fleet allows up to N times as much. A limit
// shared through the store is a later issue. The worker processes of one `tessera serve` each
// enforce a share of the budget instead (guards/worker-share.ts), and their 429s name the
// configured budget (`announced`), which the caller never gets more of.

import { OAuthError } from '../oauth2/errors.ts';
import type { ClientEndpoint, TokenGate } from '../oauth2/client-guard.ts';
import { addressKey } from '../policy/ip-ranges.ts';
import { MAX_IP_LENGTH, clip } from './caller-text.ts';
import { RecentKeys } from './recent-keys.ts';

export interface BucketLimit {
  /** Tokens per second; 0 turns the limit off. */
  rate: number;
  /** Largest number of tokens a bucket holds: how many requests may come back to back. */
  burst: number;
}

export type LimitKind = 'client' | 'ip';

/** Enough for every live client of a large deployment; beyond it the idlest bucket is dropped. */
export const DEFAULT_MAX_TRACKED_KEYS = 50_000;

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class TokenBuckets {
  readonly #limit: BucketLimit;
  readonly #buckets: RecentKeys<Bucket>;

  constructor(limit: BucketLimit, options: { maxKeys?: number } = {}) {
    if (!(limit.rate > 0) || !(limit.burst >= 1)) {
      throw new RangeError(`a token bucket needs rate > 0 and burst >= 1, got rate ${limit.rate} and burst ${limit.burst}`);
    }
    this.#limit = limit;
    // A bucket left alone this long is full again, exactly as if it had never been seen.
    const idleMs = Math.ceil((limit.burst / limit.rate) * 1000);
    this.#buckets = new RecentKeys({ maxKeys: options.maxKeys ?? DEFAULT_MAX_TRACKED_KEYS, idleMs });
  }

  get trackedKeys(): number {
    return this.#buckets.size;
  }

  get limit(): BucketLimit {
    return this.#limit;
  }

  /** Spends one of `key`'s tokens and answers 0, or spends nothing and answers the milliseconds until one is there. */
  take(key: string, now: number): number {
    const { rate, burst } = this.#limit;
    const bucket = this.#buckets.touch(key, now, () => ({ tokens: burst, updatedAt: now }));
    const elapsed = Math.max(0, now - bucket.updatedAt);
    bucket.tokens = Math.min(burst, bucket.tokens + (elapsed * rate) / 1000);
    bucket.updatedAt = Math.max(bucket.updatedAt, now);
    if (bucket.tokens < 1) return Math.ceil(((1 - bucket.tokens) * 1000) / rate);
    bucket.tokens -= 1;
    return 0;
  }
}

export interface RateLimitGate extends Required<TokenGate> {
  /** Buckets held in memory, per kind (for the memory-bound test and debugging). */
  readonly trackedKeys: Record<LimitKind, number>;
}

export interface RateLimitOptions {
  maxKeys?: number;
  /** Told of each refused request and which limit refused it (for metrics). */
  onLimited?: (kind: LimitKind) => void;
  /** The limits a 429 names, when `limits` is this worker's share of them; default `limits`. */
  announced?: Record<LimitKind, BucketLimit>;
}

/** Null when both limits are off (rate 0), so the token path pays nothing for them. */
export function createRateLimitGate(limits: Record<LimitKind, BucketLimit>, options: RateLimitOptions = {}): RateLimitGate | null {
  const client = limits.client.rate > 0 ? new TokenBuckets(limits.client, options) : null;
  const ip = limits.ip.rate > 0 ? new TokenBuckets(limits.ip, options) : null;
  if (!client && !ip) return null;
  const announced = options.announced ?? limits;
  return {
    get trackedKeys() {
      return { client: client?.trackedKeys ?? 0, ip: ip?.trackedKeys ?? 0 };
    },
    beforeAuthentication({ clientIp, now }) {
      const key = addressKey(clientIp);
      const waitMs = ip?.take(key, now) ?? 0;
      if (waitMs === 0) return;
      options.onLimited?.('ip');
      throw rateLimited(`${key.includes('/') ? 'addresses in' : 'address'} ${clip(key, MAX_IP_LENGTH)}`, announced.ip, waitMs);
    },
    // A proven client has a budget per endpoint: a resource server's introspections do not
    // spend the tokens it may ask for. The address budget above is one for all of them, which is
    // what bounds guessing.
    afterAuthentication({ principal, endpoint, now }) {
      const waitMs = client?.take(endpoint === 'token' ? principal : `${endpoint} ${principal}`, now) ?? 0;
      if (waitMs === 0) return;
      options.onLimited?.('client');
      const what = endpoint === 'token' ? 'client' : `${endpoint} requests of client`;
      throw rateLimited(`${what} ${JSON.stringify(principal)}`, announced.client, waitMs, endpoint);
    },
  };
}

function rateLimited(subject: string, limit: BucketLimit, waitMs: number, endpoint?: ClientEndpoint): OAuthError {
  // RFC 9110 §10.2.3: Retry-After in whole seconds, rounded up so a caller that obeys it succeeds.
  const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
  return new OAuthError(
    429,
    'rate_limited',
    `too many requests for ${subject} (at most ${limit.rate} per second, bursts of ${limit.burst}); retry after ${retryAfter} s${endpoint === 'token' ? ', or reuse the token you have until it nears expiry' : ''}`,
    { errorCode: 'AUTH_106', headers: { 'retry-after': String(retryAfter) } },
  );
}
