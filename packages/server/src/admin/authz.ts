// Who may use the admin API. The bearer token must be one Tessera accepts right now
// (oauth2/accept-token.ts: not expired or revoked, its service active and the one it was issued
// to, every role it names still held, and sent with the client certificate it is bound to, if
// any, that certificate trusted now), held by its own subject (never a token from a token
// exchange or proxy_for_principal), and must carry the admin role being used
// (`sys.auth:role.admin` for everything, `<d>:role.admin` for domain d). Removing an admin takes
// effect at once, not when their token expires. A person signed in to the console with OpenID
// Connect presents a session token of its own JWS typ instead, judged by acceptPersonSession
// (oauth2/accept-token.ts) with its own checks; the caller is then the person's principal.
//
// A service acts with every role it holds, so whoever can mint it a credential or restore its
// standing acts as it. When a service holds `<x>:role.admin` for a domain x other than its own,
// registering it under that name, adding a secret, registering a key, creating a join token or an
// API key, rotating its service-account secret, enabling it, removing or moving out its expiry
// and widening its allowedIps need x's admin rights too (for sys.auth, a system admin's):
// authorizeServiceChange. Otherwise alpha's admin could become beta's, or a system admin, through
// a service of alpha that beta's admins trusted. Reading it, changing its description and taking
// its standing or credentials away stay with its own domain's admins, whoever made it an admin
// elsewhere: disabling it, deleting it, an expiry no later than its own, allowedIps within its
// own (onlyTakesStandingAway), removing a key, revoking an API key or certificates, deleting a
// join token. Any domain's admin may name any service in its admin role, so otherwise one domain
// could stop another containing its own compromised service.
//
// The certificate a bound token comes with is held to what it was held to when the token was
// issued, checked again on every request: a self-issued one (self_signed_tls_client_auth) is
// dated here, and a registered key's removal ends the service's tokens in accept-token.ts; any other is
// verified in full (chain to Tessera's CA or a configured external CA, validity, and for
// Tessera's own its record and revocation). Matching the thumbprint alone would let a revoked or
// expired certificate keep the tokens it got.

import type { FastifyRequest } from 'fastify';
import { ClientCertificateError, certificateThumbprint, type ClientCertificates } from '../mtls/index.ts';
import { decodeProtectedHeader } from 'jose';
import { acceptAccessToken, acceptPersonSession, type AcceptTokenDeps, type RequestCertificate } from '../oauth2/accept-token.ts';
import type { OwnTokenVerifier } from '../oauth2/own-token-verifier.ts';
import { PERSON_SESSION_TYP } from '../oauth2/tokens.ts';
import { isSelfIssued } from '../oauth2/client-auth/tls_client_auth.ts';
import { allowedIpsWithin } from '../policy/ip-ranges.ts';
import { ADMIN_ROLE, SYSTEM_DOMAIN, isForeignAdminRole } from '../policy/names.ts';
import type { Membership, Service, ServiceStatus } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import { AdminError, forbidden } from './errors.ts';

export { ADMIN_ROLE, SYSTEM_DOMAIN };

export interface AdminCaller {
  principal: string;
  isSystemAdmin: boolean;
  /** Domains this caller administers through this token. */
  adminOf: ReadonlySet<string>;
  /** The bearer token of this request: what DELETE /admin/v1/session revokes, and nothing else. */
  token: { jti: string; expiresAt: number };
}

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Who is calling the admin API (/admin/v1, /auth/admin): decorated as null in those scopes and
     * set by their onRequest hook, before any body is read; absent elsewhere. Read it with adminCallerOf.
     */
    adminCaller?: AdminCaller | null;
  }
}

export interface AdminAuthDeps extends AcceptTokenDeps {
  /** And a person principal's binding, for a console session (oauth2/accept-token.ts, acceptPersonSession). */
  store: AcceptTokenDeps['store'] & Pick<Store, 'getPersonBinding'>;
  /**
   * The client certificate of a request (TLS or a trusted proxy's header) and its checks,
   * trusting every CA a bound token's certificate may come from: Tessera's, `mtls.externalCas`
   * and, when certificate login is on, `certLogin.trustedCas`. Asked only for a
   * certificate-bound token.
   */
  boundCertificates: Pick<ClientCertificates, 'presented' | 'verify' | 'checkSelfSigned'>;
  /**
   * Verifies a person's console session token (console/oidc.ts); absent when OpenID Connect
   * sign-in is off, and such tokens are then refused.
   */
  verifySession?: OwnTokenVerifier;
}

const unauthorized = (message: string): AdminError => new AdminError(401, 'invalid_token', message);

/** The caller the admin scope's onRequest hook authenticated (request.adminCaller); 401 when there is none. */
export function adminCallerOf(request: FastifyRequest): AdminCaller {
  if (!request.adminCaller) throw unauthorized('not authenticated');
  return request.adminCaller;
}

export async function authenticateAdmin(request: FastifyRequest, deps: AdminAuthDeps): Promise<AdminCaller> {
  const header = request.headers.authorization ?? '';
  const match = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(header);
  if (!match?.[1]) throw unauthorized('send "Authorization: Bearer <access token>" with a token carrying sys.auth:role.admin or <domain>:role.admin');
  // A person's session has a JWS typ of its own and its own checks (acceptPersonSession); every
  // other token is judged as a service's, whose verifier refuses that typ.
  if (isPersonSessionToken(match[1])) return authenticatePerson(deps, match[1]);
  const certificate = (): RequestCertificate | null => requestCertificate(deps.boundCertificates, request);
  const presentation = { as: 'credential', certificate } as const;
  let acceptance;
  try {
    acceptance = await acceptAccessToken(deps, match[1], presentation);
  } catch (error) {
    // Only a trusted proxy's certificate header that does not parse gets here.
    if (!(error instanceof ClientCertificateError)) throw error;
    throw unauthorized(`the client certificate could not be read: ${error.message}`);
  }
  if (!acceptance.accepted) throw unauthorized(`the bearer token was rejected: ${acceptance.reason}`);
  const { claims, roles } = acceptance.token;
  // A token another client holds for its subject (token exchange, proxy_for_principal) would make
  // changes audited as the subject's, the actor out of sight: administration is done in person.
  if (claims.client_id !== claims.sub) {
    throw unauthorized(`the bearer token acts for ${claims.sub} on behalf of ${claims.client_id}; the admin API takes a service's own token only`);
  }
  const adminOf = new Set(roles.filter((r) => r.role === ADMIN_ROLE).map((r) => r.domain));
  return { principal: claims.sub, isSystemAdmin: adminOf.has(SYSTEM_DOMAIN), adminOf, token: { jti: claims.jti, expiresAt: claims.exp * 1000 } };
}

function isPersonSessionToken(token: string): boolean {
  try {
    return decodeProtectedHeader(token).typ === PERSON_SESSION_TYP;
  } catch {
    return false;
  }
}

async function authenticatePerson(deps: AdminAuthDeps, token: string): Promise<AdminCaller> {
  if (!deps.verifySession) {
    throw unauthorized("the bearer token is a person's console session token: only /admin/v1 takes one, and only while console.oidc is set");
  }
  const acceptance = await acceptPersonSession({ verifySession: deps.verifySession, store: deps.store, now: deps.now }, token);
  if (!acceptance.accepted) throw unauthorized(`the bearer token was rejected: ${acceptance.reason}`);
  const { principal, jti, exp, adminOf } = acceptance.session;
  return { principal, isSystemAdmin: adminOf.includes(SYSTEM_DOMAIN), adminOf: new Set(adminOf), token: { jti, expiresAt: exp * 1000 } };
}

/** Throws 403 unless the caller administers `domain` (or everything, for `domain` undefined). */
export function authorize(caller: AdminCaller, domain?: string): void {
  if (caller.isSystemAdmin) return;
  if (domain !== undefined && domain !== SYSTEM_DOMAIN && caller.adminOf.has(domain)) return;
  const needs = domain === undefined ? `${SYSTEM_DOMAIN}:role.${ADMIN_ROLE}` : `${SYSTEM_DOMAIN}:role.${ADMIN_ROLE} or ${domain}:role.${ADMIN_ROLE}`;
  throw forbidden(`${caller.principal} may not do this: the token needs ${needs}, held now`);
}

/**
 * Throws 403 unless the caller may give `principal` a credential or change its standing: besides
 * its own domain (checked by `authorize` first), every other domain whose admin role it holds now.
 * One read; none for a system admin.
 */
export async function authorizeServiceChange(
  store: Pick<Store, 'membershipsOf' | 'getDomain'>,
  caller: AdminCaller,
  principal: string,
  now: number,
): Promise<void> {
  if (caller.isSystemAdmin) return;
  const memberships = (await store.membershipsOf(principal)).filter((m) => m.expiresAt === null || m.expiresAt > now);
  await refuseSecondAdminTakeover(store, caller, principal, memberships);
  const held = memberships.filter((m) => isForeignAdminRole(principal, m.domain, m.role));
  // A caller that is not a system admin never holds sys.auth's admin role.
  const missing = new Set(held.map((m) => m.domain).filter((domain) => !caller.adminOf.has(domain)));
  if (missing.size === 0) return;
  const roles = [...missing].map((domain) => `${domain}:role.${ADMIN_ROLE}`).join(' and ');
  throw forbidden(
    `${principal} holds ${roles}; giving it a credential or changing its standing needs ${roles} too, ` +
      'as whoever can act as the service acts with its roles: ask an admin who holds it',
  );
}

/**
 * An admin of a domain whose changes need a second admin (`approvalRequiredRoles`) decides other
 * admins' changes there. Whoever gives it a credential can act as it, and so be both the admin who
 * asks and the one who approves: only the service itself (rotating what it holds) and system
 * admins may give it one or change its standing, whichever domain it belongs to.
 */
async function refuseSecondAdminTakeover(
  store: Pick<Store, 'getDomain'>,
  caller: AdminCaller,
  principal: string,
  memberships: readonly Membership[],
): Promise<void> {
  if (caller.principal === principal) return;
  const deciding: string[] = [];
  for (const m of memberships) {
    if (m.role !== ADMIN_ROLE) continue;
    const domain = await store.getDomain(m.domain);
    if (domain !== null && domain.approvalRequiredRoles.length > 0) deciding.push(m.domain);
  }
  if (deciding.length === 0) return;
  const roles = deciding.map((domain) => `${domain}:role.${ADMIN_ROLE}`).join(' and ');
  throw forbidden(
    `${principal} holds ${roles}, whose domain${deciding.length > 1 ? 's need' : ' needs'} a second admin for some changes; ` +
      `whoever could act as it could approve their own changes, so only ${principal} itself or a system admin may give it a credential or change its standing`,
  );
}

/** A change of a service's standing, its fields as they will be written (undefined: unchanged). */
export interface StandingChange {
  status?: ServiceStatus;
  expiresAt?: number | null;
  allowedIps?: readonly string[];
}

/**
 * Whether `change` can only take standing away from `service`, so that its own domain's admins may
 * make it without authorizeServiceChange: disabling it, an expiry no later than the one it has (any,
 * when it has none), allowedIps within the ones it has. Enabling it (even when it is enabled: a
 * PATCH is judged by what it asks), removing its expiry, a later one, and allowedIps reaching an
 * address it could not call from are not.
 */
export function onlyTakesStandingAway(service: Pick<Service, 'expiresAt' | 'allowedIps'>, change: StandingChange): boolean {
  if (change.status !== undefined && change.status !== 'DISABLED') return false;
  if (change.expiresAt === null) return false;
  if (change.expiresAt !== undefined && service.expiresAt !== null && change.expiresAt > service.expiresAt) return false;
  return change.allowedIps === undefined || allowedIpsWithin(change.allowedIps, service.allowedIps);
}

/** The request's client certificate; throws ClientCertificateError when a proxy's header does not parse. */
function requestCertificate(certificates: AdminAuthDeps['boundCertificates'], request: FastifyRequest): RequestCertificate | null {
  const presented = certificates.presented(request);
  if (presented === null) return null;
  return {
    thumbprint: certificateThumbprint(presented.leaf),
    async verify() {
      try {
        if (isSelfIssued(presented.leaf)) certificates.checkSelfSigned(presented);
        else await certificates.verify(presented);
        return null;
      } catch (error) {
        if (!(error instanceof ClientCertificateError)) throw error;
        return error.message;
      }
    },
  };
}
