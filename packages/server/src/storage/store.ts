// The one storage interface. Two drivers sit behind it (storage/drivers): embedded SQLite
// (node:sqlite, the zero-config default) and PostgreSQL (several instances may share one
// database). Policy and HTTP code depend on this file only.
//
// Every mutating call takes the Actor making the change and writes its audit event in the
// same transaction: an acknowledged change always has its audit record, and a failed one
// leaves neither.

import type {
  Actor,
  AuditEvent,
  AuditNote,
  DueMembership,
  DueMembershipQuery,
  PendingChange,
  PersonBinding,
  PendingChangeStatus,
  ReviewAction,
  ReviewItem,
  CallerCount,
  TokenRateCount,
  CallerQuery,
  CallerSeriesQuery,
  CallerSummary,
  AuditQuery,
  AuditSelection,
  ApiKeyRecord,
  CaRecord,
  CertificateListQuery,
  CertificateRecord,
  CreatedPageQuery,
  NewCertificate,
  RevokedCertificate,
  ClientSecretRecord,
  JoinTokenInfo,
  JoinTokenListQuery,
  JoinTokenRecord,
  Domain,
  HeldRole,
  Membership,
  NamePageQuery,
  PublicKeyRecord,
  RevokedToken,
  Role,
  RoleMember,
  Service,
  ServiceStatus,
  SigningKeyRecord,
  SigningKeyState,
} from './records.ts';

export interface DomainPatch {
  description?: string | null;
  tokenMaxLifetime?: number | null;
  approvalRequiredRoles?: readonly string[];
}

export type { NewPendingChange } from './sql/approvals.ts';
import type { NewPendingChange } from './sql/approvals.ts';

export interface NewService {
  domain: string;
  name: string;
  clientId?: string;
  accountId?: string | null;
  description?: string | null;
  allowedIps?: string[];
  expiresAt?: number | null;
}

export interface ServicePatch {
  status?: ServiceStatus;
  description?: string | null;
  allowedIps?: string[];
  expiresAt?: number | null;
}

export interface NewSecret {
  id: string;
  hash: string;
}

export interface ClientForAuth {
  service: Service;
  /** Secrets that still work at the time asked for (at most two). */
  secrets: ClientSecretRecord[];
}

export interface ClientWithKeys {
  service: Service;
  /** Every key registered on the service, oldest first. */
  publicKeys: PublicKeyRecord[];
}

export type RevocationEvent = 'token.revoke' | 'session.revoke';

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  close(): Promise<void>;
  /** Throws StorageUnavailableError when the database cannot answer. */
  ping(): Promise<void>;

  /** Sets `key` unless it is already set; returns the value that is stored (first writer wins). */
  initMeta(key: string, value: string): Promise<string>;
  /** The value stored under `key`, or null when it was never set. */
  getMeta(key: string): Promise<string | null>;

  /** ConflictError when the domain exists, or another domain has its certificate DNS label (policy/names.ts dnsLabelOf). */
  createDomain(domain: { name: string; description?: string | null; tokenMaxLifetime?: number | null }, by: Actor): Promise<Domain>;
  /**
   * The domain whose services' certificates carry DNS label `label`: of the domains that map to it,
   * the oldest (two can, if created before such domains were refused, or by a race between instances).
   */
  dnsLabelHolder(label: string): Promise<string | null>;
  /**
   * NotFoundError when missing. `approvalRequiredRoles` is stored sorted, each name once. `guard`,
   * given, is called with the domain as the transaction holds it (locked), before the write: what it
   * throws rolls the write back. With `note.approval`, the pending change is decided in the same
   * transaction (AuditNote). So are the other writes that take a note.
   */
  updateDomain(name: string, patch: DomainPatch, by: Actor, note?: AuditNote, guard?: (before: Domain) => void): Promise<Domain>;
  getDomain(name: string): Promise<Domain | null>;
  /**
   * Domains by name. The admin API's lists pass a page (keyset: those after `page.after`, at most
   * `page.limit`; only `page.names` when given); without one, all of them.
   */
  listDomains(page?: NamePageQuery & { names?: readonly string[] }): Promise<Domain[]>;
  /** ConflictError while the domain still holds services or roles. */
  deleteDomain(name: string, by: Actor): Promise<void>;

  createService(service: NewService, credentials: { secret?: NewSecret; publicKeys?: { kid: string; pem: string }[] }, by: Actor): Promise<Service>;
  getService(principal: string): Promise<Service | null>;
  /** Service accounts: lookup by serviceAccountId, and the list (oldest first; a page of those of `page.domains`, or all). */
  getServiceByAccountId(accountId: string): Promise<Service | null>;
  listServiceAccounts(page?: CreatedPageQuery & { domains?: readonly string[] }): Promise<Service[]>;
  /** The domain's services by name: a page, or all of them. */
  listServices(domain: string, page?: NamePageQuery): Promise<Service[]>;
  updateService(principal: string, patch: ServicePatch, by: Actor): Promise<Service>;
  /** Also removes its secrets, public keys, API keys, join tokens and role memberships (not its certificate records). */
  deleteService(principal: string, by: Actor): Promise<void>;
  /** The token endpoint's lookup: the service by client_id and its live secrets. */
  getClientForAuth(clientId: string, now: number): Promise<ClientForAuth | null>;
  /** The key-based methods' lookup (private_key_jwt, self_signed_tls_client_auth): the service by client_id and its keys. */
  getClientWithKeys(clientId: string): Promise<ClientWithKeys | null>;

  /**
   * Adds a secret. Secrets that were live keep working until `graceUntil`; if that would leave
   * more than two live, the oldest stop at once.
   */
  addClientSecret(principal: string, secret: NewSecret, graceUntil: number, by: Actor): Promise<void>;

  /**
   * Registers key `kid`, or replaces it. Another PEM under a kid removes the old key, as deleting
   * it does; the same PEM again changes nothing.
   */
  putPublicKey(principal: string, kid: string, pem: string, by: Actor): Promise<PutKeyResult>;
  /**
   * Removes key `kid` (NotFoundError when it is not registered). A removal dates
   * `keyRemovedAt` (never moved back) and revokes (`superseded`), with their renewals, the live
   * certificates the key proved; audit `public-key.delete`/`public-key.put` name how many.
   */
  deletePublicKey(principal: string, kid: string, by: Actor): Promise<DeleteKeyResult>;
  /** Ends every token of the service issued until now, as a key removal does, removing nothing (NotFoundError when unknown). */
  endServiceTokens(principal: string, by: Actor): Promise<void>;
  /** Oldest first: a page (`after.id` is a kid), or all of them. */
  listPublicKeys(principal: string, page?: CreatedPageQuery): Promise<PublicKeyRecord[]>;

  /**
   * Creates or replaces the role; `members` undefined keeps the current members; each of
   * `settings` left undefined keeps its current value (tokenMaxLifetime null, actors and
   * impersonators [] and idTokenSubjects false on a new role). RangeError for more than 100 actors or impersonators or a
   * name that is not a principal's. `guard`, given, is called with the role as the transaction holds
   * it (null when this creates it), before it is changed: what it throws rolls the write back.
   */
  putRole(
    domain: string,
    name: string,
    members: RoleMember[] | undefined,
    by: Actor,
    settings?: { tokenMaxLifetime?: number | null; actors?: readonly string[]; impersonators?: readonly string[]; idTokenSubjects?: boolean },
    note?: AuditNote,
    guard?: (before: Role | null) => void,
  ): Promise<{ role: Role; created: boolean; joinTokensVoided: number }>;
  /** The role with all its members, or (with `memberLimit`) the first so many by principal. */
  getRole(domain: string, name: string, memberLimit?: number): Promise<Role | null>;
  /** The domain's roles by name: a page, each with its first `page.memberLimit` members (all without it), or all of them. */
  listRoles(domain: string, page?: NamePageQuery & { memberLimit?: number }): Promise<Role[]>;
  /** A page of the role's members by principal (`page.after` a principal); [] for an unknown role. */
  listRoleMembers(domain: string, role: string, page: NamePageQuery): Promise<RoleMember[]>;
  deleteRole(domain: string, name: string, by: Actor, note?: AuditNote): Promise<void>;
  /**
   * Both putRole (with members) and putRoleMember: a member who becomes an admin of a domain other
   * than its own (newly, or renewed after its membership expired) loses its outstanding join
   * tokens in the same transaction (audit `join-token.void`); `joinTokensVoided` says how many.
   */
  putRoleMember(domain: string, role: string, member: RoleMember, by: Actor, note?: AuditNote): Promise<{ created: boolean; joinTokensVoided: number }>;
  /**
   * putRoleMember for several members in one transaction, by the same rules (join tokens voided
   * alike); other members stay. NotFoundError for an unknown role. One audit event
   * `role-member.put-many` with the counts and the members.
   */
  putRoleMembers(
    domain: string,
    role: string,
    members: readonly RoleMember[],
    by: Actor,
    note?: AuditNote,
  ): Promise<{ created: number; updated: number; joinTokensVoided: number }>;
  deleteRoleMember(domain: string, role: string, principal: string, by: Actor, note?: AuditNote): Promise<void>;
  /** Memberships due for review or expiring by `query.until`, earliest first (expired ones included). */
  listDueMemberships(query: DueMembershipQuery): Promise<DueMembership[]>;
  /**
   * A bulk review action, all or none: NotFoundError (nothing changed) when an item is not a
   * membership or its role does not exist. Audit `review.extend` or `review.remove`, one per domain.
   */
  applyReviews(items: readonly ReviewItem[], action: ReviewAction, by: Actor, note?: AuditNote): Promise<{ changed: number; joinTokensVoided: number }>;

  /** Stores a change waiting for a second admin; audit `approval.request`. */
  createPendingChange(change: NewPendingChange, by: Actor, reason?: string): Promise<PendingChange>;
  getPendingChange(id: string): Promise<PendingChange | null>;
  /** The domain's pending, unexpired changes, oldest first. */
  listPendingChanges(domain: string, query: { limit: number; now: number; after?: { requestedAt: number; id: string } }): Promise<PendingChange[]>;
  /** Compare-and-set of a pending change's status (ConflictError when it is no longer `from`); audit `approval.<auditVerb>`. */
  decidePendingChange(
    id: string,
    from: PendingChangeStatus,
    to: PendingChangeStatus,
    by: Actor,
    detail: { auditVerb: 'approve' | 'reject' | 'fail'; outcome?: string | null },
  ): Promise<PendingChange>;
  /** The OpenID Connect identity a person principal is bound to (console sign-in), or null. */
  getPersonBinding(principal: string): Promise<PersonBinding | null>;
  /** Binds the principal unless it is bound already; the binding that holds (audit `person.bind` when new). */
  bindPerson(binding: Omit<PersonBinding, 'boundAt'>, by: Actor): Promise<PersonBinding>;
  /** Deletes the principal's binding (NotFoundError when none); audit `person.unbind`. */
  deletePersonBinding(principal: string, by: Actor): Promise<PersonBinding>;
  /** Roles `principal` holds in `domains` at `now` (expired memberships excluded). */
  rolesHeld(principal: string, domains: string[], now: number): Promise<HeldRole[]>;
  /** Every membership of `principal`, in every domain, expired ones included. */
  membershipsOf(principal: string): Promise<Membership[]>;

  /**
   * Records a private_key_jwt assertion's jti (RFC 7523 §3 replay protection) until it expires.
   * False when the same client already used this jti: a replay. Expired entries are pruned.
   */
  consumeAssertionJti(clientId: string, jti: string, expiresAt: number, now: number): Promise<boolean>;

  /**
   * RFC 7009: idempotent; kept until `expiresAt`, then pruned. Audited as `type` (`token.revoke`
   * by default; `session.revoke` when the admin API's DELETE /admin/v1/session revokes its own bearer token).
   */
  revokeToken(token: RevokedToken, by: Actor, type?: RevocationEvent): Promise<void>;
  isTokenRevoked(jti: string, now: number): Promise<boolean>;

  /** NotFoundError when the service is missing. */
  createApiKey(key: Omit<ApiKeyRecord, 'createdAt' | 'revokedAt'>, by: Actor): Promise<ApiKeyRecord>;
  /** Newest first: a page (`after`: the last key of the previous one), or all of them. */
  listApiKeys(principal: string, page?: CreatedPageQuery): Promise<ApiKeyRecord[]>;
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  /** Sets revokedAt (idempotent); NotFoundError when the key is not the principal's. */
  revokeApiKey(principal: string, id: string, by: Actor): Promise<void>;

  /** Records an event that is not a stored change (e.g. a forced rotation request). */
  appendAudit(event: Omit<AuditEvent, 'id'>): Promise<void>;
  /**
   * Many events in one transaction: the token endpoint's audit is written in batches, off the hot
   * path; `callers` (who calls whom) and `tokenRates` (outcomes per endpoint and hour) are added
   * to the stored sums in the same transaction.
   */
  appendAuditBatch(events: readonly Omit<AuditEvent, 'id'>[], callers?: readonly CallerCount[], tokenRates?: readonly TokenRateCount[]): Promise<void>;
  queryAudit(query: AuditQuery): Promise<AuditEvent[]>;
  /**
   * Deletes events of `selection` older than `before`, oldest first, about `limit` at a time
   * (events sharing the last time go together); returns how many went. Safe to run from
   * several instances at once.
   */
  pruneAudit(selection: AuditSelection, before: number, limit: number): Promise<number>;
  /** A domain's callers (who calls whom) since a time, summed by principal, actor and roles, a page at a time. */
  listCallers(query: CallerQuery): Promise<CallerSummary[]>;
  /** Tokens issued for a domain (or one principal's, there) per hour since a time; hours with none left out. */
  callerSeries(query: CallerSeriesQuery): Promise<{ hour: number; count: number }[]>;
  /** Deletes the callers' hourly sums older than `before`, about `limit` rows at a time; returns how many went. */
  pruneCallers(before: number, limit: number): Promise<number>;
  /** The token endpoints' outcomes per hour since a time (hours starting at or after it), by hour, endpoint and outcome. */
  tokenRates(since: number): Promise<TokenRateCount[]>;
  /** Deletes the token rates' hourly sums older than `before`, about `limit` rows at a time; returns how many went. */
  pruneTokenRates(before: number, limit: number): Promise<number>;

  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /** False when another instance already holds the slot (one `next`, one `active` at a time). */
  insertSigningKey(key: SigningKeyRecord): Promise<boolean>;
  /** Compare-and-set on `state`: true only for the one caller that moved the key. */
  transitionSigningKey(kid: string, from: SigningKeyState, to: SigningKeyState, times: { retiredAt?: number; removeAt?: number }): Promise<boolean>;
  /** Deletes a retired key; true only for the caller that deleted it. */
  removeSigningKey(kid: string): Promise<boolean>;

  getActiveCa(): Promise<CaRecord | null>;
  /** Inserts the first CA unless one exists; returns the active CA either way. */
  initCa(ca: CaRecord): Promise<CaRecord>;
  /** Every CA generation (prepared, active, old), newest first: the trust bundle is built from these. */
  listCas(): Promise<CaRecord[]>;
  /** Inserts a `prepared` CA; false when another instance already prepared one (one prepared at a time). */
  insertPreparedCa(ca: CaRecord): Promise<boolean>;
  /** Compare-and-set on state (prepared → active, active → old); true only for the caller that moved it. */
  transitionCa(id: string, from: CaRecord['state'], to: CaRecord['state']): Promise<boolean>;
  /**
   * Deletes an `old` CA once nothing it signed is still valid; true only for the caller that
   * deleted it. False too while a certificate recorded with this caId is unexpired.
   */
  removeCa(id: string): Promise<boolean>;

  /**
   * Records an issued certificate (audit `certificate.issue`: serial, principal, notAfter — never
   * the key). ConflictError for a serial already recorded.
   */
  recordCertificate(certificate: NewCertificate, by: Actor): Promise<void>;
  /**
   * recordCertificate for several certificates in one transaction (one commit): all are recorded,
   * or none and the error of the first that failed (ConflictError for a serial already recorded).
   */
  recordCertificates(entries: readonly { certificate: NewCertificate; by: Actor }[]): Promise<void>;
  getCertificate(serial: string): Promise<CertificateRecord | null>;
  /**
   * Revokes the certificate and, with the same reason and time, every certificate renewed from
   * it, transitively; returns the record and how many descendants this call revoked.
   * Idempotent (the first reason and time stand); NotFoundError for a serial Tessera never
   * issued. Audit `certificate.revoke`, once, naming descendantsRevoked.
   */
  revokeCertificate(serial: string, reason: string, by: Actor): Promise<RevokedCertificate>;
  /** Revoked certificates that have not yet expired at `now` (notAfter inclusive, RFC 5280): what the CRL lists. */
  listRevokedCertificates(now: number): Promise<CertificateRecord[]>;
  /** The certificate Tessera issued with this `x5t#S256` (base64url SHA-256 of the DER); null if it issued none. */
  getCertificateByThumbprint(thumbprint: string): Promise<CertificateRecord | null>;
  /** A page of the service's certificates, newest first. */
  listCertificates(principal: string, query: CertificateListQuery): Promise<CertificateRecord[]>;
  /**
   * Revokes every unrevoked, unexpired certificate of the service; returns how many.
   * NotFoundError for an unknown service. Audit `certificate.revoke-all`, always.
   */
  revokeServiceCertificates(principal: string, reason: string, by: Actor): Promise<number>;

  /**
   * NotFoundError when the principal's service does not exist. ConflictError when, checked under
   * the service's lock, it holds another domain's admin role for which `mayAdminister` (the
   * maker's rights; default: any) says no. Audit `join-token.create` (never the hash).
   */
  createJoinToken(token: Omit<JoinTokenRecord, 'createdAt' | 'usedAt'>, by: Actor, mayAdminister?: (domain: string) => boolean): Promise<JoinTokenRecord>;
  /**
   * Uses the token once: atomically marks it used if the id and hash match, it is unused and
   * unexpired at `now`; returns its principal, or null (unknown, wrong, used or expired — the
   * caller cannot and need not tell which). Audit `join-token.use`.
   */
  consumeJoinToken(id: string, hash: string, now: number): Promise<{ principal: string } | null>;
  /** A page of the principal's outstanding (unused, unexpired at `query.now`) join tokens, oldest first. */
  listJoinTokens(principal: string, query: JoinTokenListQuery): Promise<JoinTokenInfo[]>;
  /** The join token with this id if it is outstanding at `now`; null otherwise. */
  getJoinToken(id: string, now: number): Promise<JoinTokenInfo | null>;
  /** NotFoundError unless the principal has an outstanding join token with this id. Audit `join-token.delete`. */
  deleteJoinToken(principal: string, id: string, by: Actor): Promise<void>;
}

export interface DeleteKeyResult {
  /** Live certificates the removed key proved, and their renewals, revoked with it. */
  certificatesRevoked: number;
}

export interface PutKeyResult extends DeleteKeyResult {
  created: boolean;
}
