// The one path every token request takes, whatever dialect it arrived in (the form-encoded
// OAuth endpoint, Athenz's path, or seed 003's JSON `/auth/token`): gates that may refuse on
// either side of client authentication (rate limits), the client's standing, the grant, and
// observers told of every outcome (audit, alerts, metrics). Endpoints only translate HTTP.

import { cachedIpMatcher } from '../policy/ip-ranges.ts';
import { StorageUnavailableError } from '../storage/errors.ts';
import type { Store } from '../storage/store.ts';
import type { AuthenticatedClient } from './client-auth/index.ts';
import { checkClientStanding } from './client-standing.ts';
import { OAuthError } from './errors.ts';
import { clientCredentialsGrant, type ClientCredentialsDeps, type TokenResponse } from './grants/client_credentials.ts';

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

/** What happened to one token request, for audit, alerts and metrics. Never holds a secret or a token. */
export interface TokenOutcome {
  at: number;
  clientIp: string;
  claimedClientId: string | undefined;
  /** Set once the client proved who it is. */
  principal: string | undefined;
  method: string | undefined;
  requestedScope: string | undefined;
  /** `issued`, or the error_code / error of the refusal. */
  result: string;
  status: number;
  grantedScope?: string;
  jti?: string;
  /** True when an earlier identical token was handed out again (token reuse). */
  reused?: boolean;
}

/**
 * Refuses a token request early; either phase throws OAuthError to refuse (e.g. AUTH_106).
 * Two phases because what is known about the caller changes: before authentication only what it
 * claims, after it who it proved to be. Anything that protects one client (its quota) belongs
 * after, or a stranger who merely names the client could spend it.
 */
export interface TokenGate {
  /** Before client authentication: the address is known, the client id only claimed. */
  beforeAuthentication?(request: { clientIp: string; claimedClientId: string | undefined; now: number }): void;
  /** Right after authentication succeeded, before the client's standing is checked. */
  afterAuthentication?(request: { clientIp: string; principal: string; now: number }): void;
}

export interface TokenObserver {
  /** Must not throw and must not block: it runs on the hot path. */
  observe(outcome: TokenOutcome): void;
}

export interface TokenServiceDeps extends ClientCredentialsDeps {
  store: ClientCredentialsDeps['store'] & Pick<Store, 'getClientForAuth'>;
  now: () => number;
  gates: readonly TokenGate[];
  observers: readonly TokenObserver[];
}

export interface TokenService {
  issue(request: TokenRequest): Promise<TokenResponse>;
}

export function createTokenService(deps: TokenServiceDeps): TokenService {
  const ipMatcher = cachedIpMatcher();
  const tell = (outcome: TokenOutcome): void => {
    for (const observer of deps.observers) observer.observe(outcome);
  };
  return {
    async issue(request) {
      const now = deps.now();
      let client: AuthenticatedClient | undefined;
      const outcome = (result: string, status: number): TokenOutcome => ({
        at: now,
        clientIp: request.clientIp,
        claimedClientId: request.claimedClientId,
        principal: client?.service.principal,
        method: client?.method,
        requestedScope: request.scope,
        result,
        status,
      });
      try {
        for (const gate of deps.gates) gate.beforeAuthentication?.({ clientIp: request.clientIp, claimedClientId: request.claimedClientId, now });
        client = await request.authenticate(now);
        for (const gate of deps.gates) gate.afterAuthentication?.({ clientIp: request.clientIp, principal: client.service.principal, now });
        checkClientStanding(client.service, request.clientIp, now, ipMatcher);
        if (request.grantType === undefined) throw new OAuthError(400, 'invalid_request', 'grant_type is required: use grant_type=client_credentials');
        if (request.grantType !== 'client_credentials') {
          throw new OAuthError(400, 'unsupported_grant_type', `grant_type "${request.grantType.slice(0, 40)}" is not supported; use client_credentials`);
        }
        const issued = await clientCredentialsGrant(deps, client, { scope: request.scope, expiresIn: request.expiresIn }, now);
        tell({ ...outcome('issued', 200), grantedScope: issued.response.scope, jti: issued.jti, reused: issued.reused });
        return issued.response;
      } catch (error) {
        if (error instanceof OAuthError) tell(outcome(error.errorCode ?? error.error, error.status));
        // Storage down is what the client is told (503), not a server fault: audit and metrics agree.
        else if (error instanceof StorageUnavailableError) tell(outcome('temporarily_unavailable', 503));
        else tell(outcome('server_error', 500));
        throw error;
      }
    },
  };
}
