// Tokens on behalf of someone else, for a service that stands between a caller and its upstream
// (a gateway, a proxy): RFC 8693 token exchange of the caller's own access token, and Athenz's
// `proxy_for_principal` on a client_credentials request for a caller that has no token to give
// (it proved itself with a certificate or an API key). Either way the new token names the caller
// as `sub` and this service as `act.sub`, and the request authenticates as this service with the
// same credentials, transport, retries and errors as the token client.
//
// Tokens are cached per (subject, scope): a cached one is handed out while at least a quarter of
// its life remains; one read past half its life is refreshed in the background (the cached one
// still served meanwhile); concurrent misses share one request; a refusal is remembered for
// `rejectionTtlMs`, so a caller without the role does not cost a request per call. With
// `maxReuseMs`, a cached token is also handed out at most that long after it was asked for: the
// next call past it waits for a fresh one (the token endpoint judges the subject's roles again):
// a refusal then is that call's refusal, while an endpoint that cannot be reached leaves the last
// judgement standing (the cached token, until its expiry), as for any other stale-on-error.

import { hash } from 'node:crypto';
import { bundleRefreshSeconds } from '../http/trust-bundle.ts';
import { createClientProver, type ClientProver } from './credentials.ts';
import { checkEndpoints, endpointResolver } from './discovery.ts';
import { TokenClientError } from './errors.ts';
import type { Credentials, GetAccessTokenOptions, TokenClientOptions } from './options.ts';
import { retryPolicy } from './retry.ts';
import { normalizeRequest } from './scope.ts';
import {
  checkGrantSubject,
  closedError,
  describeRequest,
  parseTokenResponse,
  sendTokenRequest,
  tokenRequestForm,
  type SubjectTokenType,
  type TokenGrant,
  type TokenRequestContext,
} from './token-request.ts';
import { fetchTransport, nodeTransport } from './transport.ts';

export { ACCESS_TOKEN_TYPE_URN, ID_TOKEN_TYPE_URN, TOKEN_EXCHANGE_GRANT, type SubjectTokenType } from './token-request.ts';

const SERVE_WHILE_REMAINING = 1 / 4;
const REFRESH_AT = 1 / 2;

/**
 * Configuration of {@link createExchangeClient}: the token client's connection settings
 * ({@link TokenClientOptions}, the same meaning), for the service that acts.
 */
export interface ExchangeClientOptions extends Pick<
  TokenClientOptions,
  'tokenEndpoint' | 'issuer' | 'ca' | 'bundleRefresh' | 'fetch' | 'agent' | 'clock' | 'retry' | 'requestTimeoutMs'
> {
  /** This service's own credentials: it is the actor (`act.sub`) of every token it gets. */
  credentials: Credentials;
  /** How long a refusal is answered from memory, in ms (default 5,000; 0 asks every time). */
  rejectionTtlMs?: number;
  /** Cached subjects at most (default 10,000); the oldest go first. */
  maxEntries?: number;
  /**
   * How long a cached token is handed out at most, in ms from when it was asked for, however long
   * it lives (default: no bound but the quarter rule). Past it the next call waits for a fresh
   * token (the token endpoint judges the subject's roles again). A refusal fails the call; an
   * endpoint that cannot be reached does not: the cached token is served until its expiry meanwhile.
   */
  maxReuseMs?: number;
}

/** Exchange the caller's access token (RFC 8693) for one of `scope`. */
export interface ExchangeRequest {
  /** The caller's access token (the JWT alone), or an ID token Tessera issued for this service with `subjectTokenType: 'id_token'`. */
  subjectToken: string;
  /**
   * `id_token`: `subjectToken` is an ID token whose audience is this service (the caller proved itself
   * with it); the roles asked for must allow ID-token subjects (`idTokenSubjects`). Default `access_token`.
   */
  subjectTokenType?: SubjectTokenType;
  /** Scope items of the new token, e.g. `orders:domain` or `orders:role.readers`. */
  scope: string;
  expiresIn?: number;
}

/** A token of `scope` for `principal`, who proved itself to this service without a token. */
export interface OnBehalfOfRequest {
  /** The caller's principal, `<domain>.<service>`. */
  principal: string;
  scope: string;
  expiresIn?: number;
}

export interface ExchangeClient {
  /** A token whose `sub` is the subject token's `sub` and whose `act.sub` is this service. */
  exchange(request: ExchangeRequest): Promise<string>;
  /** A token whose `sub` is `principal` and whose `act.sub` is this service (`proxy_for_principal`). */
  onBehalfOf(request: OnBehalfOfRequest): Promise<string>;
  /** Aborts requests in flight, drops the cache and closes idle sockets; later calls fail. */
  close(): Promise<void>;
}

/** Which cached token a call may not be given back (the token client's forceRefresh). */
type Freshness = Pick<GetAccessTokenOptions, 'forceRefresh' | 'rejectedToken'>;

interface Cached {
  value: string;
  obtainedAt: number;
  expiresAt: number;
  staleAt: number;
  refreshAt: number;
  /** Handed out until then at most (maxReuseMs); Infinity without a bound. */
  reuseUntil: number;
}

interface Entry {
  token: Cached | undefined;
  inflight: Promise<Cached> | undefined;
  rejection: { error: TokenClientError; until: number } | undefined;
}

type Form = Record<string, string>;

/** The cache of tokens for others: one implementation for the exchange client and the token client's `onBehalfOf`. */
export interface ExchangeCache {
  exchange(request: ExchangeRequest, freshness?: Freshness): Promise<string>;
  onBehalfOf(request: OnBehalfOfRequest, freshness?: Freshness): Promise<string>;
  /** Forgets every token (a new certificate binds new ones); requests in flight settle into nothing. */
  clear(): void;
  /** Closes it: later calls fail with ERR_CLIENT_CLOSED; resolves once requests in flight settled. */
  close(): Promise<void>;
}

export interface ExchangeCacheOptions {
  ctx: TokenRequestContext;
  /** The token endpoint, discovered once by the owner. */
  endpoint: () => Promise<string>;
  rejectionTtlMs: number;
  maxEntries: number;
  /** ExchangeClientOptions.maxReuseMs; undefined for no bound. */
  maxReuseMs?: number;
}

export function createExchangeCache(options: ExchangeCacheOptions): ExchangeCache {
  const { ctx, rejectionTtlMs, maxEntries } = options;
  const maxReuseMs = options.maxReuseMs ?? Infinity;
  const clock = ctx.clock;
  let cache = new Map<string, Entry>();
  let closed = false;

  const send = async (form: Form): Promise<Cached> => {
    const url = await options.endpoint();
    const sentAt = clock();
    const res = await sendTokenRequest(ctx, url, form, describeRequest(form, url));
    const answer = parseTokenResponse(res.response, url, res.attempts);
    const lifetime = answer.expiresIn * 1000;
    return {
      value: answer.accessToken,
      obtainedAt: sentAt,
      expiresAt: sentAt + lifetime,
      staleAt: sentAt + lifetime * (1 - SERVE_WHILE_REMAINING),
      refreshAt: sentAt + lifetime * REFRESH_AT,
      reuseUntil: sentAt + maxReuseMs,
    };
  };

  const fetchInto = (key: string, entry: Entry, form: () => Form): Promise<Cached> => {
    if (entry.inflight) return entry.inflight;
    const owner = cache;
    const pending = send(form()).then(
      (token) => {
        entry.inflight = undefined;
        entry.token = token;
        entry.rejection = undefined;
        return token;
      },
      (error: unknown) => {
        entry.inflight = undefined;
        if (error instanceof TokenClientError && error.rejected && rejectionTtlMs > 0) {
          entry.rejection = { error, until: clock() + rejectionTtlMs };
          entry.token = undefined;
        }
        if (!entry.token && !entry.rejection && owner.get(key) === entry) owner.delete(key);
        throw error;
      },
    );
    entry.inflight = pending;
    return pending;
  };

  const evict = (now: number): void => {
    for (const [key, entry] of cache) {
      if (cache.size < maxEntries) return;
      const holds = Math.max(entry.token?.expiresAt ?? 0, entry.rejection?.until ?? 0);
      if (!entry.inflight && holds <= now) cache.delete(key);
    }
    // Still full of live entries: the oldest inserted go.
    for (const key of cache.keys()) {
      if (cache.size < maxEntries) return;
      cache.delete(key);
    }
  };

  /** `form` is built only when a request is sent: a hit (nearly every call) needs the key alone. */
  const get = async (key: string, form: () => Form, freshness: Freshness | undefined): Promise<string> => {
    if (closed) throw closedError();
    const now = clock();
    let entry = cache.get(key);
    const refused = freshness?.rejectedToken;
    if (freshness?.forceRefresh === true) {
      // Another caller may have refreshed since the refused token was handed out: that one is used.
      const current = entry?.token;
      if (refused !== undefined && current && current.value !== refused && now < current.expiresAt && now < current.reuseUntil) return current.value;
    } else if (entry?.token && now <= entry.token.staleAt && now < entry.token.reuseUntil) {
      if (now >= entry.token.refreshAt && !entry.inflight) {
        fetchInto(key, entry, form).catch(() => {
          // A failed background refresh keeps the cached token until it is stale; the next read past then asks again.
        });
      }
      return entry.token.value;
    }
    if (entry?.rejection && now < entry.rejection.until) throw entry.rejection.error;
    if (!entry) {
      if (cache.size >= maxEntries) evict(now);
      entry = { token: undefined, inflight: undefined, rejection: undefined };
      cache.set(key, entry);
    }
    const stale = entry.token;
    try {
      return (await fetchInto(key, entry, form)).value;
    } catch (error) {
      // Stale-on-error: a passing failure (the endpoint unreachable or failing) is no reason to drop
      // a token that is still valid, past maxReuseMs too: no fresh judgement came, so the last one
      // stands. A refusal is a judgement, and ends it (error.rejected).
      const passing = error instanceof TokenClientError && !error.rejected && error.code !== 'ERR_CLIENT_CLOSED';
      if (passing && stale && clock() < stale.expiresAt && stale.value !== refused) {
        // Asked again one maxReuseMs later, not by every call meanwhile (each would wait for the failure).
        if (entry.token === stale) stale.reuseUntil = clock() + maxReuseMs;
        return stale.value;
      }
      throw error;
    }
  };

  const formOf = (grant: TokenGrant, request: { scope: string; expiresIn?: number }): { form: () => Form; key: string } => {
    const normalized = normalizeRequest({ scope: request.scope, expiresIn: request.expiresIn });
    return { form: () => tokenRequestForm({ ...grant, scope: normalized.scope, expiresIn: normalized.expiresIn }), key: normalized.key };
  };

  return {
    async exchange(request, freshness) {
      if (request === null || typeof request !== 'object') throw new TypeError('exchange needs { subjectToken, scope }');
      const { subjectToken, subjectTokenType = 'access_token' } = request;
      if (subjectToken === undefined) throw new TypeError("subjectToken must be the caller's access token (a non-empty string without spaces)");
      if (subjectTokenType !== 'access_token' && subjectTokenType !== 'id_token') {
        throw new TypeError(`subjectTokenType must be 'access_token' or 'id_token', not ${JSON.stringify(subjectTokenType)}`);
      }
      checkGrantSubject({ subjectToken }, { subjectToken: 'subjectToken', proxyForPrincipal: 'principal', impersonation: 'impersonation' });
      const { form, key } = formOf({ scope: '', subjectToken, subjectTokenType }, request);
      // Keyed by the subject token itself (its digest) and its type: the new token never outlives what it was made from.
      return get(`x\n${subjectTokenType}\n${hash('sha256', subjectToken, 'base64url')}\n${key}`, form, freshness);
    },
    async onBehalfOf(request, freshness) {
      if (request === null || typeof request !== 'object') throw new TypeError('onBehalfOf needs { principal, scope }');
      const { principal } = request;
      if (principal === undefined) throw new TypeError('principal must be a principal name such as "alpha.api" (no spaces or colons)');
      checkGrantSubject({ proxyForPrincipal: principal }, { subjectToken: 'subjectToken', proxyForPrincipal: 'principal', impersonation: 'impersonation' });
      const { form, key } = formOf({ scope: '', proxyForPrincipal: principal }, request);
      return get(`p\n${principal}\n${key}`, form, freshness);
    },
    clear() {
      cache = new Map();
    },
    async close() {
      if (closed) return;
      closed = true;
      const pending = [...cache.values()].flatMap((entry) => (entry.inflight ? [entry.inflight] : []));
      cache.clear();
      await Promise.allSettled(pending);
    },
  };
}

/**
 * Creates a client that gets tokens for callers of this service.
 *
 * @example
 * ```ts
 * const exchanger = createExchangeClient({ issuer, credentials: { clientId: 'edge.gw', clientSecret }, ca });
 * const upstreamToken = await exchanger.exchange({ subjectToken: callerToken, scope: 'orders:domain' });
 * const forCertCaller = await exchanger.onBehalfOf({ principal: 'alpha.api', scope: 'orders:role.readers' });
 * ```
 */
export function createExchangeClient(options: ExchangeClientOptions): ExchangeClient {
  if (options === null || typeof options !== 'object') throw new TypeError('createExchangeClient needs an options object');
  const prover: ClientProver = createClientProver(options.credentials);
  if (prover.usesTls && options.fetch) throw new TypeError('certificate credentials need the built-in HTTPS client: remove the fetch option');
  const { tokenEndpoint, issuer } = checkEndpoints(options);
  const rejectionTtlMs = options.rejectionTtlMs ?? 5000;
  if (!Number.isFinite(rejectionTtlMs) || rejectionTtlMs < 0) throw new TypeError('rejectionTtlMs must be a number of milliseconds ≥ 0');
  const maxEntries = options.maxEntries ?? 10_000;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a whole number ≥ 1');
  const maxReuseMs = options.maxReuseMs;
  if (maxReuseMs !== undefined && (typeof maxReuseMs !== 'number' || Number.isNaN(maxReuseMs) || maxReuseMs < 0)) {
    throw new TypeError('maxReuseMs must be a number of milliseconds ≥ 0 (or left out for no bound)');
  }
  const clock = options.clock ?? ((): number => Date.now());
  const aborter = new AbortController();
  const transport = options.fetch
    ? fetchTransport(options.fetch, options.requestTimeoutMs)
    : nodeTransport({
        ca: options.ca,
        server: (issuer ?? tokenEndpoint)!,
        bundleRefresh: bundleRefreshSeconds(options.bundleRefresh),
        agent: options.agent,
        timeoutMs: options.requestTimeoutMs,
        clock,
      });
  const ctx: TokenRequestContext = { transport, prover, retry: retryPolicy(options.retry), clock, signal: aborter.signal };
  let closed = false;

  const endpoint = endpointResolver(ctx, tokenEndpoint, issuer);
  const resolveEndpoint = (): Promise<string> => endpoint.get();
  const tokens = createExchangeCache({ ctx, endpoint: resolveEndpoint, rejectionTtlMs, maxEntries, ...(maxReuseMs !== undefined && { maxReuseMs }) });

  return {
    exchange: (request) => tokens.exchange(request),
    onBehalfOf: (request) => tokens.onBehalfOf(request),
    async close() {
      if (closed) return;
      closed = true;
      const settled = tokens.close();
      aborter.abort(closedError());
      await settled;
      await endpoint.settled();
      await transport.close();
    },
  };
}
