// A fetch that calls other services with a bearer token from the token client. A resource server
// may refuse a token the cache still thinks good (its key was rotated out, the token revoked, the
// clocks disagree); RFC 6750 says so with `error="invalid_token"`, and then one fresh token and
// one more try is the right answer. Only for requests that are safe to send twice.
//
// A service handling a request can call the next one on its caller's behalf: `onBehalfOf` in a
// call's init (the caller's AuthContext from the middleware, or its token) makes the token client
// exchange the caller's token (RFC 8693) instead of using the service's own.

import { normalizeRequest } from '../client/scope.ts';
import type { AccessTokenRequest, OnBehalfOf, TokenClient } from '../client/options.ts';

/** The fetch signature the wrapper takes and returns. */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** A request's init, plus whom the call is made for. */
export interface AuthenticatedRequestInit extends RequestInit {
  /**
   * Call for this caller instead of as this service: its `AuthContext` (`request.auth`, the
   * middleware's `caller`) or its access token. The token sent names the caller as `sub` and this
   * service as `act.sub` (RFC 8693 token exchange), cached per caller token and scope. Given but
   * `undefined` is a TypeError, never a silent call as this service.
   */
  onBehalfOf?: OnBehalfOf;
}

/** The fetch {@link createAuthenticatedFetch} returns: `fetch`, with `onBehalfOf` per call. */
export type AuthenticatedFetch = (input: string | URL | Request, init?: AuthenticatedRequestInit) => Promise<Response>;

/** RFC 9110 §9.2.2: methods whose repetition has the effect of one request. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** What the token is for, and how to send. */
export type AuthenticatedFetchOptions = AccessTokenRequest & {
  /** The fetch to wrap; the global `fetch` by default. */
  fetch?: FetchFunction;
  /**
   * Also retry POST, PATCH and other non-idempotent requests after an `invalid_token` refusal.
   * Safe only when the callee did nothing with the refused request, which RFC 6750 implies but
   * no client can check.
   */
  retryNonIdempotent?: boolean;
};

/**
 * Wraps `fetch` so every request carries `Authorization: Bearer <token>` for the given scope.
 * On a 401 whose `WWW-Authenticate` says `Bearer error="invalid_token"`, an idempotent request is
 * sent once more with a freshly fetched token; any other answer is returned as it is.
 *
 * @example
 * ```ts
 * const callBeta = createAuthenticatedFetch(client, { scope: 'beta:role.readers' });
 * const res = await callBeta('https://beta.internal/items');
 * // In a handler: call on behalf of the verified caller (token exchange).
 * const res2 = await callBeta('https://beta.internal/items', { onBehalfOf: request.auth });
 * ```
 */
export function createAuthenticatedFetch(client: Pick<TokenClient, 'getAccessToken'>, options: AuthenticatedFetchOptions): AuthenticatedFetch {
  if (client === null || typeof client !== 'object' || typeof client.getAccessToken !== 'function') {
    throw new TypeError('createAuthenticatedFetch needs a token client (from createTokenClient)');
  }
  const ownRequest = pickTokenRequest(options);
  normalizeRequest(ownRequest);
  const fetchImpl: FetchFunction = options.fetch ?? ((input, init) => fetch(input, init));
  const retryAll = options.retryNonIdempotent === true;

  return async (input, withCaller) => {
    let tokenRequest = ownRequest;
    let init: RequestInit | undefined = withCaller;
    if (withCaller !== null && typeof withCaller === 'object' && 'onBehalfOf' in withCaller) {
      const { onBehalfOf, ...rest } = withCaller;
      // The token client refuses an undefined caller: a forwarding call never goes out as this service by mistake.
      tokenRequest = { ...ownRequest, onBehalfOf };
      init = rest;
    }
    const request = new Request(input, init);
    // Cloned before the first send consumes the body, so the retry can send it again.
    const spare = retryAll || IDEMPOTENT.has(request.method) ? request.clone() : undefined;
    const token = await client.getAccessToken(tokenRequest);
    request.headers.set('authorization', `Bearer ${token}`);
    const response = await fetchImpl(request);
    if (response.status !== 401 || spare === undefined || !saysInvalidToken(response.headers.get('www-authenticate'))) return response;
    await response.body?.cancel();
    const fresh = await client.getAccessToken(tokenRequest, { forceRefresh: true, rejectedToken: token });
    spare.headers.set('authorization', `Bearer ${fresh}`);
    return fetchImpl(spare);
  };
}

function pickTokenRequest(options: AuthenticatedFetchOptions): AccessTokenRequest {
  if (options === null || typeof options !== 'object') throw new TypeError('createAuthenticatedFetch needs { scope } or { domain, roles? }');
  const request: AccessTokenRequest =
    'scope' in options
      ? { scope: options.scope, expiresIn: options.expiresIn }
      : { domain: options.domain, roles: options.roles, expiresIn: options.expiresIn };
  // A caller fixed for every call (a tool acting for one subject); a per-call onBehalfOf replaces it.
  if ('onBehalfOf' in options) {
    if (options.onBehalfOf == null) throw new TypeError("onBehalfOf is undefined: give the caller's access token or AuthContext, or leave the option out");
    request.onBehalfOf = options.onBehalfOf;
  }
  return request;
}

/** True when a Bearer challenge carries `error="invalid_token"` (RFC 6750 §3). */
export function saysInvalidToken(header: string | null): boolean {
  if (header === null) return false;
  return /(?:^|,)\s*Bearer\b[^]*?\berror\s*=\s*(?:"invalid_token"|invalid_token\b)/i.test(header);
}
