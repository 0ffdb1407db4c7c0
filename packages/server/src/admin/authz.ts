// Who may use the admin API. The bearer token must be one Tessera issued and must carry the
// admin role being used (`sys.auth:role.admin` for everything, `<d>:role.admin` for domain d),
// and that membership must still hold right now: removing an admin takes effect at once,
// not when their token expires.

import type { FastifyRequest } from 'fastify';
import type { OwnTokenVerifier } from '../oauth2/own-token-verifier.ts';
import type { Store } from '../storage/store.ts';
import { AdminError, forbidden } from './errors.ts';

export const SYSTEM_DOMAIN = 'sys.auth';
export const ADMIN_ROLE = 'admin';

export interface AdminCaller {
  principal: string;
  isSystemAdmin: boolean;
  /** Domains this caller administers through this token. */
  adminOf: ReadonlySet<string>;
}

export interface AdminAuthDeps {
  verify: OwnTokenVerifier;
  store: Pick<Store, 'getService' | 'rolesHeld'>;
  now: () => number;
}

const unauthorized = (message: string): AdminError => new AdminError(401, 'invalid_token', message);

export async function authenticateAdmin(request: FastifyRequest, deps: AdminAuthDeps): Promise<AdminCaller> {
  const header = request.headers.authorization ?? '';
  const match = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(header);
  if (!match?.[1]) throw unauthorized('send "Authorization: Bearer <access token>" with a token carrying sys.auth:role.admin or <domain>:role.admin');
  let payload;
  try {
    payload = await deps.verify(match[1]);
  } catch (error) {
    throw unauthorized(`the bearer token was rejected: ${(error as Error).message}`);
  }
  const principal = typeof payload.sub === 'string' ? payload.sub : '';
  const claimed = adminDomainsInScope(typeof payload['scope'] === 'string' ? payload['scope'] : '');
  const now = deps.now();
  const [service, held] = await Promise.all([deps.store.getService(principal), deps.store.rolesHeld(principal, [...claimed], now)]);
  if (!service || service.status !== 'ACTIVE' || (service.expiresAt !== null && service.expiresAt <= now)) {
    throw unauthorized(`${principal} is not an active service`);
  }
  const adminOf = new Set(held.filter((h) => h.role === ADMIN_ROLE).map((h) => h.domain));
  return { principal, isSystemAdmin: adminOf.has(SYSTEM_DOMAIN), adminOf };
}

function adminDomainsInScope(scope: string): Set<string> {
  const domains = new Set<string>();
  for (const item of scope.split(' ')) {
    for (const suffix of [`:role.${ADMIN_ROLE}`, `:${ADMIN_ROLE}`]) {
      if (item.endsWith(suffix)) domains.add(item.slice(0, -suffix.length));
    }
  }
  return domains;
}

/** Throws 403 unless the caller administers `domain` (or everything, for `domain` undefined). */
export function authorize(caller: AdminCaller, domain?: string): void {
  if (caller.isSystemAdmin) return;
  if (domain !== undefined && domain !== SYSTEM_DOMAIN && caller.adminOf.has(domain)) return;
  const needs = domain === undefined ? `${SYSTEM_DOMAIN}:role.${ADMIN_ROLE}` : `${SYSTEM_DOMAIN}:role.${ADMIN_ROLE} or ${domain}:role.${ADMIN_ROLE}`;
  throw forbidden(`${caller.principal} may not do this: the token needs ${needs}, held now`);
}
