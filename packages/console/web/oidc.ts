// Sign-in for people with OpenID Connect (authorization code + PKCE), when the server has
// `console.oidc`. The page drives the flow and the server keeps no flow state:
//
// 1. GET /console/oidc/config: the provider's authorization endpoint, the client id, the scopes
//    and the redirect URI (`{"enabled": false}`: not configured, and the button is not shown).
// 2. The page makes state, nonce and a PKCE verifier (S256), keeps them in sessionStorage for the
//    round trip (they are not credentials: the verifier is worth nothing without the code, which
//    only comes back to this origin), and navigates to the provider: a top-level navigation, so
//    the CSP's connect-src stays 'self'.
// 3. Back at /console/?code=…&state=…: the state must be the one kept (login CSRF protection);
//    the kept values and the URL's query are cleared at once, then the code, the verifier and
//    the nonce go to POST /console/oidc/session, which answers the session token. The token
//    itself lives in memory only, as for every session.

import { apiError } from './api.ts';
import { makeSession, SignInError, type Session, type TokenAnswer } from './session.ts';

const FLOW_KEY = 'tessera.console.oidc';

export interface OidcConfig {
  enabled: true;
  issuer: string;
  authorizationEndpoint: string;
  clientId: string;
  scopes: string;
  redirectUri: string;
}

interface FlowState {
  state: string;
  nonce: string;
  codeVerifier: string;
  redirectUri: string;
}

/**
 * The server's OpenID Connect settings; `{unavailable}` when it has them but cannot use them now
 * (its provider unreachable, say), with why; null when it has none (or cannot say).
 */
export async function oidcConfig(): Promise<OidcConfig | { unavailable: string } | null> {
  try {
    const response = await fetch('/console/oidc/config', { credentials: 'omit', cache: 'no-store' });
    if (!response.ok) return response.status >= 500 ? { unavailable: (await apiError(response)).message } : null;
    const config = (await response.json()) as OidcConfig | { enabled: false };
    return config.enabled ? config : null;
  } catch {
    return null;
  }
}

function randomText(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** Sends the browser to the provider; the page is left behind. */
export async function startOidcSignIn(config: OidcConfig): Promise<void> {
  const flow: FlowState = { state: randomText(32), nonce: randomText(32), codeVerifier: randomText(32), redirectUri: config.redirectUri };
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(flow.codeVerifier))));
  sessionStorage.setItem(FLOW_KEY, JSON.stringify(flow));
  const url = new URL(config.authorizationEndpoint);
  const params = {
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    scope: config.scopes,
    state: flow.state,
    nonce: flow.nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  location.assign(url.toString());
}

/**
 * When the page is the provider's redirect back (a `code` or an `error` with a `state` in the
 * query): finishes the sign-in. Null when it is not. The query and the kept state are cleared
 * first, whatever happens next.
 */
export function oidcReturn(): Promise<Session> | null {
  const query = new URLSearchParams(location.search);
  if (!query.has('state') || !(query.has('code') || query.has('error'))) return null;
  const kept = sessionStorage.getItem(FLOW_KEY);
  sessionStorage.removeItem(FLOW_KEY);
  history.replaceState(null, '', `${location.pathname}${location.hash}`);
  return finish(query, kept);
}

async function finish(query: URLSearchParams, kept: string | null): Promise<Session> {
  let flow: FlowState | null = null;
  try {
    flow = kept === null ? null : (JSON.parse(kept) as FlowState);
  } catch {
    flow = null;
  }
  if (flow === null || flow.state !== query.get('state')) {
    throw new SignInError('This sign-in was not started from this tab (its state does not match), so it was ignored. Sign in again.');
  }
  const error = query.get('error');
  if (error !== null) {
    const description = query.get('error_description');
    throw new SignInError(`The OpenID provider did not sign you in (${error}${description ? `: ${description}` : ''}). Sign in again.`);
  }
  const response = await fetch('/console/oidc/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: query.get('code'), codeVerifier: flow.codeVerifier, nonce: flow.nonce, redirectUri: flow.redirectUri }),
    credentials: 'omit',
    cache: 'no-store',
  });
  if (!response.ok) {
    const failure = await apiError(response);
    throw new SignInError(`${failure.message} (${failure.code})`);
  }
  const answer = (await response.json()) as TokenAnswer & { principal: string };
  return makeSession(answer.principal, answer);
}
