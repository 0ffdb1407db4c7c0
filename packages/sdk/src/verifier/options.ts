// The verifier's options and their checks. Everything here is fixed when the verifier is built:
// nothing a token says (its `alg`, `jku`, `x5u`, `jwk`, `kid`) can widen what is accepted.

import type { X509Certificate } from 'node:crypto';
import { bundleRefreshSeconds } from '../http/trust-bundle.ts';

/** A fetch implementation: the global `fetch` fits, and so does the private-CA one the verifier builds from `ca`. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Headers | Record<string, string>; body?: string; signal?: AbortSignal; redirect?: 'manual' },
) => Promise<Response>;

/** A caller's TLS certificate: DER bytes, a `node:crypto` X509Certificate, or `tls.PeerCertificate` (its `raw`). */
export type CertificateInput = Uint8Array | X509Certificate | { raw: Uint8Array };

export interface ApiKeyOptions {
  /** RFC 7662 endpoint; default: `introspection_endpoint` from the issuer's discovery document. */
  introspectionEndpoint?: string;
  /** This resource server's own client credentials (client_secret_basic). */
  clientId: string;
  clientSecret: string;
  /** How long an introspection answer is reused (seconds, default 10, at most 300). */
  cacheTtl?: number;
}

export interface VerifierOptions {
  /** The issuer URL; `iss` must equal it exactly. */
  issuer: string;
  /** JWKS URL; default: `jwks_uri` from `<issuer>/.well-known/openid-configuration`. */
  jwksUri?: string;
  /** The audience(s) this resource server answers to; `aud` must contain at least one. Required unless `anyAudience`. */
  audience?: string | readonly string[];
  /**
   * Accept a token for any audience (`aud` must still be present): for tools that inspect tokens,
   * such as `tessera verify` without `--audience`, never for a service, which would then accept
   * tokens meant for others. Goes without `audience` and `apiKeys`.
   */
  anyAudience?: boolean;
  /**
   * What is verified (default `'access_token'`): access tokens (RFC 9068: `typ` at+jwt, with
   * `client_id` and `jti`), or `'id_token'`: Tessera's ID tokens (`typ` JWT, `aud` the
   * `<domain>.<service>` they are addressed to, `iss`, `sub`, `exp` and `iat`), which grant no roles.
   */
  tokenType?: 'access_token' | 'id_token';
  /** Accepted signature algorithms (default `['ES256']`); `none` and HMAC are refused. */
  algorithms?: readonly string[];
  /** Allowed clock difference for `exp`, `nbf` and `iat` (seconds, default 30, at most 300). */
  clockSkew?: number;
  /** Least time between two JWKS fetches caused by an unknown `kid` (seconds, default 30). */
  cooldown?: number;
  /** How long a fetched JWKS is used before it is fetched again (seconds, default 600); the JWKS answer's `Cache-Control: max-age` shortens it. */
  cacheMaxAge?: number;
  /**
   * PEM trust anchors for HTTPS to the issuer (e.g. Tessera's `ca.pem`); ignored when `fetch` is
   * given. With an https issuer, the verifier also trusts Tessera's trust bundle
   * (`/ca/v1/bundle`), fetched over a connection `ca` (or the last bundle) verified, so it keeps
   * fetching keys after a CA rotation: see `bundleRefresh`.
   */
  ca?: string;
  /**
   * How often, at most, Tessera's trust bundle is fetched again when `ca` is given, in seconds
   * (default 3,600). The fetch happens in the background of a discovery, JWKS or introspection
   * request, and a failed one keeps the trust it had. Keep it well under the server's
   * `ca.prePublication` (24 h by default), the time a new CA root is published before Tessera's
   * certificate chains to it. 0 trusts `ca` alone.
   */
  bundleRefresh?: number;
  /** Custom fetch for discovery, JWKS and introspection. */
  fetch?: FetchLike;
  /** Tokens longer than this (characters) are refused before any parsing (default 8192). */
  maxTokenSize?: number;
  /** Verified tokens remembered until their `exp` (entries, default 1000; 0 turns the cache off). */
  cacheSize?: number;
  /** Accept `Authorization: ApiKey tsk_…`, checked through introspection; only keys issued for `audience` pass. */
  apiKeys?: ApiKeyOptions;
  /** Milliseconds since the epoch; for tests. */
  now?: () => number;
}

export interface ResolvedOptions {
  issuer: string;
  jwksUri: string | null;
  audience: readonly string[];
  anyAudience: boolean;
  tokenType: 'access_token' | 'id_token';
  algorithms: readonly string[];
  clockSkew: number;
  cooldownMs: number;
  cacheMaxAgeMs: number;
  fetch: FetchLike | null;
  ca: string | null;
  bundleRefresh: number;
  maxTokenSize: number;
  cacheSize: number;
  apiKeys: (Required<Omit<ApiKeyOptions, 'introspectionEndpoint'>> & { introspectionEndpoint: string | null }) | null;
  now: () => number;
}

/** Asymmetric JWS algorithms (RFC 7518, RFC 8037, RFC 9864); HMAC would let anyone holding the public key sign. */
export const SUPPORTED_ALGORITHMS: ReadonlySet<string> = new Set([
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
]);

const MAX_CLOCK_SKEW = 300;
const MAX_API_KEY_CACHE_TTL = 300;

export function resolveOptions(options: VerifierOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('createVerifier needs an options object with at least issuer and audience');
  const issuer = requireUrl(options.issuer, 'issuer');
  const anyAudience = options.anyAudience === true;
  if (options.anyAudience !== undefined && typeof options.anyAudience !== 'boolean') throw new TypeError('"anyAudience" must be true or false');
  if (anyAudience && (options.audience !== undefined || options.apiKeys)) {
    throw new TypeError('"anyAudience" accepts every audience: drop "audience" and "apiKeys", or drop "anyAudience"');
  }
  const audience = typeof options.audience === 'string' ? [options.audience] : [...(options.audience ?? [])];
  if (!anyAudience && (audience.length === 0 || audience.some((a) => typeof a !== 'string' || a === ''))) {
    throw new TypeError('"audience" must be a non-empty string or array of strings: the audience(s) this service answers to');
  }
  const tokenType = options.tokenType ?? 'access_token';
  if (tokenType !== 'access_token' && tokenType !== 'id_token')
    throw new TypeError(`"tokenType" is "access_token" or "id_token"; got ${JSON.stringify(tokenType)}`);
  const algorithms = [...(options.algorithms ?? ['ES256'])];
  if (algorithms.length === 0) throw new TypeError('"algorithms" must name at least one algorithm, e.g. ["ES256"]');
  for (const alg of algorithms) {
    if (!SUPPORTED_ALGORITHMS.has(alg)) {
      throw new TypeError(`"algorithms" may hold only asymmetric JWS algorithms (${[...SUPPORTED_ALGORITHMS].join(', ')}); "${String(alg)}" is refused`);
    }
  }
  const clockSkew = seconds(options.clockSkew, 30, 'clockSkew');
  if (clockSkew > MAX_CLOCK_SKEW) throw new TypeError(`"clockSkew" is at most ${MAX_CLOCK_SKEW} seconds; got ${clockSkew}`);
  const maxTokenSize = integer(options.maxTokenSize, 8192, 'maxTokenSize');
  if (maxTokenSize < 256) throw new TypeError('"maxTokenSize" must be at least 256 characters; an access token is rarely under 500');
  let apiKeys: ResolvedOptions['apiKeys'] = null;
  if (options.apiKeys) {
    const { clientId, clientSecret } = options.apiKeys;
    if (typeof clientId !== 'string' || clientId === '' || typeof clientSecret !== 'string' || clientSecret === '') {
      throw new TypeError('"apiKeys" needs the clientId and clientSecret this service authenticates to introspection with');
    }
    const cacheTtl = seconds(options.apiKeys.cacheTtl, 10, 'apiKeys.cacheTtl');
    if (cacheTtl > MAX_API_KEY_CACHE_TTL)
      throw new TypeError(`"apiKeys.cacheTtl" is at most ${MAX_API_KEY_CACHE_TTL} seconds, so a revoked key stops working soon`);
    const endpoint = options.apiKeys.introspectionEndpoint;
    apiKeys = {
      clientId,
      clientSecret,
      cacheTtl,
      introspectionEndpoint: endpoint === undefined ? null : requireUrl(endpoint, 'apiKeys.introspectionEndpoint'),
    };
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') throw new TypeError('"fetch" must be a function like the global fetch');
  if (options.ca !== undefined && (typeof options.ca !== 'string' || !options.ca.includes('-----BEGIN CERTIFICATE-----'))) {
    throw new TypeError('"ca" must be PEM text holding at least one "-----BEGIN CERTIFICATE-----" block');
  }
  return {
    issuer,
    jwksUri: options.jwksUri === undefined ? null : requireUrl(options.jwksUri, 'jwksUri'),
    audience,
    anyAudience,
    tokenType,
    algorithms,
    clockSkew,
    cooldownMs: seconds(options.cooldown, 30, 'cooldown') * 1000,
    cacheMaxAgeMs: seconds(options.cacheMaxAge, 600, 'cacheMaxAge') * 1000,
    fetch: options.fetch ?? null,
    ca: options.ca ?? null,
    bundleRefresh: bundleRefreshSeconds(options.bundleRefresh),
    maxTokenSize,
    cacheSize: integer(options.cacheSize, 1000, 'cacheSize'),
    apiKeys,
    now: options.now ?? Date.now,
  };
}

/**
 * https, or http to a loopback address only: keys and introspection answers fetched in the
 * clear from elsewhere could be swapped by anyone on the path.
 */
export function requireUrl(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`"${name}" must be a URL such as https://tessera.example:8443`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`"${name}" is not a valid URL: ${JSON.stringify(value)}`);
  }
  const loopback = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new TypeError(`"${name}" must use https (http is allowed only to localhost); got ${value}`);
  }
  return value;
}

function seconds(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new TypeError(`"${name}" must be a number of seconds ≥ 0; got ${String(value)}`);
  return value;
}

function integer(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`"${name}" must be a whole number ≥ 0; got ${String(value)}`);
  return value;
}
