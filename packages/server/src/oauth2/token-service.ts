// The one path every token request takes, whatever dialect it arrived in (the form-encoded
// OAuth endpoint, Athenz's path, or the service-account JSON dialect's `/auth/token`): the client guard
// (oauth2/client-guard.ts: gates on either side of client authentication, the client's
// standing, observers told of every outcome), then the grant. Endpoints only translate HTTP.

import type { AuthenticatedClient } from './client-auth/index.ts';
import type { ClientGuard } from './client-guard.ts';
import { OAuthError } from './errors.ts';
import { clientCredentialsGrant, type ClientCredentialsDeps, type TokenResponse } from './grants/client_credentials.ts';

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
}

export interface TokenServiceDeps extends ClientCredentialsDeps {
  guard: ClientGuard;
}

export interface TokenService {
  issue(request: TokenRequest): Promise<TokenResponse>;
}

export function createTokenService(deps: TokenServiceDeps): TokenService {
  return {
    issue(request) {
      const { authenticate, claimedClientId, clientIp, scope } = request;
      return deps.guard.run({ endpoint: 'token', authenticate, claimedClientId, clientIp, requestedScope: scope }, async (client, now) => {
        if (request.grantType === undefined) throw new OAuthError(400, 'invalid_request', 'grant_type is required: use grant_type=client_credentials');
        if (request.grantType !== 'client_credentials') {
          throw new OAuthError(400, 'unsupported_grant_type', `grant_type "${request.grantType.slice(0, 40)}" is not supported; use client_credentials`);
        }
        const issued = await clientCredentialsGrant(deps, client, { scope, expiresIn: request.expiresIn }, now);
        return {
          answer: issued.response,
          result: 'issued',
          details: { grantedScope: issued.response.scope, jti: issued.jti, reused: issued.reused },
        };
      });
    },
  };
}
