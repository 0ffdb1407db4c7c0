// The token the upstream receives: for the route's audience, naming the caller as `sub` and this
// gateway as `act.sub`. A Bearer caller's token is exchanged (RFC 8693); a caller that proved
// itself with a certificate or an API key has no token to exchange, so the gateway asks for one
// with `proxy_for_principal`. Both go through the SDK's exchange client, which caches per
// (caller or caller's token, scope) by the token client's rules: reused while a quarter of its
// life remains, refreshed in the background past half, one request for concurrent misses; and
// never reused longer than `tessera.identityRecheck` seconds: past that, the caller's next request
// waits for a fresh token, so Tessera judges its roles again (a certificate caller's only check,
// and for every caller the check of its roles now). If Tessera refuses, the caller is refused; if
// it cannot be reached, the last judgement stands: the earlier token is used until its expiry and
// Tessera is asked again one interval later (a caller with no token yet gets 503).
//
// What Tessera grants is checked before use (sub, act, audience, scope), and Tessera's refusals
// become the caller's answers: the role missing or the gateway not among its actors is 403,
// a subject token Tessera refuses is 401, Tessera unreachable is 503.

import { createExchangeClient, TokenClientError, type ExchangeClient } from '@tessera/sdk';
import type { GatewayConfig, RouteConfig } from '../config/config.ts';
import { GatewayError } from '../http/errors.ts';
import type { Caller } from '../inbound/identify.ts';

/** Where upstream tokens come from; the gateway takes any implementation (tests, other issuers). */
export interface SouthboundTokens {
  /** A token for `route.audience` with `sub` = caller and `act.sub` = the gateway; throws GatewayError. */
  forCaller(caller: Caller, route: RouteConfig): Promise<string>;
  close(): Promise<void>;
}

const CHECKED_LIMIT = 10_000;
/** Characters of Tessera's refusal description quoted to the caller. */
const TESSERA_REASON_LIMIT = 240;
/** Per request to Tessera's token endpoint (and its trust bundle). */
const REQUEST_TIMEOUT_MS = 3000;

export function createSouthboundTokens(tessera: GatewayConfig['tessera'], log: (entry: Record<string, unknown>) => void): SouthboundTokens {
  const client: ExchangeClient = createExchangeClient({
    tokenEndpoint: tessera.tokenEndpoint,
    credentials: { clientId: tessera.clientId, clientSecret: tessera.clientSecret },
    ...(tessera.ca !== undefined && { ca: tessera.ca }),
    // A caller is waiting: fail over to 503 within seconds rather than retrying for long. Each
    // request to Tessera (the trust bundle's refetch, then the token request) may take this long,
    // and the retry budget stops a second attempt once it is spent: a silent Tessera costs a
    // caller about 6 s, not 10.
    retry: { maxAttempts: 2, baseDelayMs: 100, maxTotalMs: 3000 },
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    maxReuseMs: tessera.identityRecheck * 1000,
  });
  // Token → the caller and scope it was checked for. Keyed by the token itself: it is the very
  // string the exchange client's cache hands out each time, whose hash V8 keeps, where a key made
  // by concatenating it (a kilobyte) was hashed anew on every request.
  const checked = new Map<string, { principal: string; scope: string }>();

  return {
    async forCaller(caller, route) {
      let token: string;
      try {
        token =
          caller.subjectToken !== undefined
            ? await client.exchange({ subjectToken: caller.subjectToken, scope: route.southboundScope })
            : await client.onBehalfOf({ principal: caller.principal, scope: route.southboundScope });
      } catch (error) {
        throw refusal(error, caller, route, tessera.clientId, log);
      }
      const checkedFor = checked.get(token);
      if (checkedFor === undefined || checkedFor.principal !== caller.principal || checkedFor.scope !== route.southboundScope) {
        checkGranted(token, caller, route, tessera.clientId);
        if (checked.size >= CHECKED_LIMIT) checked.clear();
        checked.set(token, { principal: caller.principal, scope: route.southboundScope });
      }
      return token;
    },
    close: () => client.close(),
  };
}

/** Tessera's answer must be what was asked for; anything else is never sent on. */
function checkGranted(token: string, caller: Caller, route: RouteConfig, gateway: string): void {
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new GatewayError(502, 'bad_gateway', 'Tessera answered with a token that is not a JWT');
  }
  const act = claims['act'] as { sub?: unknown } | undefined;
  const aud = typeof claims['aud'] === 'string' ? [claims['aud']] : Array.isArray(claims['aud']) ? claims['aud'] : [];
  if (claims['sub'] !== caller.principal || act?.sub !== gateway || !aud.includes(route.audience)) {
    throw new GatewayError(502, 'bad_gateway', `Tessera answered with a token that is not for ${caller.principal} through ${gateway} to ${route.audience}`);
  }
  const granted = new Set(
    String(claims['scope'] ?? '')
      .split(' ')
      .map((item) => item.replace(/^([^:]+):(?!role\.|domain$)/, '$1:role.')),
  );
  const missing = route.require.filter((item) => !granted.has(item));
  if (missing.length > 0) {
    const needed = route.require.join(' ');
    throw GatewayError.insufficientScope(`${caller.principal} does not hold ${missing.join(' ')} (route "${route.name}" needs ${needed})`, needed);
  }
}

function refusal(error: unknown, caller: Caller, route: RouteConfig, gateway: string, log: (entry: Record<string, unknown>) => void): GatewayError {
  if (error instanceof GatewayError) return error;
  if (!(error instanceof TokenClientError)) {
    log({ level: 'error', msg: 'southbound token failed unexpectedly', error: String(error) });
    return GatewayError.unavailable('the gateway could not get a token for the upstream; try again later');
  }
  // Tessera's reason, clipped on its own so the gateway's advice after it always shows.
  const said = error.errorDescription ? `: ${clip(error.errorDescription, TESSERA_REASON_LIMIT)}` : '';
  if (error.rejected) {
    if (error.status === 401 || error.error === 'invalid_client') {
      log({ level: 'error', msg: "Tessera refused the gateway's own credentials", clientId: gateway, error: error.message });
      // The operator reads the cause in the log; callers learn nothing of the gateway's credentials.
      return GatewayError.unavailable('the gateway could not get a token for the upstream; try again later', error.message);
    }
    if (error.error === 'invalid_grant' || error.error === 'invalid_token') {
      return GatewayError.invalidToken(`Tessera refused to exchange the caller's token${said}`);
    }
    if (error.status === 403 || error.status === 404 || error.error === 'invalid_scope' || error.error === 'access_denied') {
      return GatewayError.insufficientScope(
        `Tessera granted ${caller.principal} no token for ${route.southboundScope} through ${gateway}${said}; ` +
          `the caller must hold the role, and the role must list ${gateway} among its actors`,
        route.southboundScope,
      );
    }
    log({ level: 'error', msg: "Tessera refused the gateway's token request", error: error.message });
    return new GatewayError(502, 'bad_gateway', "Tessera refused the gateway's request for the upstream's token; the gateway's log says why", {
      detail: error.message,
    });
  }
  log({ level: 'warn', msg: 'Tessera unreachable for a southbound token', code: error.code, error: error.message });
  return GatewayError.unavailable("Tessera could not be reached for the upstream's token; try again later", `${error.code}: ${error.message}`);
}

function clip(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit - 3)}...` : text;
}
