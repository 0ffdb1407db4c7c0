// RFC 6749 §4.4, the client credentials grant: the authenticated client asks for a scope and
// gets an access token for the roles it holds (and, with `openid`, an ID token). With Athenz's
// `proxy_for_principal`, a token of another principal for the roles both hold and whose role
// lists the client in its actors (docs/tokens.md, proxy_for_principal).

import { actClaim, roleAllows } from '../../policy/delegation.ts';
import { GrantDeniedError, resolveGrant, type Grant, type GrantFilter } from '../../policy/grant.ts';
import { describeNameRule, isPrincipalName } from '../../policy/names.ts';
import { serviceStanding } from '../../policy/service-standing.ts';
import { parseScope, ScopeSyntaxError, type ScopeRequest } from '../../policy/scope.ts';
import type { Store } from '../../storage/store.ts';
import type { AuthenticatedClient } from '../client-auth/index.ts';
import { certificateRejected } from '../client-auth/tls_client_auth.ts';
import { OAuthError, invalidRequest } from '../errors.ts';
import { refuseIssuanceWithinRemovalReach } from '../key-removal.ts';
import { reuseKey, type TokenReuseCache } from '../token-reuse.ts';
import { accessTokenClaims, signAccessToken, signIdToken, type SigningKey } from '../tokens.ts';
import type { ActingFor } from './token_exchange.ts';

export interface GrantResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  id_token?: string;
}

export interface ClientCredentialsDeps {
  store: Pick<Store, 'rolesHeld' | 'getDomain' | 'isTokenRevoked' | 'getService'>;
  issuer: string;
  lifetimes: { defaultLifetime: number; maxLifetime: number };
  signingKey: () => SigningKey;
  /** Set when server-side token reuse is on (oauth2/token-reuse.ts). */
  reuse?: TokenReuseCache;
}

export interface IssuedTokens {
  response: GrantResponse;
  jti: string;
  reused: boolean;
  /** Set for a proxy_for_principal token: for whom and by whom, for the audit. */
  actingFor?: ActingFor;
}

export async function clientCredentialsGrant(
  deps: ClientCredentialsDeps,
  client: AuthenticatedClient,
  params: { scope: string | undefined; expiresIn: string | undefined; proxyForPrincipal?: string | undefined },
  now: number,
): Promise<IssuedTokens> {
  const scope = readScope(params.scope);
  const requested = readLifetime(params.expiresIn, deps.lifetimes);
  // A token of the seconds a key removal reaches would be ended at once (key-removal.ts).
  refuseIssuanceWithinRemovalReach(client.service, now);
  const proxy = params.proxyForPrincipal === undefined ? null : await proxyFor(deps, client, params.proxyForPrincipal, scope, now);
  const principal = proxy?.subject ?? client.service.principal;

  let grant: Grant;
  try {
    grant = await resolveGrant(principal, scope, now, deps.store, proxy?.filter);
  } catch (error) {
    if (error instanceof GrantDeniedError) {
      throw new OAuthError(error.status, error.status === 404 ? 'invalid_scope' : 'access_denied', error.message);
    }
    throw error;
  }
  // The server's, the domains' and the roles' maxima (docs/tokens.md, Lifetimes) all apply; the smallest wins.
  const limit = grant.maxLifetime === null ? requested : Math.min(requested, grant.maxLifetime);
  // And the token ends no later than the first membership behind its roles (resolveGrant keeps
  // only memberships that last past this second), nor than the certificate it is bound to (RFC
  // 8705 §3: the binding is worth what the certificate is; client authentication found it valid now).
  const bound = client.certificate;
  const issuedAt = Math.floor(now / 1000);
  // A proxy's token ends no later than the proxy's own memberships behind its roles either.
  const endsBy = Math.min(grant.expiresAt ?? Infinity, bound?.notAfter ?? Infinity, proxy?.endsBy(grant.scp, grant.audience) ?? Infinity);
  const lifetime = Math.min(limit, Math.floor(endsBy / 1000) - issuedAt);
  if (lifetime < 1) {
    throw certificateRejected('it expires within this second; renew it');
  }

  const idTokenAudience = scope.openid ? scope.idTokenAudiences[0] : undefined;
  if (idTokenAudience !== undefined) {
    // Athenz: the ID token's service must belong to a domain the access token covers.
    const domain = idTokenAudience.slice(0, idTokenAudience.lastIndexOf('.'));
    if (!(Array.isArray(grant.audience) ? grant.audience : [grant.audience]).includes(domain)) {
      throw new OAuthError(
        403,
        'access_denied',
        `the ID token audience ${idTokenAudience} is a service of ${domain}, where ${principal} holds none of the requested roles`,
      );
    }
  }
  // Keyed by the lifetime asked for, not the one the memberships and certificate leave (that
  // shrinks every second); a cached token is handed out again only while it still ends before the
  // first membership and the certificate do. A proxy's token is never reused: the key names no end principal.
  // Nor is an answer with an ID token: the ID token can be revoked on its own (its jti), and a
  // hit would hand it out again; such answers are signed afresh each time.
  const reusable = proxy === null && idTokenAudience === undefined;
  const cacheKey =
    deps.reuse && reusable
      ? reuseKey({
          service: client.service,
          scope: grant.scope,
          audience: grant.audience,
          lifetime: limit,
          idTokenAudience,
          binding: bound?.thumbprint,
        })
      : '';
  const cached = reusable ? deps.reuse?.find(cacheKey, now) : undefined;
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
    clientId: client.service.principal,
    act: proxy === null ? undefined : actClaim([client.service.principal]),
  });
  const response: GrantResponse = {
    access_token: await signAccessToken(claims, key),
    token_type: 'Bearer',
    expires_in: lifetime,
    scope: grant.scope,
  };
  if (idTokenAudience !== undefined) {
    // Bound as the access token is: a revoked certificate ends it as a subject token (token_exchange.ts).
    const idToken = { issuer: deps.issuer, principal, audience: idTokenAudience, issuedAt, lifetime, certificateThumbprint: bound?.thumbprint };
    response.id_token = await signIdToken(idToken, key);
  }
  if (reusable) deps.reuse?.remember(cacheKey, { response, jti: claims.jti, issuedAt: issuedAt * 1000, expiresAt: claims.exp * 1000 });
  const actingFor: ActingFor | undefined = proxy ? { subject: principal, actors: [client.service.principal], mode: 'proxy' } : undefined;
  return { response, jti: claims.jti, reused: false, ...(actingFor && { actingFor }) };
}

interface ProxyGrant {
  subject: string;
  filter: GrantFilter;
  /** When the first of the proxy's memberships behind the granted roles ends (ms), or Infinity. */
  endsBy(scp: readonly string[], audience: string | string[]): number;
}

/**
 * Athenz's proxy_for_principal: the client (the proxy) asks for a token of another principal.
 * Granted only roles both hold whose role lists the proxy in its actors; the token names the
 * proxy as client_id and in `act` (policy/delegation.ts), as a delegated token does.
 */
async function proxyFor(deps: ClientCredentialsDeps, client: AuthenticatedClient, principal: string, scope: ScopeRequest, now: number): Promise<ProxyGrant> {
  const proxy = client.service.principal;
  if (!isPrincipalName(principal)) {
    throw invalidRequest(`proxy_for_principal "${principal.slice(0, 80)}" is not a principal name: ${describeNameRule('principal')}`);
  }
  if (principal === proxy) throw invalidRequest('proxy_for_principal names the client itself: leave it out to get a token of your own');
  if (scope.openid) {
    throw new OAuthError(400, 'invalid_scope', 'proxy_for_principal issues access tokens only: leave openid and <domain>:service.<service> out of the scope');
  }
  const service = await deps.store.getService(principal);
  const standing = serviceStanding(service, now);
  if (standing !== 'active' || service === null) {
    const why = standing === 'missing' ? 'is not a registered service' : `is ${standing}`;
    throw new OAuthError(403, 'access_denied', `proxy_for_principal ${principal} ${why}: a proxy can act only for an active service`);
  }
  refuseIssuanceWithinRemovalReach(service, now);
  const domains = scope.domains.map((d) => d.domain);
  const proxyHolds = new Map((await deps.store.rolesHeld(proxy, domains, now)).map((held) => [`${held.domain}:${held.role}`, held]));
  return {
    subject: principal,
    filter: {
      allows: (held) => proxyHolds.has(`${held.domain}:${held.role}`) && roleAllows(held, [proxy], 'delegation'),
      refusal: `${proxy} may not act for ${principal} in any requested role: a role allows it only when both hold it and it lists ${proxy} in its actors`,
    },
    endsBy(scp, audience) {
      let ends = Infinity;
      for (const item of scp) {
        const key = Array.isArray(audience) ? item : `${audience}:${item}`;
        ends = Math.min(ends, proxyHolds.get(key)?.expiresAt ?? Infinity);
      }
      return ends;
    },
  };
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

export function readLifetime(expiresIn: string | undefined, lifetimes: ClientCredentialsDeps['lifetimes']): number {
  if (expiresIn === undefined || expiresIn === '') return lifetimes.defaultLifetime;
  if (!/^\d{1,9}$/.test(expiresIn) || Number(expiresIn) === 0) {
    throw invalidRequest(`expires_in must be a positive whole number of seconds, got "${expiresIn.slice(0, 20)}"`);
  }
  return Math.min(Number(expiresIn), lifetimes.maxLifetime);
}
