// The one path every request from an OAuth client takes, whatever it asks for (a token, an
// introspection, a revocation) and whatever dialect it arrived in: gates that may refuse on
// either side of client authentication (rate limits), the client's standing, the endpoint's own
// work, and observers told of every outcome (audit, alerts, metrics). A guard skipped by one
// endpoint is a door left open beside the guarded one: a secret guessed at the introspection
// endpoint is as good as one guessed at the token endpoint.

import { cachedIpMatcher } from '../policy/ip-ranges.ts';
import { StorageUnavailableError } from '../storage/errors.ts';
import type { AuthenticatedClient } from './client-auth/index.ts';
import { checkClientStanding } from './client-standing.ts';
import { OAuthError } from './errors.ts';
import type { ActingFor } from './grants/token_exchange.ts';

/** The endpoints whose callers authenticate as OAuth clients. */
export type ClientEndpoint = 'token' | 'introspect' | 'revoke';

export interface ClientRequest {
  endpoint: ClientEndpoint;
  /** Proves who the caller is; throws OAuthError (AUTH_101) when it cannot. */
  authenticate: (now: number) => Promise<AuthenticatedClient>;
  /** The client id the caller claims, before it is proven (for gates before authentication, alerts and audit). */
  claimedClientId: string | undefined;
  /** What the caller asked for (the token endpoint's scope), for audit. */
  requestedScope?: string | undefined;
  clientIp: string;
}

/** What happened to one client request, for audit, alerts and metrics. Never holds a secret or a token. */
export interface TokenOutcome {
  endpoint: ClientEndpoint;
  at: number;
  clientIp: string;
  claimedClientId: string | undefined;
  /** Set once the client proved who it is. */
  principal: string | undefined;
  method: string | undefined;
  requestedScope: string | undefined;
  /** What the endpoint did (`issued`, `answered`, `revoked`), or the error_code / error of the refusal. */
  result: string;
  status: number;
  grantedScope?: string;
  jti?: string;
  /** True when an earlier identical token was handed out again (token reuse). */
  reused?: boolean;
  /** Set when the token acts for another principal (token exchange, proxy_for_principal): the subject and the actor chain. */
  actingFor?: ActingFor;
}

/**
 * Refuses a request early; either phase throws OAuthError to refuse (e.g. AUTH_106).
 * Two phases because what is known about the caller changes: before authentication only what it
 * claims, after it who it proved to be. Anything that protects one client (its quota) belongs
 * after, or a stranger who merely names the client could spend it.
 */
export interface TokenGate {
  /** Before client authentication: the address is known, the client id only claimed. */
  beforeAuthentication?(request: { clientIp: string; claimedClientId: string | undefined; now: number }): void;
  /** Right after authentication succeeded, before the client's standing is checked. */
  afterAuthentication?(request: { clientIp: string; principal: string; endpoint: ClientEndpoint; now: number }): void;
}

export interface TokenObserver {
  /** Must not throw and must not block: it runs on the hot path. */
  observe(outcome: TokenOutcome): void;
}

/** What an endpoint's work hands back: the answer, what to call it, and details for the audit. */
export interface Served<T> {
  answer: T;
  result: string;
  details?: Pick<TokenOutcome, 'grantedScope' | 'jti' | 'reused' | 'actingFor'>;
}

export interface ClientGuard {
  /** Runs `serve` for an authenticated client in good standing, past every gate, and tells every observer. */
  run<T>(request: ClientRequest, serve: (client: AuthenticatedClient, now: number) => Promise<Served<T>>): Promise<T>;
}

export interface ClientGuardDeps {
  now: () => number;
  gates: readonly TokenGate[];
  observers: readonly TokenObserver[];
}

export function createClientGuard(deps: ClientGuardDeps): ClientGuard {
  const ipMatcher = cachedIpMatcher();
  const tell = (outcome: TokenOutcome): void => {
    for (const observer of deps.observers) observer.observe(outcome);
  };
  return {
    async run(request, serve) {
      const now = deps.now();
      let client: AuthenticatedClient | undefined;
      try {
        for (const gate of deps.gates) gate.beforeAuthentication?.({ clientIp: request.clientIp, claimedClientId: request.claimedClientId, now });
        client = await request.authenticate(now);
        for (const gate of deps.gates)
          gate.afterAuthentication?.({ clientIp: request.clientIp, principal: client.service.principal, endpoint: request.endpoint, now });
        checkClientStanding(client.service, request.clientIp, now, ipMatcher);
        const served = await serve(client, now);
        const told = outcomeOf(request, client, now, served.result, 200);
        if (served.details) Object.assign(told, served.details);
        tell(told);
        return served.answer;
      } catch (error) {
        if (error instanceof OAuthError) tell(outcomeOf(request, client, now, error.errorCode ?? error.error, error.status));
        // Storage down is what the client is told (503), not a server fault: audit and metrics agree.
        else if (error instanceof StorageUnavailableError) tell(outcomeOf(request, client, now, 'temporarily_unavailable', 503));
        else tell(outcomeOf(request, client, now, 'server_error', 500));
        throw error;
      }
    },
  };
}

function outcomeOf(request: ClientRequest, client: AuthenticatedClient | undefined, at: number, result: string, status: number): TokenOutcome {
  return {
    endpoint: request.endpoint,
    at,
    clientIp: request.clientIp,
    claimedClientId: request.claimedClientId,
    principal: client?.service.principal,
    method: client?.method,
    requestedScope: request.requestedScope,
    result,
    status,
  };
}
