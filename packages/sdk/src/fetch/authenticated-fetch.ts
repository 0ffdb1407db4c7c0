// A fetch that calls other services with a bearer token from the token client. A resource server
// may refuse a token the cache still thinks good (its key was rotated out, the token revoked, the
// clocks disagree); RFC 6750 says so with `error="invalid_token"`, and then one fresh token and
// one more try is the right answer. Only for requests that are safe to send twice.

import { normalizeRequest } from '../client/scope.ts';
import type { AccessTokenRequest, TokenClient } from '../client/options.ts';

/** The fetch signature the wrapper takes and returns. */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

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
 * ```
 */
export function createAuthenticatedFetch(client: Pick<TokenClient, 'getAccessToken'>, options: AuthenticatedFetchOptions): FetchFunction {
  if (client === null || typeof client !== 'object' || typeof client.getAccessToken !== 'function') {
    throw new TypeError('createAuthenticatedFetch needs a token client (from createTokenClient)');
  }
  const tokenRequest = pickTokenRequest(options);
  normalizeRequest(tokenRequest);
  const fetchImpl: FetchFunction = options.fetch ?? ((input, init) => fetch(input, init));
  const retryAll = options.retryNonIdempotent === true;

  return async (input, init) => {
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
  if ('scope' in options) return { scope: options.scope, expiresIn: options.expiresIn };
  return { domain: options.domain, roles: options.roles, expiresIn: options.expiresIn };
}

/** True when a Bearer challenge carries `error="invalid_token"` (RFC 6750 §3). */
export function saysInvalidToken(header: string | null): boolean {
  if (header === null) return false;
  return /(?:^|,)\s*Bearer\b[^]*?\berror\s*=\s*(?:"invalid_token"|invalid_token\b)/i.test(header);
}
