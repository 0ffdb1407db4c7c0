// The records Tessera keeps. Times are milliseconds since the epoch in storage and ISO 8601
// strings on the wire; `null` means "never" for expiries.

export type ServiceStatus = 'ACTIVE' | 'DISABLED';

export interface Domain {
  name: string;
  description: string | null;
  /** Longest access token (seconds) for roles of this domain; null = the server's maximum. */
  tokenMaxLifetime: number | null;
  /** Roles whose member changes made through the admin API wait for a second admin of the domain (PendingChange). */
  approvalRequiredRoles: string[];
  createdAt: number;
  updatedAt: number;
}

export interface Service {
  /** `<domain>.<service>`: the identity, and the OAuth client_id unless `clientId` says otherwise. */
  principal: string;
  domain: string;
  name: string;
  clientId: string;
  description: string | null;
  /** Set for accounts created through the service-account JSON dialect (`/auth/admin/service-accounts`). */
  accountId: string | null;
  status: ServiceStatus;
  /** CIDR blocks (IPv4 or IPv6) the service may call from; empty means anywhere. */
  allowedIps: string[];
  expiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  /**
   * When a registered public key was last removed or replaced by another PEM; null when never.
   * Ends every token of the service issued up to and including that second (oauth2/key-removal.ts).
   */
  keyRemovedAt: number | null;
}

export interface ClientSecretRecord {
  id: string;
  principal: string;
  /** Keyed hash of the secret (see keys/secret-hash.ts); never the secret itself. */
  hash: string;
  createdAt: number;
  /** Set when a newer secret replaced this one: the end of its grace period. */
  expiresAt: number | null;
}

export interface PublicKeyRecord {
  principal: string;
  kid: string;
  pem: string;
  createdAt: number;
}

export interface RoleMember {
  principal: string;
  expiresAt: number | null;
  /**
   * When the membership is due for review (ms since the epoch): it still grants after that, but is
   * listed as due (GET /admin/v1/reviews). Absent (or null) when none is set; read back only when set.
   */
  reviewBy?: number | null;
}

/** A membership due for review or expiring (GET /admin/v1/reviews), with the earlier of its dates. */
export interface DueMembership {
  domain: string;
  role: string;
  principal: string;
  expiresAt: number | null;
  reviewBy: number | null;
  /** The earlier of reviewBy and expiresAt (those set): the order of the list. */
  dueAt: number;
}

export interface DueMembershipQuery {
  /** Only memberships of these domains; undefined: every domain. */
  domains?: readonly string[];
  /** Memberships whose reviewBy or expiresAt is at or before this time. */
  until: number;
  limit: number;
  /** Only memberships after this one in the order (dueAt, domain, role, principal). */
  after?: { dueAt: number; domain: string; role: string; principal: string };
}

/** A membership a bulk review action (POST /admin/v1/reviews) applies to. */
export interface ReviewItem {
  domain: string;
  role: string;
  principal: string;
}

/** What a bulk review action does: set a new review date (and optionally expiry), or remove the memberships. */
export type ReviewAction = { kind: 'extend'; reviewBy: number; expiresAt?: number | null } | { kind: 'remove' };

/** What an applied change's audit event records besides the change: the reason given, and the approval it came through. */
export interface AuditNote {
  reason?: string;
  /**
   * Set when the write applies a pending change on its approval: the write first moves that change
   * from pending to approved, in its own transaction (AlreadyDecidedError when another decision came
   * first or it expired), so the decision and the change commit together or not at all.
   */
  approval?: { id: string; requestedBy: string; approvedBy: string };
  /** With `approval`: the approver's reason, the approval event's outcome (not part of the applied change's audit). */
  approvalOutcome?: string | null;
}

export type PendingChangeStatus = 'pending' | 'approved' | 'rejected' | 'failed';

/** A change of an approval-required role (or of that list) waiting for a second admin of its domain. */
export interface PendingChange {
  id: string;
  domain: string;
  /** The role it changes; null for a change of the domain's approvalRequiredRoles. */
  role: string | null;
  /** What the request was, e.g. `member.put`, `role.delete`, `reviews`, `domain.update` (admin/approvals.ts). */
  kind: string;
  /** The request as given: its path parameters and body. */
  change: unknown;
  requestedBy: string;
  requestedAt: number;
  /** After this it can no longer be approved. */
  expiresAt: number;
  status: PendingChangeStatus;
  decidedBy: string | null;
  decidedAt: number | null;
  /** A rejection's reason, or why applying it failed. */
  outcome: string | null;
}

/** The OpenID Connect identity a person principal is bound to (console sign-in; storage/sql/people.ts). */
export interface PersonBinding {
  principal: string;
  /** The OpenID provider's issuer and its `sub` for the person. */
  issuer: string;
  subject: string;
  boundAt: number;
}

export interface Role {
  domain: string;
  name: string;
  members: RoleMember[];
  /** Longest access token (seconds) granting this role; null = the domain's or server's maximum. */
  tokenMaxLifetime: number | null;
  /** Principals that may act for a member (token exchange, proxy_for_principal): the token names them in `act`. */
  actors: string[];
  /** Principals that may impersonate a member: a token without `act`, asked for explicitly. */
  impersonators: string[];
  /** Whether its actors may get its tokens for a member by exchanging the member's ID token (token exchange). */
  idTokenSubjects: boolean;
  createdAt: number;
  updatedAt: number;
}

/** Who may act for a role's members (Role.actors, Role.impersonators, Role.idTokenSubjects); absent from a HeldRole when both lists are empty. */
export interface RoleDelegation {
  actors: readonly string[];
  impersonators: readonly string[];
  idTokenSubjects: boolean;
}

export interface HeldRole {
  domain: string;
  role: string;
  /** The smaller of the role's and its domain's tokenMaxLifetime (seconds); null when neither is set. */
  maxLifetime: number | null;
  /** When the membership that grants the role ends (ms since the epoch); null when it does not. */
  expiresAt: number | null;
  /** The role's actors and impersonators; absent when the role names neither. */
  delegation?: RoleDelegation;
}

export interface Membership {
  domain: string;
  role: string;
  expiresAt: number | null;
}

/** An API key: shown once; only the keyed hash of its secret part is stored. */
export interface ApiKeyRecord {
  id: string;
  principal: string;
  /** The domain whose resource servers accept the key: the `aud` introspection answers. */
  audience: string;
  hash: string;
  description: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

/** A revoked access token (RFC 7009), kept until the token would have expired anyway. */
export interface RevokedToken {
  jti: string;
  principal: string;
  expiresAt: number;
}

/** Tokens one principal obtained for one domain in one hour, with the same roles and actor (who calls whom). */
export interface CallerCount {
  domain: string;
  /** The token's subject. */
  principal: string;
  /** The client that obtained it for the subject (token exchange, proxy_for_principal); '' when the subject asked itself. */
  actor: string;
  /** The roles granted in the domain, sorted, space-separated. */
  roles: string;
  /** The hour's start, epoch ms. */
  hour: number;
  count: number;
  /** The first and last issue times within the hour, epoch ms. */
  firstAt: number;
  lastAt: number;
}

/** The client endpoints whose outcomes are counted by the hour (token rates). */
export type TokenRateEndpoint = 'token' | 'introspect' | 'revoke';

/** Outcomes of one endpoint in one hour: `issued` (token endpoint), or a refusal's error code. */
export interface TokenRateCount {
  /** The hour's start, epoch ms. */
  hour: number;
  endpoint: TokenRateEndpoint;
  /** `issued`, or the error code of the refusal (`invalid_client`, `AUTH_106`…). */
  outcome: string;
  count: number;
}

/** A caller of a domain over a period: its counts summed over the hours. */
export interface CallerSummary {
  principal: string;
  actor: string;
  roles: string;
  count: number;
  firstAt: number;
  lastAt: number;
}

export interface CallerQuery {
  domain: string;
  /** Epoch ms: hours starting at or after it. */
  since: number;
  limit: number;
  /** The key the page starts after: principal, actor, roles. */
  after?: readonly [string, string, string];
}

export interface CallerSeriesQuery {
  domain: string;
  since: number;
  /** Only this subject's tokens. */
  principal?: string;
}

export interface AuditEvent {
  id: number;
  at: number;
  /** The principal that made the change (or `system` for scheduled work). */
  actor: string;
  /** `<resource>.<verb>`, e.g. `domain.create`, `service.update`, `signing-key.rotate`. */
  type: string;
  /** What the change was about, e.g. `alpha`, `alpha.api`, `beta:role.readers`. */
  target: string;
  before: unknown;
  after: unknown;
}

export interface AuditQuery {
  /** Events whose actor or target is this principal. */
  principal?: string;
  /** Events about this domain: its own, its roles' and members', its services' and their credentials'. */
  domain?: string;
  /** Events whose target is exactly this (a principal, `<d>:role.<r>`, a domain). */
  target?: string;
  type?: string;
  since?: number;
  limit: number;
  /** Only events after this one in the order (at, then id, descending): the next page. */
  after?: { at: number; id: number };
}

/** A page of a list ordered by name (or principal): at most `limit` rows, those after `after`. */
export interface NamePageQuery {
  limit: number;
  after?: string;
}

/** A page of a list ordered by creation time, then id: at most `limit` rows, those after `after`. */
export interface CreatedPageQuery {
  limit: number;
  after?: { createdAt: number; id: string };
}

/** Which audit events a retention rule applies to: these types, or every type but these. */
export type AuditSelection = { types: readonly string[] } | { allBut: readonly string[] };

/** Who is making a change: every mutating store call records an audit event for it. */
export interface Actor {
  actor: string;
}

export type SigningKeyState = 'next' | 'active' | 'retired';
export type SigningAlg = 'ES256' | 'EdDSA' | 'RS256';

export interface SigningKeyRecord {
  kid: string;
  alg: SigningAlg;
  state: SigningKeyState;
  /** Public JWK as JSON text (with kid, alg, use). */
  publicJwk: string;
  /** PKCS#8 private key sealed with the master key (keys/master-key.ts). */
  sealedPrivateKey: string;
  createdAt: number;
  /** When the key starts signing; before that it is only published. */
  activatesAt: number;
  /** When it stopped signing. */
  retiredAt: number | null;
  /** When it leaves the JWKS: after every token it signed has expired. */
  removeAt: number | null;
}

/** The CA's key and certificate chain, sealed with the master key. One row per CA generation. */
export interface CaRecord {
  id: string;
  state: 'prepared' | 'active' | 'old';
  /** PEM: the issuing (intermediate) certificate, then the root. */
  chainPem: string;
  rootPem: string;
  sealedPrivateKey: string;
  createdAt: number;
}

/** A certificate Tessera's CA issued: kept for renewal checks, revocation and the CRL. */
export interface CertificateRecord {
  /** Hex, lower-case, no leading zeros stripped: as the certificate carries it. */
  serial: string;
  principal: string;
  /** SHA-256 of the DER certificate, base64url (the `x5t#S256` of RFC 8705). */
  thumbprint: string;
  caId: string;
  notBefore: number;
  notAfter: number;
  issuedAt: number;
  revokedAt: number | null;
  /** RFC 5280 reason name, e.g. `keyCompromise`, `superseded`, `unspecified`. */
  revocationReason: string | null;
  /** The serial of the certificate this one renewed; null when it was bootstrapped (join token, key, OIDC). */
  renewedFrom: string | null;
  /**
   * The kid of the service's registered key that proved the certificate (the key-assertion
   * proof); null for any other way. Removing or replacing that key revokes it and its renewals.
   */
  provedByKey: string | null;
}

/** A certificate about to be recorded; `provedBy` names the registered key as the proof found it. */
export type NewCertificate = Omit<CertificateRecord, 'revokedAt' | 'revocationReason' | 'provedByKey'> & {
  provedBy?: ProvingKey | null;
};

/** A registered key as a proof found it: recorded only while it is still registered so. */
export interface ProvingKey {
  kid: string;
  pem: string;
}

/** What a revocation changed: the certificate, and how many renewed from it (transitively) it revoked too. */
export interface RevokedCertificate {
  certificate: CertificateRecord;
  descendantsRevoked: number;
}

/** `active`: neither revoked nor expired; `revoked`, expired or not; `expired` and never revoked. */
export type CertificateStatus = 'active' | 'revoked' | 'expired';

/** One page of a service's certificates, newest first. */
export interface CertificateListQuery {
  /** Rows to return, at most. */
  limit: number;
  /** Only certificates after this one in the order (issuedAt, then serial, descending). */
  after?: { issuedAt: number; serial: string };
  status?: CertificateStatus;
  /** What `active` and `expired` are judged at, in milliseconds since the epoch. */
  now: number;
}

/** A one-time join token (Athenz Copper Argos / SPIRE join_token); only its keyed hash is stored. */
export interface JoinTokenRecord {
  id: string;
  principal: string;
  hash: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

/** What an admin may see of an outstanding join token: never the token or its hash. */
export type JoinTokenInfo = Pick<JoinTokenRecord, 'id' | 'principal' | 'createdAt' | 'expiresAt'>;

export interface JoinTokenListQuery {
  limit: number;
  /** Only tokens after this one in the order (createdAt, then id, ascending). */
  after?: { createdAt: number; id: string };
  /** What outstanding (unused, unexpired) is judged at, in milliseconds since the epoch. */
  now: number;
}
