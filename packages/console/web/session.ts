// Who is signed in, and for how long. A session is one access token from /oauth2/token, held in
// this module's memory only: never a cookie, never localStorage or sessionStorage, so closing or
// reloading the tab ends it, and no other page can make the browser send it (every API call adds
// it as `Authorization: Bearer`). It ends when the token expires, when the API stops accepting
// it, or at sign-out, which revokes it with DELETE /admin/v1/session: the token revokes itself,
// so no client secret is kept once the token is obtained.
//
// Two ways in, producing the same `Session`: a client id and secret exchanged with the client
// credentials grant (here), and OpenID Connect sign-in for people (oidc.ts).

import { apiError, type ApiError } from './api.ts';

export type Standing = { kind: 'system' } | { kind: 'domain'; domain: string };

export interface Session {
  /** The principal the token is for (the client id). */
  principal: string;
  token: string;
  /** The granted scope, as the token endpoint answered it. */
  scope: string;
  standing: Standing;
  /** Epoch milliseconds. */
  expiresAt: number;
  /**
   * Withdraws the token at the server (DELETE /admin/v1/session); rejects when the server did not
   * confirm it (an error answer, or none within REVOKE_TIMEOUT_MS), the token then still valid.
   */
  revoke(): Promise<void>;
}

export interface SignInMethod<Input> {
  readonly name: string;
  signIn(input: Input): Promise<Session>;
}

export const SYSTEM_ADMIN_SCOPE = 'sys.auth:role.admin';

/** How long sign-out waits for the server to confirm the revocation. */
export const REVOKE_TIMEOUT_MS = 5000;

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  /** A domain to administer; empty: system admin, else the admin of the client's own domain. */
  domain: string;
}

/** The error a failed sign-in shows, with what to do. */
export class SignInError extends Error {}

async function requestToken(clientId: string, clientSecret: string, scope: string): Promise<{ ok: true; token: TokenAnswer } | { ok: false; error: ApiError }> {
  // client_secret_post: with no Authorization header, a 401 carries no Basic challenge, so the
  // browser never shows its own password prompt.
  const body = new URLSearchParams({ grant_type: 'client_credentials', scope, client_id: clientId, client_secret: clientSecret });
  const response = await fetch('/oauth2/token', { method: 'POST', body, credentials: 'omit', cache: 'no-store' });
  if (!response.ok) return { ok: false, error: await apiError(response) };
  return { ok: true, token: (await response.json()) as TokenAnswer };
}

export interface TokenAnswer {
  access_token: string;
  expires_in: number;
  scope: string;
}

/** `alpha.api` → `alpha`: a principal's domain is everything before its last dot. */
export function domainOf(principal: string): string | null {
  const dot = principal.lastIndexOf('.');
  return dot > 0 ? principal.slice(0, dot) : null;
}

function explain(error: ApiError, scope: string): string {
  if (error.status === 401 && error.code === 'AUTH_103') return `This client is disabled or expired, so it cannot sign in (${error.code}).`;
  if (error.status === 401) return `The client id or secret is wrong (${error.code}). Check both and try again.`;
  if (error.status === 403) return `This client does not hold ${scope}, so it cannot administer that (${error.message}).`;
  if (error.status === 404) return `No such domain: ${error.message}.`;
  if (error.status === 429) return 'Too many sign-in attempts from here; wait a minute and try again.';
  if (error.status === 400) return `The server refused the sign-in request: ${error.message}.`;
  return `Sign-in failed: ${error.message} (${error.status}).`;
}

/** Sign-in with an admin credential: a client id and secret exchanged for a short-lived token. */
export const clientCredentialsSignIn: SignInMethod<ClientCredentials> = {
  name: 'client-credentials',
  async signIn({ clientId, clientSecret, domain }) {
    const scopes = domain ? [`${domain}:role.admin`] : [SYSTEM_ADMIN_SCOPE];
    const own = domainOf(clientId);
    // Not a system admin: the admin of its own domain, when it is one.
    if (!domain && own && own !== 'sys.auth') scopes.push(`${own}:role.admin`);
    let last: { error: ApiError; scope: string } | undefined;
    for (const scope of scopes) {
      const answer = await requestToken(clientId, clientSecret, scope);
      if (answer.ok) return makeSession(clientId, answer.token);
      last = { error: answer.error, scope };
      // Only a refused role is worth another try; a wrong secret stays wrong.
      if (answer.error.status !== 403) break;
    }
    const failure = last!;
    if (failure.error.status === 403 && scopes.length > 1) {
      throw new SignInError(
        `This client holds neither ${scopes.join(' nor ')}: it is not an admin. Name the domain it administers, or use another credential.`,
      );
    }
    throw new SignInError(explain(failure.error, failure.scope));
  },
};

/**
 * The session for a token from /oauth2/token or another sign-in method. The client secret is not
 * kept: sign-out revokes the token with the token itself (DELETE /admin/v1/session), so the secret
 * is dropped as soon as the token is obtained.
 */
export function makeSession(principal: string, token: TokenAnswer): Session {
  const scopes = token.scope.split(' ');
  // A person's session may name several admin roles; a system admin's is the one that counts.
  const granted = scopes.includes(SYSTEM_ADMIN_SCOPE) ? SYSTEM_ADMIN_SCOPE : (scopes.find((item) => item.endsWith(':role.admin')) ?? token.scope);
  const standing: Standing = granted === SYSTEM_ADMIN_SCOPE ? { kind: 'system' } : { kind: 'domain', domain: granted.slice(0, -':role.admin'.length) };
  let revoked = false;
  return {
    principal,
    token: token.access_token,
    scope: token.scope,
    standing,
    expiresAt: Date.now() + token.expires_in * 1000,
    async revoke() {
      if (revoked) return;
      revoked = true;
      const response = await fetch('/admin/v1/session', {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token.access_token}` },
        credentials: 'omit',
        cache: 'no-store',
        signal: AbortSignal.timeout(REVOKE_TIMEOUT_MS),
      });
      if (!response.ok) throw await apiError(response);
    },
  };
}
