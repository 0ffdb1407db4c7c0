// The token client: an in-memory cache of access tokens kept fresh in the background, after
// Athenz's ZTSClient. A cached token is handed out only while at least a quarter of its life
// remains (so a resource server with some clock skew still accepts it); tokens in use are
// refreshed at about half-life, jittered so a fleet started together does not refresh together;
// concurrent misses share one request; a refresh that fails for a passing reason leaves the
// still-valid token in service, and one the server refuses stops the refreshing.

import { bundleRefreshSeconds } from '../http/trust-bundle.ts';
import type { ClientProver, Identity } from './credentials.ts';
import { createClientProver } from './credentials.ts';
import { checkEndpoints, endpointResolver } from './discovery.ts';
import { TokenClientError } from './errors.ts';
import { callerToken } from '../verifier/presented.ts';
import { createExchangeCache } from './exchange.ts';
import type { AccessTokenRequest, GetAccessTokenOptions, OnBehalfOf, TokenClient, TokenClientOptions } from './options.ts';
import { retryPolicy } from './retry.ts';
import { normalizeRequest, type NormalizedRequest } from './scope.ts';
import { closedError, requestToken, type SubjectTokenType, type TokenRequestContext } from './token-request.ts';
import { fetchTransport, nodeTransport } from './transport.ts';

/** Tokens are served from the cache while this share of their life remains. */
const SERVE_WHILE_REMAINING = 1 / 4;
const REFRESH_AT = 1 / 2;
const REFRESH_JITTER = 0.1;
/** A failed background refresh is tried again no sooner than this. */
const MIN_REFRESH_RETRY_MS = 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;
const MEMO_LIMIT = 1024;

interface CachedToken {
  value: string;
  obtainedAt: number;
  expiresAt: number;
  /** From here on the token is no longer handed out fresh (less than 1/4 of its life left). */
  staleAt: number;
}

interface Resolved {
  normalized: NormalizedRequest;
  /** `prefix + normalized.key` as of `generation` (the identity it was built for). */
  entryKey: string;
  generation: number;
}

interface Entry {
  readonly key: string;
  readonly request: NormalizedRequest;
  token: CachedToken | undefined;
  /** Read since the last refresh; an entry nobody reads is left to expire instead of refreshed. */
  used: boolean;
  refreshAt: number | undefined;
  rejection: { error: TokenClientError; until: number } | undefined;
  inflight: Promise<CachedToken> | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Creates a token client for one service identity.
 *
 * @example
 * ```ts
 * const client = createTokenClient({
 *   issuer: 'https://tessera.internal:8443',
 *   credentials: { clientId: 'alpha.api', clientSecret: process.env.SECRET! },
 *   ca: await readFile('ca.pem', 'utf8'),
 * });
 * const token = await client.getAccessToken({ domain: 'beta', roles: ['readers'] });
 * ```
 */
export function createTokenClient(options: TokenClientOptions): TokenClient {
  if (options === null || typeof options !== 'object') throw new TypeError('createTokenClient needs an options object');
  const prover: ClientProver = createClientProver(options.credentials);
  if (prover.usesTls && options.fetch)
    throw new TypeError('certificate credentials need the built-in HTTPS client: remove the fetch option (a fetch cannot present a client certificate)');
  const { tokenEndpoint, issuer } = checkEndpoints(options);
  const rejectionTtlMs = options.rejectionTtlMs ?? 10_000;
  if (!Number.isFinite(rejectionTtlMs) || rejectionTtlMs < 0) throw new TypeError('rejectionTtlMs must be a number of milliseconds ≥ 0');
  const bundleRefresh = bundleRefreshSeconds(options.bundleRefresh);
  const maxOnBehalfOf = options.maxOnBehalfOf ?? 10_000;
  if (!Number.isSafeInteger(maxOnBehalfOf) || maxOnBehalfOf < 1) throw new TypeError('maxOnBehalfOf must be a whole number ≥ 1');

  const clock = options.clock ?? ((): number => Date.now());
  const aborter = new AbortController();
  const transport = options.fetch
    ? fetchTransport(options.fetch, options.requestTimeoutMs)
    : nodeTransport({ ca: options.ca, server: (issuer ?? tokenEndpoint)!, bundleRefresh, agent: options.agent, timeoutMs: options.requestTimeoutMs, clock });
  const ctx: TokenRequestContext = { transport, prover, retry: retryPolicy(options.retry), clock, signal: aborter.signal };
  const cache = new Map<string, Entry>();
  // Request → cache key, memoized so a cache hit neither re-parses the scope nor builds a new
  // key string (whose hash a Map lookup would compute again): keyed by the caller's own scope
  // string, then by expiresIn.
  const byScope = new Map<string, Map<number | undefined, Resolved>>();
  const byDomain = new Map<string, Map<number | undefined, Resolved>>();
  let memoSize = 0;
  let generation = 0;
  let closed = false;
  let identity: Identity = prover.identity();
  let prefix = keyPrefix(identity);

  const endpoint = endpointResolver(ctx, tokenEndpoint, issuer);
  const resolveEndpoint = (): Promise<string> => endpoint.get();

  const resolve = (request: AccessTokenRequest): Resolved => {
    const name = memoName(request);
    if (name === undefined) {
      const normalized = normalizeRequest(request);
      return { normalized, entryKey: prefix + normalized.key, generation };
    }
    const outer = name.byScope ? byScope : byDomain;
    let inner = outer.get(name.key);
    let resolved = inner?.get(request.expiresIn);
    if (resolved === undefined) {
      const normalized = normalizeRequest(request);
      if (memoSize >= MEMO_LIMIT) {
        byScope.clear();
        byDomain.clear();
        memoSize = 0;
        inner = undefined;
      }
      if (inner === undefined) outer.set(name.key, (inner = new Map()));
      resolved = { normalized, entryKey: prefix + normalized.key, generation };
      inner.set(request.expiresIn, resolved);
      memoSize++;
    } else if (resolved.generation !== generation) {
      resolved.entryKey = prefix + resolved.normalized.key;
      resolved.generation = generation;
    }
    return resolved;
  };

  // Tokens acting for callers: the exchange client's cache, over this client's transport and credentials.
  const exchanges = createExchangeCache({ ctx, endpoint: resolveEndpoint, rejectionTtlMs, maxEntries: maxOnBehalfOf });

  const report = (error: unknown, entry: Entry): void => {
    if (closed || !(error instanceof TokenClientError)) return;
    try {
      options.onRefreshError?.(error, entry.request.scope);
    } catch {
      // A throwing listener must not break the refresh loop.
    }
  };

  /** Sets the one timer of an entry: its next refresh, or its eviction once nothing is left to serve. */
  const plan = (entry: Entry): void => {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (closed || cache.get(entry.key) !== entry || entry.inflight) return;
    const now = clock();
    const holdUntil = Math.max(entry.token?.expiresAt ?? 0, entry.rejection?.until ?? 0);
    if (holdUntil <= now) {
      cache.delete(entry.key);
      return;
    }
    const wakeAt = entry.refreshAt === undefined ? holdUntil : Math.min(entry.refreshAt, holdUntil);
    entry.timer = setTimeout(() => wake(entry), Math.min(MAX_TIMER_MS, Math.max(0, wakeAt - now)));
  };

  const wake = (entry: Entry): void => {
    entry.timer = undefined;
    if (closed) return;
    if (entry.refreshAt !== undefined && clock() >= entry.refreshAt) {
      entry.refreshAt = undefined;
      if (entry.used && entry.token && !entry.rejection) {
        refreshInBackground(entry);
        return;
      }
    }
    plan(entry);
  };

  /** Single flight: one request per entry at a time, shared by everyone who needs it. */
  const fetchInto = (entry: Entry): Promise<CachedToken> => {
    if (entry.inflight) return entry.inflight;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    const run = async (): Promise<CachedToken> => {
      const url = await resolveEndpoint();
      const sentAt = clock();
      // Measured from when the request left, so the cache never believes a token lives longer than it does.
      const response = await requestToken(ctx, url, entry.request.scope, entry.request.expiresIn);
      const lifetime = response.expiresIn * 1000;
      return { value: response.accessToken, obtainedAt: sentAt, expiresAt: sentAt + lifetime, staleAt: sentAt + lifetime * (1 - SERVE_WHILE_REMAINING) };
    };
    const settled = run().then(
      (token) => {
        entry.inflight = undefined;
        entry.token = token;
        entry.rejection = undefined;
        entry.used = false;
        const lifetime = token.expiresAt - token.obtainedAt;
        entry.refreshAt = token.obtainedAt + lifetime * REFRESH_AT * (1 + (Math.random() * 2 - 1) * REFRESH_JITTER);
        plan(entry);
        return token;
      },
      (error: unknown) => {
        entry.inflight = undefined;
        const now = clock();
        entry.refreshAt = undefined;
        if (error instanceof TokenClientError && error.rejected) {
          entry.rejection = { error, until: now + rejectionTtlMs };
        } else if (entry.token && now < entry.token.staleAt) {
          entry.refreshAt = now + Math.max(MIN_REFRESH_RETRY_MS, (entry.token.staleAt - now) / 2);
        }
        plan(entry);
        throw error;
      },
    );
    entry.inflight = settled;
    return settled;
  };

  const refreshInBackground = (entry: Entry): void => {
    fetchInto(entry).catch((error: unknown) => report(error, entry));
  };

  const slowPath = async (entry: Entry, now: number, options: GetAccessTokenOptions | undefined): Promise<string> => {
    const refused = options?.rejectedToken;
    const current = entry.token;
    if (options?.forceRefresh && refused !== undefined && current && current.value !== refused && now < current.expiresAt) {
      entry.used = true;
      return current.value;
    }
    if (entry.rejection && now < entry.rejection.until) throw entry.rejection.error;
    try {
      const token = await fetchInto(entry);
      entry.used = true;
      return token.value;
    } catch (error) {
      // Stale-on-error: a passing failure is no reason to drop a token that is still valid.
      const stale = entry.token;
      const passing = error instanceof TokenClientError && !error.rejected && error.code !== 'ERR_CLIENT_CLOSED';
      if (passing && stale && clock() < stale.expiresAt && stale.value !== refused) {
        entry.used = true;
        return stale.value;
      }
      throw error;
    }
  };

  /** A new certificate means new bindings: drop every token and fetch again the ones still valid. */
  const rebind = (next: Identity): void => {
    identity = next;
    prefix = keyPrefix(next);
    generation++;
    const now = clock();
    const wanted: NormalizedRequest[] = [];
    for (const entry of cache.values()) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
      if (entry.token && now < entry.token.expiresAt) wanted.push(entry.request);
    }
    cache.clear();
    exchanges.clear();
    for (const request of wanted) {
      const entry = newEntry(prefix + request.key, request);
      cache.set(entry.key, entry);
      fetchInto(entry).then(
        () => (entry.used = true),
        (error: unknown) => report(error, entry),
      );
    }
  };

  const checkIdentity = (): void => {
    let next: Identity;
    try {
      next = prover.identity();
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new TokenClientError(`the credentials could not be used: ${reason}`, { code: 'ERR_CREDENTIALS_UNUSABLE', cause });
    }
    if (next.binding !== identity.binding || next.principal !== identity.principal) rebind(next);
  };

  const unwatch = prover.watch(() => {
    if (closed) return;
    try {
      checkIdentity();
    } catch (error) {
      if (error instanceof TokenClientError) options.onRefreshError?.(error, '');
    }
  });

  return {
    async getAccessToken(request, getOptions) {
      if (closed) throw closedError();
      if (prover.usesTls) checkIdentity();
      if (request !== null && typeof request === 'object' && 'onBehalfOf' in request) {
        const { onBehalfOf, ...own } = request;
        const normalized = normalizeRequest(own);
        return exchanges.exchange({ ...subjectOf(onBehalfOf), scope: normalized.scope, expiresIn: normalized.expiresIn }, getOptions);
      }
      const resolved = resolve(request);
      const entry = cache.get(resolved.entryKey);
      const now = clock();
      if (entry !== undefined && entry.token !== undefined && now <= entry.token.staleAt && getOptions?.forceRefresh !== true) {
        entry.used = true;
        // Past half-life with no refresh planned: it was idle, and is read again.
        if (entry.refreshAt === undefined && entry.rejection === undefined && entry.inflight === undefined) refreshInBackground(entry);
        return entry.token.value;
      }
      if (entry !== undefined) return slowPath(entry, now, getOptions);
      const created = newEntry(resolved.entryKey, resolved.normalized);
      cache.set(created.key, created);
      return slowPath(created, now, getOptions);
    },

    async close() {
      if (closed) return;
      closed = true;
      unwatch();
      const pending: Promise<unknown>[] = [];
      for (const entry of cache.values()) {
        clearTimeout(entry.timer);
        entry.timer = undefined;
        if (entry.inflight) pending.push(entry.inflight);
      }
      cache.clear();
      byScope.clear();
      byDomain.clear();
      pending.push(exchanges.close());
      aborter.abort(closedError());
      await Promise.allSettled(pending);
      await endpoint.settled();
      await transport.close();
    },
  };
}

/**
 * The token a request acts for: an access token given as is, an ID token given as `{ idToken }`,
 * or the one a verified caller presented (an ID token when the verifier checked ID tokens).
 */
function subjectOf(onBehalfOf: OnBehalfOf | undefined): { subjectToken: string; subjectTokenType: SubjectTokenType } {
  if (typeof onBehalfOf === 'string') return { subjectToken: onBehalfOf, subjectTokenType: 'access_token' };
  if (onBehalfOf !== null && typeof onBehalfOf === 'object' && 'idToken' in onBehalfOf) {
    if (typeof onBehalfOf.idToken !== 'string') throw new TypeError('onBehalfOf: { idToken } must hold the ID token the caller presented (a string)');
    return { subjectToken: onBehalfOf.idToken, subjectTokenType: 'id_token' };
  }
  if (onBehalfOf === null || typeof onBehalfOf !== 'object') {
    throw new TypeError(
      `onBehalfOf is ${String(onBehalfOf)}: give the caller's access token or its AuthContext, ` + 'or leave the option out to act as this service',
    );
  }
  const token = callerToken(onBehalfOf);
  if (token !== undefined) return { subjectToken: token, subjectTokenType: onBehalfOf.kind === 'id_token' ? 'id_token' : 'access_token' };
  if (onBehalfOf.kind === 'api_key') {
    throw new TypeError(
      `onBehalfOf: ${onBehalfOf.principal} called with an API key, which cannot be exchanged; ` +
        "use an exchange client's onBehalfOf({ principal, scope }) (proxy_for_principal) instead",
    );
  }
  throw new TypeError("onBehalfOf: this AuthContext was not made from an access token by this SDK's verifier; give the caller's access token instead");
}

/** Where a request is memoized; undefined for shapes only normalizeRequest should judge. */
function memoName(request: AccessTokenRequest): { byScope: boolean; key: string } | undefined {
  if (request === null || typeof request !== 'object') return undefined;
  if ('scope' in request) return typeof request.scope === 'string' && !('domain' in request) ? { byScope: true, key: request.scope } : undefined;
  const { domain, roles } = request;
  if (typeof domain !== 'string') return undefined;
  if (roles === undefined) return { byScope: false, key: domain };
  // Role names hold no whitespace, so a newline cannot make two different lists look alike.
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) return undefined;
  return { byScope: false, key: `${domain}\n${roles.join('\n')}` };
}

function newEntry(key: string, request: NormalizedRequest): Entry {
  return { key, request, token: undefined, used: false, refreshAt: undefined, rejection: undefined, inflight: undefined, timer: undefined };
}

function keyPrefix(identity: Identity): string {
  return `${identity.principal}\n${identity.binding}\n`;
}
