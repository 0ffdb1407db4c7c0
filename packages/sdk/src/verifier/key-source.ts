// Where the issuer's keys come from: its discovery document (when no jwksUri is configured)
// and its JWKS, fetched and cached by jose's createRemoteJWKSet (refetch on an unknown `kid` at
// most once per cooldown). Three additions around jose:
// - stale on error: when a refetch fails, the last good key set keeps verifying for a bounded
//   time, so a short outage of the issuer does not take every resource server down with it;
// - failure cooldown: after a failed fetch, no new fetch for `cooldown`, so a flood of tokens
//   with unknown `kid`s cannot turn an outage into a request storm against the issuer;
// - the issuer's Cache-Control max-age caps the cache age: Tessera publishes a new key for at
//   least its JWKS max-age before signing with it, so a verifier that refetches by then knows the
//   key before the first token it signs, whatever the unknown-`kid` cooldown.
// Header parameters that name keys (`jku`, `x5u`, `jwk`, `x5c`) are never looked at: keys come
// only from the configured issuer.

import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  jwksCache,
  type ExportedJWKSCache,
  type JSONWebKeySet,
  type JWKSCacheInput,
  type JWTVerifyGetKey,
} from 'jose';
import { VerifierUnavailableError } from './errors.ts';
import { requireUrl, type FetchLike, type ResolvedOptions } from './options.ts';

/** How long past its cache age a key set keeps verifying while the issuer cannot be reached. */
const STALE_LIMIT_MS = 3600_000;

/** An issuer's max-age shorter than this (0, say) is taken as this: tokens sent in a flood must not each cost a fetch. */
const MIN_ISSUER_MAX_AGE_MS = 1000;

export interface IssuerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
}

export interface KeySource {
  /** A jose key resolver; throws VerifierUnavailableError when no usable key set can be had. */
  resolve: JWTVerifyGetKey;
  /** The issuer's discovery document, fetched once. */
  metadata(): Promise<IssuerMetadata>;
  /**
   * The public key(s) published under `kid` in the key set last fetched (kty and key members, as
   * a JWK thumbprint covers them), '' when none: compared before a cached token is used again.
   */
  publishedKey(kid: string): string;
}

export function createKeySource(options: ResolvedOptions, fetchImpl: FetchLike | null): KeySource {
  const discovery = singleFlight(options.cooldownMs, () => fetchMetadata(options.issuer, fetchImpl));
  const cache: Partial<ExportedJWKSCache> = {};
  let remote: ReturnType<typeof createRemoteJWKSet> | null = null;
  let stale: { uat: number; resolve: ReturnType<typeof createLocalJWKSet> } | null = null;
  let failedAt = -Infinity;
  let failure: unknown = null;
  /** From the last JWKS answer's Cache-Control; jose keeps the set for options.cacheMaxAgeMs otherwise. */
  let issuerMaxAgeMs = Infinity;
  /** publishedKey's index of `cache.jwks`, rebuilt when jose stores a new set. */
  let index: { jwks: unknown; byKid: Map<string, string> } = { jwks: undefined, byKid: new Map() };

  const fetchJwks: FetchLike = async (url, init) => {
    const response = await (fetchImpl ?? fetch)(url, init);
    if (response.status === 200) issuerMaxAgeMs = Math.max(MIN_ISSUER_MAX_AGE_MS, maxAgeMs(response.headers.get('cache-control')));
    return response;
  };

  const remoteKeys = async (): Promise<ReturnType<typeof createRemoteJWKSet>> => {
    if (remote) return remote;
    const jwksUri = options.jwksUri ?? (await discoveredJwksUri(discovery.get));
    remote ??= createRemoteJWKSet(new URL(jwksUri), {
      cooldownDuration: options.cooldownMs,
      cacheMaxAge: options.cacheMaxAgeMs,
      [jwksCache]: cache as JWKSCacheInput,
      [customFetch]: fetchJwks,
    });
    return remote;
  };

  /** jose's own check only knows options.cacheMaxAgeMs; a shorter max-age from the issuer wins. */
  const fromKeys = (
    keys: ReturnType<typeof createRemoteJWKSet>,
    header: Parameters<JWTVerifyGetKey>[0],
    token: Parameters<JWTVerifyGetKey>[1],
  ): ReturnType<JWTVerifyGetKey> => {
    const expired = cache.uat !== undefined && Date.now() - cache.uat >= issuerMaxAgeMs;
    const resolved = expired ? keys.reload().then(() => keys(header, token)) : keys(header, token);
    return resolved.catch((error: unknown) => afterFailure(error, header, token));
  };

  const fromStale: JWTVerifyGetKey = (header, token) => {
    const { uat, jwks } = cache;
    if (uat === undefined || jwks === undefined || Date.now() - uat > options.cacheMaxAgeMs + STALE_LIMIT_MS) {
      throw unavailable("the issuer's keys (JWKS) could not be fetched", failure);
    }
    if (stale?.uat !== uat) stale = { uat, resolve: createLocalJWKSet(jwks as JSONWebKeySet) };
    return stale.resolve(header, token);
  };

  const afterFailure = (error: unknown, header: Parameters<JWTVerifyGetKey>[0], token: Parameters<JWTVerifyGetKey>[1]): ReturnType<JWTVerifyGetKey> => {
    if (isKeySelectionError(error)) throw error;
    failedAt = Date.now();
    failure = error;
    return fromStale(header, token);
  };

  return {
    metadata: discovery.get,
    publishedKey(kid) {
      if (index.jwks !== cache.jwks) index = { jwks: cache.jwks, byKid: keysByKid(cache.jwks) };
      return index.byKid.get(kid) ?? '';
    },
    resolve(header, token) {
      // The common case stays one promise deep: keys fetched, no recent failure.
      if (remote && Date.now() - failedAt >= options.cooldownMs) return fromKeys(remote, header, token);
      return remoteKeys().then((keys) => {
        if (Date.now() - failedAt < options.cooldownMs) return fromStale(header, token);
        return fromKeys(keys, header, token);
      });
    },
  };
}

/** kid → its keys' members (sorted, so the key set's order does not matter). */
function keysByKid(jwks: unknown): Map<string, string> {
  const grouped = new Map<string, string[]>();
  const keys = (jwks as { keys?: unknown } | undefined)?.keys;
  for (const jwk of Array.isArray(keys) ? (keys as Record<string, unknown>[]) : []) {
    if (typeof jwk?.['kid'] !== 'string') continue;
    const members = JSON.stringify(['kty', 'crv', 'x', 'y', 'n', 'e'].map((name) => jwk[name] ?? null));
    grouped.set(jwk['kid'], [...(grouped.get(jwk['kid']) ?? []), members]);
  }
  return new Map([...grouped].map(([kid, members]) => [kid, members.sort().join(' ')]));
}

/** `max-age` of a Cache-Control header in ms; Infinity when it has none (no limit of the issuer's). */
function maxAgeMs(cacheControl: string | null): number {
  const seconds = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)/i.exec(cacheControl ?? '')?.[1];
  return seconds === undefined ? Infinity : Number(seconds) * 1000;
}

/** Errors about which key a token names, as opposed to failures to fetch the key set. */
function isKeySelectionError(error: unknown): boolean {
  return error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys || error instanceof errors.JOSENotSupported;
}

async function discoveredJwksUri(metadata: () => Promise<IssuerMetadata>): Promise<string> {
  const { jwks_uri: jwksUri } = await metadata();
  if (typeof jwksUri !== 'string') throw unavailable('the issuer\'s discovery document has no "jwks_uri"; configure jwksUri', null);
  try {
    return requireUrl(jwksUri, 'jwks_uri');
  } catch (error) {
    throw unavailable(`the issuer's discovery document names an unusable jwks_uri`, error);
  }
}

async function fetchMetadata(issuer: string, fetchImpl: FetchLike | null): Promise<IssuerMetadata> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let body: unknown;
  try {
    const res = await (fetchImpl ?? fetch)(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(5000),
    });
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
    body = await res.json();
  } catch (error) {
    throw unavailable(`the issuer's discovery document (${url}) could not be fetched`, error);
  }
  const metadata = body as Partial<IssuerMetadata> | null;
  // RFC 8414 §3.3: a document naming another issuer must not be used, or its keys would be trusted.
  if (typeof metadata !== 'object' || metadata === null || metadata.issuer !== issuer) {
    throw unavailable(`the discovery document at ${url} names issuer ${JSON.stringify(metadata?.issuer)}, not ${JSON.stringify(issuer)}`, null);
  }
  return metadata as IssuerMetadata;
}

function unavailable(what: string, cause: unknown): VerifierUnavailableError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new VerifierUnavailableError(`${what}${detail}; try again later`, { cause });
}

/**
 * One load at a time; a success is kept, a failure is answered again without a new load until
 * `cooldownMs` has passed. No timers, so an idle verifier never keeps a process alive.
 */
export function singleFlight<T>(cooldownMs: number, load: () => Promise<T>): { get: () => Promise<T> } {
  let current: Promise<T> | null = null;
  let failedAt: number | null = null;
  return {
    get() {
      if (current && (failedAt === null || Date.now() - failedAt < cooldownMs)) return current;
      failedAt = null;
      const attempt = load();
      current = attempt;
      attempt.catch(() => {
        if (current === attempt) failedAt = Date.now();
      });
      return attempt;
    },
  };
}
