// The service-account JSON dialect (docs/http-api.md), mounted under /auth: a JSON management API
// for service accounts, a JSON token endpoint and the JWKS at the dialect's path. It is a
// translation layer only: accounts are Tessera services, scopes are role memberships, tokens
// come from the shared TokenService, and admin callers are authenticated and authorized exactly
// as on /admin/v1.

import type { FastifyInstance } from 'fastify';
import { privateAnswers } from '../http/plumbing.ts';
import { adminCallerOf, authenticateAdmin, type AdminAuthDeps } from '../admin/authz.ts';
import { BEARER_CHALLENGE } from '../http/authorization.ts';
import { errorHandler, jsonDialect, type ErrorDialect } from '../http/errors.ts';
import type { SecretHasher } from '../keys/client-secrets.ts';
import type { TokenService } from '../oauth2/token-service.ts';
import type { Store } from '../storage/store.ts';
import { accountRoutes } from './admin-routes.ts';
import { tokenRoute } from './token-route.ts';

export const SERVICE_ACCOUNTS_PREFIX = '/auth';

export interface ServiceAccountsDeps extends AdminAuthDeps {
  store: Store;
  /** Where `/auth/token` looks its client up: the token endpoint's registry cache (storage/registry-cache.ts). */
  clients?: Pick<Store, 'getClientForAuth'>;
  hasher: SecretHasher;
  tokens: TokenService;
  /** The domain that holds the accounts' principals (config `serviceAccounts.domain`). */
  domain: string;
  /** `console.oidc.principal.domain` when people sign in to the console: no account is created there. */
  peopleDomain?: string | null;
  /** The serialized JWKS, the very bytes /oauth2/keys serves. */
  jwksJson: () => string;
  jwksMaxAge: number;
}

/**
 * The admin API's answers, but AUTH_102 ("insufficient scope") is what a token without the admin
 * role it needs gets; other refusals keep their short names.
 */
export const accountsDialect: ErrorDialect = jsonDialect({
  challenge: () => BEARER_CHALLENGE,
  name: (answer) => (answer.status === 403 ? 'AUTH_102' : answer.error),
});

export async function serviceAccountsApi(app: FastifyInstance, deps: ServiceAccountsDeps): Promise<void> {
  await app.register(
    async (auth) => {
      auth.get(
        '/.well-known/jwks.json',
        { schema: { summary: "The token-signing public keys (JWKS), at the service-account JSON dialect's path", tags: ['service-accounts'] } },
        async (_request, reply) =>
          reply
            .header('content-type', 'application/jwk-set+json; charset=utf-8')
            .header('cache-control', `public, max-age=${deps.jwksMaxAge}`)
            .send(deps.jwksJson()),
      );

      await tokenRoute(auth, { tokens: deps.tokens, store: deps.clients ?? deps.store, hasher: deps.hasher });

      await auth.register(async (admin) => {
        admin.decorateRequest('adminCaller', null);
        privateAnswers(admin);
        // 401 before any body is looked at, as on /admin/v1.
        admin.addHook('onRequest', async (request) => {
          request.adminCaller = await authenticateAdmin(request, deps);
        });
        admin.setErrorHandler(errorHandler(accountsDialect));
        accountRoutes(admin, {
          store: deps.store,
          hasher: deps.hasher,
          domain: deps.domain,
          peopleDomain: deps.peopleDomain ?? null,
          now: deps.now,
          callerOf: adminCallerOf,
        });
      });
    },
    { prefix: SERVICE_ACCOUNTS_PREFIX },
  );
}
