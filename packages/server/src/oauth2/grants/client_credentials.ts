// RFC 6749 §4.4, the client credentials grant: the authenticated client asks for a scope and
// gets an access token for the roles it holds (and, with `openid`, an ID token).

import { GrantDeniedError, resolveGrant } from '../../policy/grant.ts';
import { parseScope, ScopeSyntaxError, type ScopeRequest } from '../../policy/scope.ts';
import type { Store } from '../../storage/store.ts';
import type { AuthenticatedClient } from '../client-auth/index.ts';
import { certificateRejected } from '../client-auth/tls_client_auth.ts';
import { OAuthError, invalidRequest } from '../errors.ts';
import { refuseIssuanceWithinRemovalReach } from '../key-removal.ts';
import { reuseKey, type TokenReuseCache } from '../token-reuse.ts';
import { accessTokenClaims, signAccessToken, signIdToken, type SigningKey } from '../tokens.ts';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  id_token?: string;
}

export interface ClientCredentialsDeps {
  store: Pick<Store, 'rolesHeld' | 'getDomain' | 'isTokenRevoked'>;
  issuer: string;
  lifetimes: { defaultLifetime: number; maxLifetime: number };
  signingKey: () => SigningKey;
  /** Set when server-side token reuse is on (oauth2/token-reuse.ts). */
  reuse?: TokenReuseCache;
}

export interface IssuedTokens {
  response: TokenResponse;
  jti: string;
  reused: boolean;
}

export async function clientCredentialsGrant(
  deps: ClientCredentialsDeps,
  client: AuthenticatedClient,
  params: { scope: string | undefined; expiresIn: string | undefined },
  now: number,
): Promise<IssuedTokens> {
  const scope = readScope(params.scope);
  const requested = readLifetime(params.expiresIn, deps.lifetimes);
  const principal = client.service.principal;
  // A token of the seconds a key removal reaches would be ended at once (key-removal.ts).
  refuseIssuanceWithinRemovalReach(client.service, now);

  const grant = await resolveGrant(principal, scope, now, deps.store).catch((error: unknown) => {
    if (error instanceof GrantDeniedError) {
      throw new OAuthError(error.status, error.status === 404 ? 'invalid_scope' : 'access_denied', error.message);
    }
    throw error;
  });
  // The server's, the domains' and the roles' maxima (docs/tokens.md, Lifetimes) all apply; the smallest wins.
  const limit = grant.maxLifetime === null ? requested : Math.min(requested, grant.maxLifetime);
  // And the token ends no later than the first membership behind its roles (resolveGrant keeps
  // only memberships that last past this second), nor than the certificate it is bound to (RFC
  // 8705 §3: the binding is worth what the certificate is; client authentication found it valid now).
  const bound = client.certificate;
  const issuedAt = Math.floor(now / 1000);
  const endsBy = Math.min(grant.expiresAt ?? Infinity, bound?.notAfter ?? Infinity);
  const lifetime = Math.min(limit, Math.floor(endsBy / 1000) - issuedAt);
  if (lifetime < 1) {
    throw certificateRejected('it expires within this second; renew it');
  }

  const idTokenAudience = scope.openid ? scope.idTokenAudiences[0] : undefined;
  if (idTokenAudience !== undefined) {
    // Athenz: the ID token's service must belong to a domain the access token covers.
    const domain = idTokenAudience.slice(0, idTokenAudience.lastIndexOf('.'));
    if (!(Array.isArray(grant.audience) ? grant.audience : [grant.audience]).includes(domain)) {
      throw new OAuthError(403, 'access_denied', `the ID token audience ${idTokenAudience} is a service of ${domain}, where ${principal} holds none of the requested roles`);
    }
  }
  // Keyed by the lifetime asked for, not the one the memberships and certificate leave (that
  // shrinks every second); a cached token is handed out again only while it still ends before the
  // first membership and the certificate do.
  const cacheKey = deps.reuse
    ? reuseKey({
        service: client.service,
        scope: grant.scope,
        audience: grant.audience,
        lifetime: limit,
        idTokenAudience,
        binding: bound?.thumbprint,
      })
    : '';
  const cached = deps.reuse?.find(cacheKey, now);
  const cachedFits = cached !== undefined && cached.expiresAt <= endsBy;
  if (cached && cachedFits && !(await deps.store.isTokenRevoked(cached.jti, now))) {
    return { response: { ...cached.response, expires_in: Math.floor((cached.expiresAt - now) / 1000) }, jti: cached.jti, reused: true };
  }

  const key = deps.signingKey();
  const claims = accessTokenClaims({
    issuer: deps.issuer,
    principal,
    audience: grant.audience,
    scp: grant.scp,
    scope: grant.scope,
    issuedAt,
    lifetime,
    certificateThumbprint: bound?.thumbprint,
  });
  const response: TokenResponse = {
    access_token: await signAccessToken(claims, key),
    token_type: 'Bearer',
    expires_in: lifetime,
    scope: grant.scope,
  };
  if (idTokenAudience !== undefined) {
    response.id_token = await signIdToken({ issuer: deps.issuer, principal, audience: idTokenAudience, issuedAt, lifetime }, key);
  }
  deps.reuse?.remember(cacheKey, { response, jti: claims.jti, issuedAt: issuedAt * 1000, expiresAt: claims.exp * 1000 });
  return { response, jti: claims.jti, reused: false };
}

function readScope(scope: string | undefined): ScopeRequest {
  if (scope === undefined) throw new OAuthError(400, 'invalid_scope', 'scope is required, e.g. scope=beta:domain or scope=beta:role.readers');
  try {
    return parseScope(scope);
  } catch (error) {
    if (error instanceof ScopeSyntaxError) throw new OAuthError(400, 'invalid_scope', error.message);
    throw error;
  }
}

function readLifetime(expiresIn: string | undefined, lifetimes: ClientCredentialsDeps['lifetimes']): number {
  if (expiresIn === undefined || expiresIn === '') return lifetimes.defaultLifetime;
  if (!/^\d{1,9}$/.test(expiresIn) || Number(expiresIn) === 0) {
    throw invalidRequest(`expires_in must be a positive whole number of seconds, got "${expiresIn.slice(0, 20)}"`);
  }
  return Math.min(Number(expiresIn), lifetimes.maxLifetime);
}
