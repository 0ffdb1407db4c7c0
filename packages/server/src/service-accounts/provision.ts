// Creating a service account of the JSON dialect: a Tessera service `<serviceAccounts.domain>.<name>`
// with a generated serviceAccountId and an opaque clientId, whose `scopes` become role
// memberships of its principal.
//
// Who may do what:
// - creating an account needs admin rights on the accounts' domain (`sys.auth:role.admin` or
//   `<serviceAccounts.domain>:role.admin`);
// - each granted scope `<d>:<r>` also needs admin rights on `d`: a domain's admins decide who
//   holds its roles, here as in the admin API;
// - a missing domain or role (the accounts' domain included) is created only for a system
//   admin; a domain admin gets 403 and creates the role first (PUT /admin/v1/domains/{d}/roles/{r});
// - a name already listed in another domain's admin role needs that domain's admin rights too
//   (admin/authz.ts, authorizeServiceChange): the new account would hold the role.
// - a scope naming a role its domain lists in approvalRequiredRoles is refused (409): such a
//   membership is added through the admin API, where a second admin approves it.
// Every right is checked before anything is written, so a refused request changes nothing.

import { randomBytes } from 'node:crypto';
import { SYSTEM_DOMAIN, authorize, authorizeServiceChange, type AdminCaller } from '../admin/authz.ts';
import { refuseInPeopleDomain } from '../admin/routes/services.ts';
import { AdminError, forbidden } from '../admin/errors.ts';
import { generateClientSecret, generateSecretId, type SecretHasher } from '../keys/client-secrets.ts';
import { ConflictError } from '../storage/errors.ts';
import type { Actor, Service } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import type { ScopeGrant } from './wire.ts';

export interface ProvisionDeps {
  store: Store;
  hasher: SecretHasher;
  /** The domain that holds the accounts' principals (config `serviceAccounts.domain`). */
  domain: string;
  now: () => number;
  /** `console.oidc.principal.domain` when people sign in to the console: no account is created there. */
  peopleDomain?: string | null;
}

export interface AccountRequest {
  name: string;
  description: string | null;
  scopes: ScopeGrant[];
  allowedIps: string[];
  expiresAt: number | null;
}

/** The dialect shows secrets as `cs_…`; the prefix lets secret scanners recognise a leaked one. */
export const newClientSecret = (): string => `cs_${generateClientSecret()}`;

/** A clientId or serviceAccountId that collides is drawn again; more than this many in a row is not chance. */
const ID_ATTEMPTS = 5;

export async function createAccount(deps: ProvisionDeps, caller: AdminCaller, request: AccountRequest): Promise<{ service: Service; clientSecret: string }> {
  const { store } = deps;
  const by: Actor = { actor: caller.principal };
  authorize(caller, deps.domain);
  refuseInPeopleDomain(deps.peopleDomain, deps.domain);
  const scopeDomains = [...new Set(request.scopes.map((s) => s.domain))];
  for (const domain of scopeDomains) authorize(caller, domain);

  const missingDomains = await missing([deps.domain, ...scopeDomains], async (d) => (await store.getDomain(d)) !== null);
  const missingRoles = await missing(request.scopes, async (s) => (await store.getRole(s.domain, s.role)) !== null);
  if (!caller.isSystemAdmin && (missingDomains.length > 0 || missingRoles.length > 0)) {
    const what = [...missingDomains.map((d) => `domain "${d}"`), ...missingRoles.map((s) => `role ${s.domain}:role.${s.role}`)].join(', ');
    throw forbidden(
      `${what} does not exist, and only a system admin (${SYSTEM_DOMAIN}:role.admin) creates missing domains and roles here; ` +
        'create the role first with PUT /admin/v1/domains/{domain}/roles/{role}',
    );
  }
  // A role whose member changes need a second admin (approvalRequiredRoles) gets no member here,
  // where nothing can wait for an approval: that would be a way around it.
  for (const domain of scopeDomains) {
    const gated = new Set((await store.getDomain(domain))?.approvalRequiredRoles ?? []);
    const held = request.scopes.filter((s) => s.domain === domain && gated.has(s.role));
    if (held.length > 0) {
      throw new AdminError(
        409,
        'conflict',
        `${held.map((s) => `${s.domain}:role.${s.role}`).join(', ')} needs a second admin's approval for member changes ` +
          `(approvalRequiredRoles of ${domain}); ` +
          'create the account without that scope, then add the membership with PUT /admin/v1/domains/{domain}/roles/{role}/members/{principal} ' +
          'for another admin to approve',
      );
    }
  }
  const principal = `${deps.domain}.${request.name}`;
  if (await store.getService(principal)) throw duplicate(request.name);
  // The name may already be a member of another domain's admin role; the new account would hold it.
  await authorizeServiceChange(store, caller, principal, deps.now());

  for (const domain of missingDomains) {
    const description = domain === deps.domain ? 'Service accounts (/auth/admin/service-accounts)' : null;
    await ignoreConflict(store.createDomain({ name: domain, description }, by), async () => (await store.getDomain(domain)) !== null);
  }
  // putRole without members keeps any a concurrent request added: creating a role is idempotent.
  for (const grant of missingRoles) await store.putRole(grant.domain, grant.role, undefined, by);

  const clientSecret = newClientSecret();
  const service = await createService(deps, request, clientSecret, by);
  try {
    for (const grant of request.scopes) {
      await store.putRoleMember(grant.domain, grant.role, { principal, expiresAt: null }, by);
    }
  } catch (error) {
    // Half an account would hold fewer roles than its creator was told; take it back.
    await store.deleteService(principal, by).catch(() => undefined);
    throw error;
  }
  return { service, clientSecret };
}

async function createService(deps: ProvisionDeps, request: AccountRequest, clientSecret: string, by: Actor): Promise<Service> {
  const secret = { id: generateSecretId(), hash: deps.hasher.hash(clientSecret) };
  for (let attempt = 1; ; attempt++) {
    try {
      return await deps.store.createService(
        {
          domain: deps.domain,
          name: request.name,
          accountId: `svc_${randomBytes(8).toString('hex')}`,
          clientId: clientIdFor(request.name),
          description: request.description,
          allowedIps: request.allowedIps,
          expiresAt: request.expiresAt,
        },
        { secret },
        by,
      );
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      // The name is what the caller chose; the ids are ours to draw again.
      if (attempt >= ID_ATTEMPTS || (await deps.store.getService(`${deps.domain}.${request.name}`))) throw duplicate(request.name);
    }
  }
}

/** `val_svc_client_a1b2c3` for `validation-service`, as the dialect's clients expect. Never contains a dot, so it never equals a principal. */
function clientIdFor(name: string): string {
  const prefix = name.replace(/[^a-z0-9]/g, '').slice(0, 3) || 'svc';
  return `${prefix}_svc_client_${randomBytes(3).toString('hex')}`;
}

function duplicate(name: string): AdminError {
  return new AdminError(409, 'conflict', `a service account named "${name}" already exists; choose another name or delete that account first`);
}

async function missing<T>(items: readonly T[], exists: (item: T) => Promise<boolean>): Promise<T[]> {
  const unique = [...new Set(items)];
  const found = await Promise.all(unique.map(exists));
  return unique.filter((_, i) => !found[i]);
}

async function ignoreConflict(creation: Promise<unknown>, created: () => Promise<boolean>): Promise<void> {
  try {
    await creation;
  } catch (error) {
    // Another request created it first, which is all this wanted; any other conflict (a domain
    // name whose certificate DNS label another domain has) is the caller's to fix.
    if (!(error instanceof ConflictError) || !(await created())) throw error;
  }
}
