// The admin API under /admin/v1: every request is authenticated first (401 before any body
// is looked at), then each route authorizes the caller for the domain it touches. A route whose
// path names a domain (`/domains/:domain/...`) is authorized for that domain here too, before its
// body is read: a caller that does not administer the domain gets its 403 without the server
// parsing a role's member list of megabytes. The routes still authorize (some need more).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SecretHasher } from '../keys/client-secrets.ts';
import { errorHandler } from '../http/errors.ts';
import { privateAnswers } from '../http/plumbing.ts';
import type { Readiness } from '../http/health.ts';
import type { SigningKeyRecord } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import { adminCallerOf, authenticateAdmin, authorize, type AdminAuthDeps, type AdminCaller } from './authz.ts';
import { adminDialect } from './errors.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { approvalRoutes } from './routes/approvals.ts';
import { auditRoutes } from './routes/audit.ts';
import { caRoutes, type CaAdmin } from './routes/ca.ts';
import { callerRoutes } from './routes/callers.ts';
import { certificateRoutes } from './routes/certificates.ts';
import { domainRoutes } from './routes/domains.ts';
import { joinTokenRoutes, type JoinTokenLimits } from './routes/join-tokens.ts';
import { reviewRoutes } from './routes/reviews.ts';
import { roleRoutes } from './routes/roles.ts';
import { serviceCertificateRoutes } from './routes/service-certificates.ts';
import { serviceRoutes } from './routes/services.ts';
import { sessionRoutes } from './routes/session.ts';
import { systemRoutes } from './routes/system.ts';

export const ADMIN_PREFIX = '/admin/v1';

export interface AdminDeps extends AdminAuthDeps {
  store: Store;
  hasher: SecretHasher;
  signingKeys: {
    rotate(actor: string): Promise<{ kid: string; activatesAt: number; created: boolean }>;
    /** When the scheduler will next create a key, given the stored keys; null when none is scheduled. */
    nextRotationAt(keys: readonly SigningKeyRecord[]): number | null;
  };
  /** The storage backend and its health now (GET /admin/v1/system/storage). */
  storage: StorageStatus;
  joinTokens: JoinTokenLimits;
  /** The CA's rotation and generations (/admin/v1/ca); absent, those routes are not served. */
  ca?: CaAdmin;
  /**
   * `console.oidc.principal.domain` when people sign in to the console (console/oidc.ts): its
   * principals are people's, so no service is registered there (routes/services.ts).
   */
  peopleDomain?: string | null;
}

export interface StorageStatus {
  backend: 'sqlite' | 'postgres';
  /** Where the database is, without credentials. */
  location: string;
  /** What /readyz checks (http/health.ts readiness). */
  readiness(log: { warn(details: object, message: string): void }): Promise<Readiness>;
}

export interface AdminRouteDeps extends AdminDeps {
  callerOf(request: FastifyRequest): AdminCaller;
}

export async function adminApi(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const routeDeps: AdminRouteDeps = { ...deps, callerOf: adminCallerOf };

  await app.register(
    async (scope) => {
      scope.decorateRequest('adminCaller', null);
      privateAnswers(scope);
      scope.addHook('onRequest', async (request) => {
        const caller = await authenticateAdmin(request, deps);
        request.adminCaller = caller;
        const params: unknown = request.params;
        const domain = typeof params === 'object' && params !== null && 'domain' in params ? params.domain : undefined;
        if (typeof domain === 'string') authorize(caller, domain);
      });
      scope.setErrorHandler(errorHandler(adminDialect));
      domainRoutes(scope, routeDeps);
      serviceRoutes(scope, routeDeps);
      apiKeyRoutes(scope, routeDeps);
      certificateRoutes(scope, routeDeps);
      serviceCertificateRoutes(scope, routeDeps);
      roleRoutes(scope, routeDeps);
      reviewRoutes(scope, routeDeps);
      approvalRoutes(scope, routeDeps);
      callerRoutes(scope, routeDeps);
      systemRoutes(scope, routeDeps);
      auditRoutes(scope, routeDeps);
      caRoutes(scope, routeDeps);
      joinTokenRoutes(scope, routeDeps);
      sessionRoutes(scope, routeDeps);
    },
    { prefix: ADMIN_PREFIX },
  );
}
