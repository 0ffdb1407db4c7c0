// Whether an access token Tessera issued is acceptable right now. The one home of that rule:
// the admin API (/admin/v1 and /auth/admin/*) and introspection ask here, and nothing else in
// the server accepts Tessera's own access tokens. A person's console session token is not one of
// them (its own typ): acceptPersonSession, below, judges it for the admin API alone. A signature
// that still verifies is not enough:
//
// - signature, `typ: at+jwt`, issuer and algorithm (own-token-verifier.ts), with the claims
//   every token we issue carries (jti, sub, exp, iat, client_id, scp, aud);
// - expiry judged strictly (the verifier allows clock skew for other instances' clocks);
// - not revoked by jti (RFC 7009);
// - the subject service exists, is active (policy/service-standing.ts), and is the service the
//   token was issued to: one deleted and registered again under the same name does not inherit
//   the old one's tokens;
// - the service has not lost a registered key since (key-removal.ts): removing or replacing one
//   ends every token of the service issued up to and including the removal's second, bound or
//   not, whatever the client authenticated with;
// - every role the token names (`scp` within `aud`) is still held: removing a member, or a
//   membership reaching its end, ends the token at once. A token that lost any of its roles is
//   refused as a whole rather than honoured with what is left (RFC 7662 allows either): its
//   holder learns at the next call that it must ask for a new one, and no caller has to reason
//   about a token whose scope says more than it is worth;
// - a token held by another principal than its subject (token exchange, proxy_for_principal;
//   policy/delegation.ts): every actor of its `act` chain (the holder, `client_id`, first; for an
//   impersonation token the holder alone) is an active service, the one it was when the token was
//   issued, that has not lost a registered key since (as for the subject): whoever took an
//   earlier actor's key may have got the token it held, and so the tokens exchanged from it;
//   every role the token names still lists every actor of its chain (or, for an impersonation
//   token, the holder among its impersonators); no token it was exchanged from (`exchanged_from`)
//   has been revoked: revoking a subject token ends every token exchanged from it, however far
//   down; and no certificate one of them was bound to (`exchanged_cnf`) is revoked or expired, as
//   for a bound token's own (below). A proxy_for_principal token (an act chain exchanged from
//   nothing) also needs its proxy to hold every role it names, as at issuance. A token whose chain
//   starts from an ID token (`exchanged_from_id_token`) needs every role it names to allow
//   ID-token subjects still (`idTokenSubjects`);
// - the certificate binding (RFC 8705 §3, `cnf.x5t#S256`). It is enforced where the token is
//   presented to Tessera as a credential: the request must come with the certificate the token
//   is bound to, and that certificate must be trusted now as it was when the token was issued
//   (chain, validity, revocation: the caller's `verify`, see admin/authz.ts). At introspection
//   the token is presented by a resource server about someone else's request, and only the
//   resource server sees the client's certificate: there the binding is reported (`cnf` in the
//   answer) for the resource server to enforce;
// - the bound certificate's standing, wherever the token is presented: when Tessera issued the
//   certificate with that thumbprint, a revoked or expired one ends the token, at the admin API
//   and at introspection alike. Revoking a stolen certificate (keyCompromise) thus ends the
//   tokens the thief got with it. A token bound to a certificate Tessera has no record of (one
//   from a configured external CA, or a self-signed one) is judged by the certificate itself
//   where it is presented: at the admin API the certificate on the request is verified in full
//   (an external CA's is not checked for revocation: Tessera does not fetch their CRLs). At
//   introspection nothing more can be known about such a certificate; the token is answered
//   active with its `cnf`, and a resource server that verifies the client's certificate (its
//   validity, and its CA's CRL) refuses what Tessera cannot. No token outlives its certificate
//   in any case: a bound token's `exp` is at most the certificate's notAfter (grants/client_credentials.ts).
//
// The lookups run together: one round trip's wait on the admin API and introspection. What each
// costs, per token (the store is the database at introspection and the admin API, the registry
// cache, from memory in steady state, on the token endpoint's exchange path; server.ts):
// - the subject's service, the jti's revocation, the subject's roles: one read each;
// - a held token: one service read per distinct actor of the chain (at most
//   tokenExchange.maxDepth), one revocation read per `exchanged_from` jti (the same bound), and
//   the proxy's roles for a proxy_for_principal token;
// - a bound token: one certificate read by thumbprint (the database on every path: the registry
//   cache keys certificates by serial), and one per distinct `exchanged_cnf` thumbprint, which
//   only tokens exchanged from bound ones carry.

import type { JWTPayload } from 'jose';
import { allowsIdTokenSubjects, exchangedCnfOf, exchangedFromOf, holderOf, roleAllows, type ActClaim, type ActingMode } from '../policy/delegation.ts';
import { ADMIN_ROLE } from '../policy/names.ts';
import { isServiceActive } from '../policy/service-standing.ts';
import { endedByKeyRemoval } from './key-removal.ts';
import type { CertificateRecord, Service } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import type { OwnTokenVerifier } from './own-token-verifier.ts';

export interface AcceptTokenDeps {
  verify: OwnTokenVerifier;
  store: Pick<Store, 'getService' | 'isTokenRevoked' | 'rolesHeld' | 'getCertificateByThumbprint'>;
  now: () => number;
}

export interface OwnAccessTokenClaims extends JWTPayload {
  sub: string;
  jti: string;
  exp: number;
  iat: number;
  client_id: string;
  cnf?: { 'x5t#S256': string };
  act?: ActClaim;
  exchanged_from?: string[];
  exchanged_cnf?: string[];
  exchanged_from_id_token?: true;
}

export interface TokenRole {
  domain: string;
  role: string;
}

/** The client certificate that came with a request. */
export interface RequestCertificate {
  /** RFC 8705 `x5t#S256`: base64url SHA-256 of the DER certificate. */
  thumbprint: string;
  /** Why the certificate is not trusted now (chain, validity, revocation), or null when it is. */
  verify(): Promise<string | null>;
}

/** How the token reached us, which decides what its certificate binding asks of the request. */
export type Presentation =
  /** The bearer presents it to Tessera (the admin API): a bound token needs its certificate here, trusted now. */
  | { as: 'credential'; certificate: () => RequestCertificate | null }
  /** A resource server asks about it (introspection): the binding is reported, not enforced. */
  | { as: 'introspection' };

export interface AcceptedToken {
  claims: OwnAccessTokenClaims;
  service: Service;
  /** The roles the token names, every one held now. */
  roles: TokenRole[];
}

export type Acceptance = { accepted: true; token: AcceptedToken } | { accepted: false; reason: string };

const refuse = (reason: string): Acceptance => ({ accepted: false, reason });

/** Signature and claims only: a token Tessera issued, whether or not it is acceptable now. Null for anything else. */
export async function readOwnAccessToken(verify: OwnTokenVerifier, token: string): Promise<OwnAccessTokenClaims | null> {
  const read = await checkedClaims(verify, token);
  return typeof read === 'string' ? null : read.claims;
}

export async function acceptAccessToken(deps: AcceptTokenDeps, token: string, presentation: Presentation): Promise<Acceptance> {
  const read = await checkedClaims(deps.verify, token);
  if (typeof read === 'string') return refuse(read);
  const { claims, roles, holder, exchangedFrom, exchangedCnf } = read;
  const now = deps.now();
  if (claims.exp * 1000 <= now) return refuse('the token has expired');
  const bound = claims.cnf?.['x5t#S256'];
  let presented: RequestCertificate | null = null;
  if (presentation.as === 'credential' && bound !== undefined) {
    presented = presentation.certificate();
    if (presented === null) {
      return refuse('the token is bound to a client certificate (cnf x5t#S256): send it over mutual TLS with that certificate (RFC 8705 §3)');
    }
    if (presented.thumbprint !== bound) {
      return refuse('the client certificate on this request is not the one the token is bound to (RFC 8705 §3)');
    }
  }

  const domains = [...new Set(roles.map((r) => r.domain))];
  // A proxy_for_principal token (an act chain, exchanged from nothing) stands on its proxy's roles too.
  const proxied = holder.mode === 'delegation' && exchangedFrom.length === 0;
  // The holder first (holderOf: actors[0] is client_id), each actor once.
  const actors = holder.mode === null ? [] : [...new Set(holder.actors)];
  const [service, revoked, held, issued, untrusted, ancestorsRevoked, actorServices, proxyHeld, ancestorCertificates] = await Promise.all([
    deps.store.getService(claims.sub),
    deps.store.isTokenRevoked(claims.jti, now),
    deps.store.rolesHeld(claims.sub, domains, now),
    bound === undefined ? null : deps.store.getCertificateByThumbprint(bound),
    presented === null ? null : presented.verify(),
    Promise.all(exchangedFrom.map((jti) => deps.store.isTokenRevoked(jti, now))),
    Promise.all(actors.map((actor) => deps.store.getService(actor))),
    proxied ? deps.store.rolesHeld(claims.client_id, domains, now) : null,
    Promise.all(exchangedCnf.map((thumbprint) => deps.store.getCertificateByThumbprint(thumbprint))),
  ]);
  if (revoked) return refuse('the token has been revoked');
  if (ancestorsRevoked.includes(true)) return refuse('a token it was exchanged from has been revoked');
  for (const [index, actorService] of actorServices.entries()) {
    const actorEnded = actorStanding(actors[index]!, index === 0, actorService, claims.iat, now);
    if (actorEnded !== null) return refuse(actorEnded);
  }
  const ended = issued === null ? null : certificateEnded(issued, now, 'the client certificate the token is bound to');
  if (ended !== null) return refuse(ended);
  for (const certificate of ancestorCertificates) {
    const ancestorEnded = certificate === null ? null : certificateEnded(certificate, now, 'the client certificate a token it was exchanged from is bound to');
    if (ancestorEnded !== null) return refuse(ancestorEnded);
  }
  if (untrusted !== null) return refuse(`the client certificate the token is bound to is not trusted now: ${untrusted}`);
  if (!isServiceActive(service, now)) return refuse(`${claims.sub} is not an active service`);
  // iat is in whole seconds: a service created after the second the token was issued in is not its subject.
  if ((claims.iat + 1) * 1000 <= service.createdAt) {
    return refuse(`the token was issued to an earlier service named ${claims.sub}, since deleted`);
  }
  const keyRemoved = endedByKeyRemoval(service, claims.iat);
  if (keyRemoved !== null) return refuse(keyRemoved);
  const holds = new Map(held.map((h) => [`${h.domain}:${h.role}`, h]));
  const lost = roles.find((r) => !holds.has(`${r.domain}:${r.role}`));
  if (lost) {
    return refuse(`${claims.sub} no longer holds ${lost.domain}:role.${lost.role}, which the token names; get a new token`);
  }
  const { mode } = holder;
  if (mode !== null) {
    const disallowed = roles.find((r) => !roleAllows(holds.get(`${r.domain}:${r.role}`)!, holder.actors, mode));
    if (disallowed) {
      const list = mode === 'impersonation' ? 'impersonators' : 'actors';
      return refuse(`${disallowed.domain}:role.${disallowed.role} no longer lists ${holder.actors.join(', ')} in its ${list}; get a new token`);
    }
  }
  if (claims.exchanged_from_id_token === true) {
    const closed = roles.find((r) => !allowsIdTokenSubjects(holds.get(`${r.domain}:${r.role}`)!));
    if (closed) {
      return refuse(`${closed.domain}:role.${closed.role} no longer allows ID-token subjects (idTokenSubjects), and the token was exchanged from an ID token`);
    }
  }
  if (proxyHeld !== null) {
    const proxyHolds = new Set(proxyHeld.map((h) => `${h.domain}:${h.role}`));
    const dropped = roles.find((r) => !proxyHolds.has(`${r.domain}:${r.role}`));
    if (dropped) {
      return refuse(`${claims.client_id}, the proxy, no longer holds ${dropped.domain}:role.${dropped.role}, which the token names; get a new token`);
    }
  }
  return { accepted: true, token: { claims, service, roles } };
}

// ---- a person's console session (console/oidc.ts) ----
//
// Not a service's token: its own JWS typ (PERSON_SESSION_TYP) and audience (the admin API's), so
// the verifier of access tokens above never accepts it, and acceptAccessToken (introspection,
// token exchange's subject and actor tokens) refuses it: it cannot be exchanged, introspected as
// active or presented anywhere a service's token is expected. Only the admin API asks here, and
// only for a token with that typ. Its checks, every request:
// - signature, typ, issuer, audience and algorithm (the session verifier), its claims well formed;
// - expiry judged strictly; its jti not revoked (DELETE /admin/v1/session);
// - every domain in `admin_of` (registry membership of `<d>:role.admin` at sign-in) still held
//   now: a removed membership ends the session at once, as for a service's token; the domains in
//   `admin_of_idp` (the IdP's groups at sign-in) cannot be re-checked without the IdP and are
//   held until the token's exp (console.oidc.sessionLifetime, at most an hour);
// - no service registered under the person's principal since: a principal is one identity, and a
//   service of that name would share its roles;
// - the principal still bound to the OpenID Connect identity the session was signed in with
//   (`sign_in`, console/oidc.ts): a system admin deleting the binding ends the session at once.

export interface PersonSessionDeps {
  verifySession: OwnTokenVerifier;
  store: Pick<Store, 'getService' | 'isTokenRevoked' | 'rolesHeld' | 'getPersonBinding'>;
  now: () => number;
}

export interface PersonSession {
  principal: string;
  jti: string;
  exp: number;
  /** Every domain the session administers now: registry-held and IdP-granted. */
  adminOf: string[];
}

export type PersonSessionAcceptance = { accepted: true; session: PersonSession } | { accepted: false; reason: string };

const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string' && item !== '');

export async function acceptPersonSession(deps: PersonSessionDeps, token: string): Promise<PersonSessionAcceptance> {
  let payload: JWTPayload;
  try {
    payload = await deps.verifySession(token);
  } catch (error) {
    return { accepted: false, reason: (error as Error).message };
  }
  const { sub, jti, exp } = payload;
  const registry = payload['admin_of'];
  const idp = payload['admin_of_idp'];
  if (payload['tessera_session'] !== 'person' || typeof sub !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') {
    return { accepted: false, reason: 'the token is not a person session token' };
  }
  if (!isStringList(registry) || !isStringList(idp)) return { accepted: false, reason: 'the session token names its admin roles malformed' };
  const signIn = payload['sign_in'] as { iss?: unknown; sub?: unknown } | undefined;
  if (typeof signIn !== 'object' || signIn === null || typeof signIn.iss !== 'string' || typeof signIn.sub !== 'string') {
    return { accepted: false, reason: 'the session token does not name the identity it was signed in with' };
  }
  const now = deps.now();
  if (exp * 1000 <= now) return { accepted: false, reason: 'the session has expired; sign in again' };
  const [revoked, held, service, binding] = await Promise.all([
    deps.store.isTokenRevoked(jti, now),
    registry.length === 0 ? [] : deps.store.rolesHeld(sub, registry, now),
    deps.store.getService(sub),
    deps.store.getPersonBinding(sub),
  ]);
  if (revoked) return { accepted: false, reason: 'the token has been revoked' };
  if (service !== null) return { accepted: false, reason: `a service named ${sub} is registered now; the person's session under that name ends` };
  if (binding === null || binding.issuer !== signIn.iss || binding.subject !== signIn.sub) {
    return { accepted: false, reason: `${sub} is no longer bound to the identity this session was signed in with; sign in again` };
  }
  const holds = new Set(held.filter((h) => h.role === ADMIN_ROLE).map((h) => h.domain));
  const lost = registry.find((domain) => !holds.has(domain));
  if (lost !== undefined) return { accepted: false, reason: `${sub} no longer holds ${lost}:role.${ADMIN_ROLE}, which the session names; sign in again` };
  return { accepted: true, session: { principal: sub, jti, exp, adminOf: [...new Set([...registry, ...idp])] } };
}

/**
 * Why an actor of the token's chain no longer stands behind it, or null: the holder's or an
 * earlier actor's service is gone, not active, another one registered since under the name, or
 * has lost a registered key since the token was issued (whoever took the key may have got the
 * tokens the actor held, and so the ones exchanged from them).
 */
function actorStanding(actor: string, holds: boolean, service: Service | null, iat: number, now: number): string | null {
  const who = holds ? `${actor}, which the token was issued to,` : `${actor}, an earlier actor of the token's act chain,`;
  if (!isServiceActive(service, now)) return `${who} is not an active service`;
  // iat is in whole seconds, as for the subject below.
  if ((iat + 1) * 1000 <= service.createdAt) return `${who} was deleted since the token was issued (a service of that name was registered again)`;
  const keyRemoved = endedByKeyRemoval(service, iat);
  return keyRemoved === null ? null : `${actor}, which ${holds ? 'holds the token' : 'acted in its chain'}: ${keyRemoved}`;
}

/** Why a certificate Tessera issued no longer vouches for the tokens bound to it, or null (notAfter is inclusive, RFC 5280). */
export function certificateEnded(certificate: CertificateRecord, now: number, bound: string): string | null {
  const { serial, revokedAt, revocationReason, notAfter } = certificate;
  const which = `${bound} (serial ${serial})`;
  if (revokedAt !== null) {
    const reason = revocationReason ?? 'unspecified';
    return `${which} was revoked at ${new Date(revokedAt).toISOString()} (${reason}); get a new certificate, then a new token`;
  }
  if (notAfter < now) return `${which} expired at ${new Date(notAfter).toISOString()}; renew it, then get a new token`;
  return null;
}

type CheckedClaims = {
  claims: OwnAccessTokenClaims;
  roles: TokenRole[];
  /** Who holds the token for its subject (policy/delegation.ts): mode null when the subject does. */
  holder: { actors: string[]; mode: ActingMode | null };
  exchangedFrom: string[];
  exchangedCnf: string[];
};

/** The claims and the roles they name, or why the token is not one Tessera issued. */
async function checkedClaims(verify: OwnTokenVerifier, token: string): Promise<CheckedClaims | string> {
  let payload: JWTPayload;
  try {
    payload = await verify(token);
  } catch (error) {
    return (error as Error).message;
  }
  // RFC 9068 §2.2 makes jti required; a token without one could never be revoked.
  for (const name of ['sub', 'jti', 'client_id'] as const) {
    if (typeof payload[name] !== 'string') return `the token has no ${name} claim`;
  }
  if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number') return 'the token has no numeric exp and iat claims';
  const cnf = payload['cnf'];
  const thumbprint = typeof cnf === 'object' && cnf !== null ? (cnf as Record<string, unknown>)['x5t#S256'] : undefined;
  if (cnf !== undefined && typeof thumbprint !== 'string') return 'the token has a cnf claim without an x5t#S256 thumbprint';
  const roles = rolesNamed(payload);
  if (roles === null) return 'the token does not name its roles in scp and aud';
  const claims = payload as OwnAccessTokenClaims;
  const holder = holderOf(claims);
  if (holder === null) return 'the token names its actors inconsistently (act and client_id disagree)';
  const exchangedFrom = exchangedFromOf(payload['exchanged_from']);
  if (exchangedFrom === null) return 'the token has a malformed exchanged_from claim';
  const exchangedCnf = exchangedCnfOf(payload['exchanged_cnf']);
  if (exchangedCnf === null) return 'the token has a malformed exchanged_cnf claim';
  const fromIdToken = payload['exchanged_from_id_token'];
  if (fromIdToken !== undefined && (fromIdToken !== true || exchangedFrom.length === 0)) return 'the token has a malformed exchanged_from_id_token claim';
  return { claims, roles, holder, exchangedFrom, exchangedCnf: [...new Set(exchangedCnf)] };
}

/**
 * The roles a token names, from `scp` read with `aud` (tokens.ts): one domain has `aud` a string
 * and bare role names; several have an array and `<domain>:<role>`. Domain and role names have
 * no ':', so the reading is exact.
 */
function rolesNamed(payload: JWTPayload): TokenRole[] | null {
  const scp = payload['scp'];
  const aud = payload.aud;
  const wellFormed = Array.isArray(scp) && scp.length > 0 && scp.every((item) => typeof item === 'string' && item !== '');
  if (!wellFormed) return null;
  const items = scp as string[];
  if (typeof aud === 'string') {
    return items.every((role) => !role.includes(':')) ? items.map((role) => ({ domain: aud, role })) : null;
  }
  if (!Array.isArray(aud)) return null;
  const roles: TokenRole[] = [];
  for (const item of items) {
    const colon = item.indexOf(':');
    const [domain, role] = [item.slice(0, colon), item.slice(colon + 1)];
    if (colon <= 0 || role === '' || role.includes(':') || !aud.includes(domain)) return null;
    roles.push({ domain, role });
  }
  return roles;
}
