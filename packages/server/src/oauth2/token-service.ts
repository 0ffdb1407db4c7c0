// The one path every token request takes, whatever dialect it arrived in (the form-encoded
// OAuth endpoint, Athenz's path, or the service-account JSON dialect's `/auth/token`): the client guard
// (oauth2/client-guard.ts: gates on either side of client authentication, the client's
// standing, observers told of every outcome), then the grant. Endpoints only translate HTTP.

import type { AuthenticatedClient } from './client-auth/index.ts';
import type { ClientGuard } from './client-guard.ts';
import { OAuthError, invalidRequest } from './errors.ts';
import { clientCredentialsGrant, type ClientCredentialsDeps, type GrantResponse } from './grants/client_credentials.ts';
import { TOKEN_EXCHANGE_GRANT, tokenExchangeGrant, type ExchangeResponse, type TokenExchangeDeps, type TokenExchangeParams } from './grants/token_exchange.ts';

export type { TokenGate, TokenObserver, TokenOutcome } from './client-guard.ts';

export interface TokenRequest {
  /** Proves who the caller is; throws OAuthError (AUTH_101) when it cannot. */
  authenticate: (now: number) => Promise<AuthenticatedClient>;
  /** The client id the caller claims, before it is proven (for gates before authentication, alerts and audit). */
  claimedClientId: string | undefined;
  grantType: string | undefined;
  scope: string | undefined;
  expiresIn: string | undefined;
  clientIp: string;
  /** Athenz's proxy_for_principal (client_credentials only). */
  proxyForPrincipal?: string | undefined;
  /** RFC 8693 §2.1's parameters, for grant_type=urn:ietf:params:oauth:grant-type:token-exchange (the form endpoints only). */
  exchange?: Omit<TokenExchangeParams, 'scope' | 'expiresIn'>;
}

export interface TokenServiceDeps extends ClientCredentialsDeps {
  guard: ClientGuard;
  /** Set where token exchange is served: the subject tokens' verifiers (access and ID tokens) and the depth limit. */
  exchange?: Pick<TokenExchangeDeps, 'verify' | 'verifyIdToken' | 'maxDepth' | 'store'>;
}

export interface TokenService {
  issue(request: TokenRequest): Promise<GrantResponse | ExchangeResponse>;
}

const SUPPORTED = `client_credentials or ${TOKEN_EXCHANGE_GRANT}`;

export function createTokenService(deps: TokenServiceDeps): TokenService {
  return {
    issue(request) {
      const { authenticate, claimedClientId, clientIp, scope } = request;
      return deps.guard.run({ endpoint: 'token', authenticate, claimedClientId, clientIp, requestedScope: scope }, async (client, now) => {
        const exchange = deps.exchange && request.exchange;
        const supported = exchange ? SUPPORTED : 'client_credentials';
        if (request.grantType === undefined) throw new OAuthError(400, 'invalid_request', `grant_type is required: use grant_type=${supported}`);
        if (request.grantType === TOKEN_EXCHANGE_GRANT && exchange) {
          if (request.proxyForPrincipal !== undefined) {
            throw invalidRequest('proxy_for_principal goes with client_credentials; a token exchange names its subject with subject_token');
          }
          const exchanged = await tokenExchangeGrant({ ...deps, ...deps.exchange! }, client, { ...exchange, scope, expiresIn: request.expiresIn }, now);
          return {
            answer: exchanged.response,
            result: 'issued',
            details: { grantedScope: exchanged.response.scope, jti: exchanged.jti, reused: false, actingFor: exchanged.actingFor },
          };
        }
        if (request.grantType !== 'client_credentials') {
          throw new OAuthError(400, 'unsupported_grant_type', `grant_type "${request.grantType.slice(0, 40)}" is not supported; use ${supported}`);
        }
        const issued = await clientCredentialsGrant(deps, client, { scope, expiresIn: request.expiresIn, proxyForPrincipal: request.proxyForPrincipal }, now);
        return {
          answer: issued.response,
          result: 'issued',
          details: { grantedScope: issued.response.scope, jti: issued.jti, reused: issued.reused, ...(issued.actingFor && { actingFor: issued.actingFor }) },
        };
      });
    },
  };
}
