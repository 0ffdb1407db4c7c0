// The SDK on the other side of a soak: a verifier that checks the tokens the load generator
// samples (as a resource server receiving them would), and a few token clients that keep
// getting short-lived tokens for themselves, so their cache, background refresh and forced
// refresh run for the whole soak too; every token they hand out is verified as well.

import {
  createTokenClient,
  createVerifier,
  InvalidTokenError,
  TokenClientError,
  VerifierError,
  type AccessTokenRequest,
  type CompiledRequirement,
  type TokenClient,
} from '../../packages/sdk/src/index.ts';

export interface SdkSideOptions {
  issuer: string;
  jwksUri: string;
  tokenEndpoint: string;
  /** The load generator's client and the roles its tokens must carry, all in `audience`. */
  audience: string;
  loadRoles: readonly string[];
  /** The token clients' own credentials, holding `clientRoles` in `audience`. */
  clientId: string;
  clientSecret: string;
  clientRoles: readonly string[];
  tokenClients: number;
  /** How often each token client asks for its token. */
  callEveryMs: number;
  /** Lifetime the token clients ask for: short, so they refresh in the background during the soak. */
  tokenLifetimeSeconds: number;
  /** Every how many-th call forces a new token, as after a resource server refused one. */
  forceRefreshEvery: number;
}

export interface SdkCounts {
  /** Sampled load-generator tokens verified. */
  verified: number;
  /** Token-client calls that returned a token which then verified. */
  clientCalls: number;
  /** Distinct tokens the token clients handed out: fetched, refreshed or forced. */
  clientTokens: number;
  /** Failed verifications, token-client errors and background-refresh errors, by reason. */
  failures: Record<string, number>;
  failed: number;
  /** The first few failures in full. */
  examples: string[];
}

export interface SdkSide {
  /** Verifies one token the load generator received; the outcome is counted. */
  verify(token: string): void;
  counts(): SdkCounts;
  /** Stops the token clients and waits for every verification in flight. */
  stop(): Promise<SdkCounts>;
}

const EXAMPLES_KEPT = 5;

export function startSdkSide(options: SdkSideOptions): SdkSide {
  const verifier = createVerifier({ issuer: options.issuer, jwksUri: options.jwksUri, audience: options.audience });
  const loadRequirement = verifier.requirement({ roles: { domain: options.audience, roles: options.loadRoles, match: 'all' } });
  const counts: SdkCounts = { verified: 0, clientCalls: 0, clientTokens: 0, failures: {}, failed: 0, examples: [] };
  const pending = new Set<Promise<void>>();
  const fail = (reason: string, error: unknown): void => {
    counts.failures[reason] = (counts.failures[reason] ?? 0) + 1;
    counts.failed += 1;
    if (counts.examples.length < EXAMPLES_KEPT) counts.examples.push(`${reason}: ${(error as Error).message}`);
  };
  const track = (work: Promise<void>): void => {
    pending.add(work);
    void work.finally(() => pending.delete(work));
  };

  const verify = (token: string): void => {
    track(
      verifier.verify(token, { requirement: loadRequirement }).then(
        () => void (counts.verified += 1),
        (error: unknown) => fail(`verify ${reasonOf(error)}`, error),
      ),
    );
  };

  // Each client asks differently, so the clients hold differently scoped tokens.
  const [first, ...rest] = options.clientRoles;
  const shapes: { request: AccessTokenRequest; requirement: CompiledRequirement }[] = [
    {
      request: { domain: options.audience },
      requirement: verifier.requirement({ roles: { domain: options.audience, roles: options.clientRoles, match: 'all' } }),
    },
    { request: { domain: options.audience, roles: [first!] }, requirement: verifier.requirement({ scope: [`${options.audience}:role.${first!}`] }) },
    {
      request: { scope: rest.map((role) => `${options.audience}:role.${role}`).join(' ') || `${options.audience}:domain` },
      requirement: verifier.requirement({ roles: { domain: options.audience, roles: rest.length > 0 ? rest : options.clientRoles } }),
    },
  ];
  const clients: { client: TokenClient; timer?: NodeJS.Timeout; seen: Set<string> }[] = [];
  let stopped = false;
  for (let i = 0; i < options.tokenClients; i += 1) {
    const shape = shapes[i % shapes.length]!;
    const request = { ...shape.request, expiresIn: options.tokenLifetimeSeconds };
    const client = createTokenClient({
      tokenEndpoint: options.tokenEndpoint,
      credentials: { clientId: options.clientId, clientSecret: options.clientSecret },
      onRefreshError: (error) => fail(`background refresh ${error.code}`, error),
    });
    const entry: (typeof clients)[number] = { client, seen: new Set() };
    clients.push(entry);
    let calls = 0;
    const call = async (): Promise<void> => {
      calls += 1;
      let token: string;
      try {
        token = await client.getAccessToken(request, { forceRefresh: calls % options.forceRefreshEvery === 0 });
      } catch (error) {
        if (!stopped) fail(`token client ${reasonOf(error)}`, error);
        return;
      }
      if (!entry.seen.has(token)) {
        entry.seen.add(token);
        counts.clientTokens += 1;
      }
      try {
        await verifier.verify(token, { requirement: shape.requirement });
        counts.clientCalls += 1;
      } catch (error) {
        fail(`verify (token client) ${reasonOf(error)}`, error);
      }
    };
    // Spread over the period, so the clients do not all call at once.
    const loop = (): void => {
      if (stopped) return;
      track(
        call().finally(() => {
          if (!stopped) entry.timer = setTimeout(loop, options.callEveryMs);
        }),
      );
    };
    entry.timer = setTimeout(loop, (options.callEveryMs * i) / options.tokenClients);
  }

  const snapshot = (): SdkCounts => ({ ...counts, failures: { ...counts.failures }, examples: [...counts.examples] });
  return {
    verify,
    counts: snapshot,
    async stop() {
      stopped = true;
      for (const entry of clients) clearTimeout(entry.timer);
      while (pending.size > 0) await Promise.allSettled([...pending]);
      await Promise.all(clients.map((entry) => entry.client.close()));
      return snapshot();
    },
  };
}

function reasonOf(error: unknown): string {
  if (error instanceof InvalidTokenError) return `${error.code}:${error.reason}`;
  if (error instanceof VerifierError || error instanceof TokenClientError) return error.code;
  return (error as Error).name ?? 'error';
}
