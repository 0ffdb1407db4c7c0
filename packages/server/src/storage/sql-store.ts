// The Store over any SqlDriver, so both databases share every rule. The rules live in
// storage/sql/, one file per kind of record; this class only binds them to one database
// and clock.
//
// Each change runs in one transaction together with its audit event.

import type { SqlDriver } from './drivers/driver.ts';
import { StorageUnavailableError } from './errors.ts';
import type {
  Actor,
  AuditNote,
  DueMembership,
  DueMembershipQuery,
  PendingChange,
  PersonBinding,
  PendingChangeStatus,
  ReviewAction,
  ReviewItem,
  ApiKeyRecord,
  AuditEvent,
  AuditQuery,
  AuditSelection,
  CallerCount,
  TokenRateCount,
  CallerQuery,
  CallerSeriesQuery,
  CallerSummary,
  CaRecord,
  CertificateListQuery,
  CertificateRecord,
  CreatedPageQuery,
  NewCertificate,
  RevokedCertificate,
  Domain,
  HeldRole,
  JoinTokenInfo,
  JoinTokenListQuery,
  JoinTokenRecord,
  Membership,
  NamePageQuery,
  PublicKeyRecord,
  RevokedToken,
  Role,
  RoleMember,
  Service,
  SigningKeyRecord,
  SigningKeyState,
} from './records.ts';
import type { DomainPatch } from './store.ts';
import * as apiKeys from './sql/api-keys.ts';
import * as assertionJtis from './sql/assertion-jtis.ts';
import type { PruneSchedule } from './sql/assertion-jtis.ts';
import * as audit from './sql/audit.ts';
import * as callers from './sql/callers.ts';
import * as cas from './sql/ca.ts';
import * as certificates from './sql/certificates.ts';
import { createContext } from './sql/context.ts';
import type { SqlContext } from './sql/context.ts';
import * as credentials from './sql/credentials.ts';
import * as domains from './sql/domains.ts';
import * as joinTokens from './sql/join-tokens.ts';
import * as keys from './sql/keys.ts';
import * as revokedTokens from './sql/revoked-tokens.ts';
import * as roles from './sql/roles.ts';
import * as approvals from './sql/approvals.ts';
import * as people from './sql/people.ts';
import type { NewPendingChange } from './sql/approvals.ts';
import * as services from './sql/services.ts';
import * as tokenRates from './sql/token-rates.ts';
import * as changes from './sql/changes.ts';
import type { FeedRow } from './sql/changes.ts';
import type { ChangeListener } from './sql/context.ts';
import { liveRevokedTokens, loadRegistryRecord } from './sql/registry.ts';
import type { RegistryRecord } from './sql/registry.ts';
import type { ClientForAuth, ClientWithKeys, DeleteKeyResult, NewSecret, NewService, PutKeyResult, RevocationEvent, ServicePatch, Store } from './store.ts';

export interface SqlStoreOptions {
  /** The clock for createdAt, updatedAt, audit times and secret expiry. */
  now?: () => number;
}

/** The change feed and the loads a cache of the registry needs (storage/registry-cache.ts). */
export interface RegistrySource {
  readonly kind: 'sqlite' | 'postgres';
  /** The newest change number committed. */
  changeCounter(): Promise<number>;
  /** Up to `limit` changes after `after`, in order (numbers have no gaps). */
  readChanges(after: number, limit: number): Promise<FeedRow[]>;
  /** Deletes changes recorded before `before`. */
  pruneChanges(before: number): Promise<number>;
  /** Told of the changes each of this store's transactions recorded, once it has ended; returns an unsubscribe function. */
  onChanges(listener: ChangeListener): () => void;
  loadRegistryRecord(by: 'client_id' | 'principal', value: string): Promise<RegistryRecord>;
  /** Revoked tokens not yet expired at `now`: all of them (at most `limit`), or those of `jtis`. */
  liveRevokedTokens(now: number, jtis?: readonly string[], limit?: number): Promise<{ jti: string; expiresAt: number }[]>;
}

export class SqlStore implements Store, RegistrySource {
  readonly kind: 'sqlite' | 'postgres';
  private readonly ctx: SqlContext;
  private readonly jtiPruning: PruneSchedule = { nextAt: Number.NEGATIVE_INFINITY };

  constructor(driver: SqlDriver, options: SqlStoreOptions = {}) {
    this.kind = driver.dialect;
    this.ctx = createContext(driver, options.now ?? Date.now);
  }

  close(): Promise<void> {
    return this.ctx.db.close();
  }

  changeCounter(): Promise<number> {
    return changes.changeCounter(this.ctx.db);
  }

  readChanges(after: number, limit: number): Promise<FeedRow[]> {
    return changes.readChanges(this.ctx.db, after, limit);
  }

  pruneChanges(before: number): Promise<number> {
    return changes.pruneChanges(this.ctx.db, before);
  }

  onChanges(listener: ChangeListener): () => void {
    this.ctx.changeListeners.add(listener);
    return () => this.ctx.changeListeners.delete(listener);
  }

  loadRegistryRecord(by: 'client_id' | 'principal', value: string): Promise<RegistryRecord> {
    return loadRegistryRecord(this.ctx, by, value);
  }

  liveRevokedTokens(now: number, jtis?: readonly string[], limit?: number): Promise<{ jti: string; expiresAt: number }[]> {
    return liveRevokedTokens(this.ctx, now, jtis, limit);
  }

  async ping(): Promise<void> {
    try {
      await this.ctx.db.get('SELECT 1 AS ok');
    } catch (error) {
      if (error instanceof StorageUnavailableError) throw error;
      throw new StorageUnavailableError(`storage did not answer: ${(error as Error).message}`, { cause: error });
    }
  }

  async initMeta(key: string, value: string): Promise<string> {
    await this.ctx.db.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', [key, value]);
    const row = await this.ctx.db.get<{ value: string }>('SELECT value FROM meta WHERE key = ?', [key]);
    if (!row) throw new Error(`meta ${key} vanished after it was set`);
    return row.value;
  }

  async getMeta(key: string): Promise<string | null> {
    const row = await this.ctx.db.get<{ value: string }>('SELECT value FROM meta WHERE key = ?', [key]);
    return row?.value ?? null;
  }

  createDomain(domain: { name: string; description?: string | null; tokenMaxLifetime?: number | null }, by: Actor): Promise<Domain> {
    return domains.createDomain(this.ctx, domain, by);
  }

  dnsLabelHolder(label: string): Promise<string | null> {
    return domains.dnsLabelHolder(this.ctx.db, label);
  }

  updateDomain(name: string, patch: DomainPatch, by: Actor, note?: AuditNote, guard?: (before: Domain) => void): Promise<Domain> {
    return domains.updateDomain(this.ctx, name, patch, by, note, guard);
  }

  getDomain(name: string): Promise<Domain | null> {
    return domains.getDomain(this.ctx, name);
  }

  listDomains(page?: NamePageQuery & { names?: readonly string[] }): Promise<Domain[]> {
    return domains.listDomains(this.ctx, page);
  }

  deleteDomain(name: string, by: Actor): Promise<void> {
    return domains.deleteDomain(this.ctx, name, by);
  }

  createService(service: NewService, initial: { secret?: NewSecret; publicKeys?: { kid: string; pem: string }[] }, by: Actor): Promise<Service> {
    return services.createService(this.ctx, service, initial, by);
  }

  getService(principal: string): Promise<Service | null> {
    return services.getService(this.ctx, principal);
  }

  getServiceByAccountId(accountId: string): Promise<Service | null> {
    return services.getServiceByAccountId(this.ctx, accountId);
  }

  listServiceAccounts(page?: CreatedPageQuery & { domains?: readonly string[] }): Promise<Service[]> {
    return services.listServiceAccounts(this.ctx, page);
  }

  listServices(domain: string, page?: NamePageQuery): Promise<Service[]> {
    return services.listServices(this.ctx, domain, page);
  }

  updateService(principal: string, patch: ServicePatch, by: Actor): Promise<Service> {
    return services.updateService(this.ctx, principal, patch, by);
  }

  deleteService(principal: string, by: Actor): Promise<void> {
    return services.deleteService(this.ctx, principal, by);
  }

  getClientForAuth(clientId: string, now: number): Promise<ClientForAuth | null> {
    return services.getClientForAuth(this.ctx, clientId, now);
  }

  getClientWithKeys(clientId: string): Promise<ClientWithKeys | null> {
    return services.getClientWithKeys(this.ctx, clientId);
  }

  addClientSecret(principal: string, secret: NewSecret, graceUntil: number, by: Actor): Promise<void> {
    return credentials.addClientSecret(this.ctx, principal, secret, graceUntil, by);
  }

  putPublicKey(principal: string, kid: string, pem: string, by: Actor): Promise<PutKeyResult> {
    return credentials.putPublicKey(this.ctx, principal, kid, pem, by);
  }

  deletePublicKey(principal: string, kid: string, by: Actor): Promise<DeleteKeyResult> {
    return credentials.deletePublicKey(this.ctx, principal, kid, by);
  }

  endServiceTokens(principal: string, by: Actor): Promise<void> {
    return credentials.endServiceTokens(this.ctx, principal, by);
  }

  listPublicKeys(principal: string, page?: CreatedPageQuery): Promise<PublicKeyRecord[]> {
    return credentials.listPublicKeys(this.ctx, principal, page);
  }

  putRole(
    domain: string,
    name: string,
    members: RoleMember[] | undefined,
    by: Actor,
    settings?: { tokenMaxLifetime?: number | null; actors?: readonly string[]; impersonators?: readonly string[]; idTokenSubjects?: boolean },
    note?: AuditNote,
    guard?: (before: Role | null) => void,
  ): Promise<{ role: Role; created: boolean; joinTokensVoided: number }> {
    return roles.putRole(this.ctx, domain, name, members, by, settings, note, guard);
  }

  getRole(domain: string, name: string, memberLimit?: number): Promise<Role | null> {
    return roles.getRole(this.ctx, domain, name, memberLimit);
  }

  listRoles(domain: string, page?: NamePageQuery & { memberLimit?: number }): Promise<Role[]> {
    return roles.listRoles(this.ctx, domain, page);
  }

  listRoleMembers(domain: string, role: string, page: NamePageQuery): Promise<RoleMember[]> {
    return roles.listRoleMembers(this.ctx, domain, role, page);
  }

  deleteRole(domain: string, name: string, by: Actor, note?: AuditNote): Promise<void> {
    return roles.deleteRole(this.ctx, domain, name, by, note);
  }

  putRoleMember(domain: string, role: string, member: RoleMember, by: Actor, note?: AuditNote): Promise<{ created: boolean; joinTokensVoided: number }> {
    return roles.putRoleMember(this.ctx, domain, role, member, by, note);
  }

  putRoleMembers(
    domain: string,
    role: string,
    members: readonly RoleMember[],
    by: Actor,
    note?: AuditNote,
  ): Promise<{ created: number; updated: number; joinTokensVoided: number }> {
    return roles.putRoleMembers(this.ctx, domain, role, members, by, note);
  }

  deleteRoleMember(domain: string, role: string, principal: string, by: Actor, note?: AuditNote): Promise<void> {
    return roles.deleteRoleMember(this.ctx, domain, role, principal, by, note);
  }

  listDueMemberships(query: DueMembershipQuery): Promise<DueMembership[]> {
    return roles.listDueMemberships(this.ctx, query);
  }

  applyReviews(items: readonly ReviewItem[], action: ReviewAction, by: Actor, note?: AuditNote): Promise<{ changed: number; joinTokensVoided: number }> {
    return roles.applyReviews(this.ctx, items, action, by, note);
  }

  createPendingChange(change: NewPendingChange, by: Actor, reason?: string): Promise<PendingChange> {
    return approvals.createPendingChange(this.ctx, change, by, reason);
  }

  getPersonBinding(principal: string): Promise<PersonBinding | null> {
    return people.getPersonBinding(this.ctx, principal);
  }

  bindPerson(binding: Omit<PersonBinding, 'boundAt'>, by: Actor): Promise<PersonBinding> {
    return people.bindPerson(this.ctx, binding, by);
  }

  deletePersonBinding(principal: string, by: Actor): Promise<PersonBinding> {
    return people.deletePersonBinding(this.ctx, principal, by);
  }

  getPendingChange(id: string): Promise<PendingChange | null> {
    return approvals.getPendingChange(this.ctx, id);
  }

  listPendingChanges(domain: string, query: { limit: number; now: number; after?: { requestedAt: number; id: string } }): Promise<PendingChange[]> {
    return approvals.listPendingChanges(this.ctx, domain, query);
  }

  decidePendingChange(
    id: string,
    from: PendingChangeStatus,
    to: PendingChangeStatus,
    by: Actor,
    detail: { auditVerb: 'approve' | 'reject' | 'fail'; outcome?: string | null },
  ): Promise<PendingChange> {
    return approvals.decidePendingChange(this.ctx, id, from, to, by, detail);
  }

  rolesHeld(principal: string, inDomains: string[], now: number): Promise<HeldRole[]> {
    return roles.rolesHeld(this.ctx, principal, inDomains, now);
  }

  membershipsOf(principal: string): Promise<Membership[]> {
    return roles.membershipsOf(this.ctx, principal);
  }

  consumeAssertionJti(clientId: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
    return assertionJtis.consumeAssertionJti(this.ctx, this.jtiPruning, clientId, jti, expiresAt, now);
  }

  revokeToken(token: RevokedToken, by: Actor, type?: RevocationEvent): Promise<void> {
    return revokedTokens.revokeToken(this.ctx, token, by, type);
  }

  isTokenRevoked(jti: string, now: number): Promise<boolean> {
    return revokedTokens.isTokenRevoked(this.ctx, jti, now);
  }

  createApiKey(key: Omit<ApiKeyRecord, 'createdAt' | 'revokedAt'>, by: Actor): Promise<ApiKeyRecord> {
    return apiKeys.createApiKey(this.ctx, key, by);
  }

  listApiKeys(principal: string, page?: CreatedPageQuery): Promise<ApiKeyRecord[]> {
    return apiKeys.listApiKeys(this.ctx, principal, page);
  }

  getApiKey(id: string): Promise<ApiKeyRecord | null> {
    return apiKeys.getApiKey(this.ctx, id);
  }

  revokeApiKey(principal: string, id: string, by: Actor): Promise<void> {
    return apiKeys.revokeApiKey(this.ctx, principal, id, by);
  }

  appendAudit(event: Omit<AuditEvent, 'id'>): Promise<void> {
    return audit.appendAudit(this.ctx, event);
  }

  appendAuditBatch(events: readonly Omit<AuditEvent, 'id'>[], counts: readonly CallerCount[] = [], rates: readonly TokenRateCount[] = []): Promise<void> {
    return audit.appendAuditBatch(this.ctx, events, counts, rates);
  }

  listCallers(query: CallerQuery): Promise<CallerSummary[]> {
    return callers.listCallers(this.ctx, query);
  }

  callerSeries(query: CallerSeriesQuery): Promise<{ hour: number; count: number }[]> {
    return callers.callerSeries(this.ctx, query);
  }

  pruneCallers(before: number, limit: number): Promise<number> {
    return callers.pruneCallers(this.ctx, before, limit);
  }

  tokenRates(since: number): Promise<TokenRateCount[]> {
    return tokenRates.tokenRates(this.ctx, since);
  }

  pruneTokenRates(before: number, limit: number): Promise<number> {
    return tokenRates.pruneTokenRates(this.ctx, before, limit);
  }

  queryAudit(query: AuditQuery): Promise<AuditEvent[]> {
    return audit.queryAudit(this.ctx, query);
  }

  pruneAudit(selection: AuditSelection, before: number, limit: number): Promise<number> {
    return audit.pruneAudit(this.ctx, selection, before, limit);
  }

  listSigningKeys(): Promise<SigningKeyRecord[]> {
    return keys.listSigningKeys(this.ctx);
  }

  insertSigningKey(key: SigningKeyRecord): Promise<boolean> {
    return keys.insertSigningKey(this.ctx, key);
  }

  transitionSigningKey(kid: string, from: SigningKeyState, to: SigningKeyState, times: { retiredAt?: number; removeAt?: number }): Promise<boolean> {
    return keys.transitionSigningKey(this.ctx, kid, from, to, times);
  }

  removeSigningKey(kid: string): Promise<boolean> {
    return keys.removeSigningKey(this.ctx, kid);
  }

  getActiveCa(): Promise<CaRecord | null> {
    return cas.getActiveCa(this.ctx);
  }

  initCa(ca: CaRecord): Promise<CaRecord> {
    return cas.initCa(this.ctx, ca);
  }

  listCas(): Promise<CaRecord[]> {
    return cas.listCas(this.ctx);
  }

  insertPreparedCa(ca: CaRecord): Promise<boolean> {
    return cas.insertPreparedCa(this.ctx, ca);
  }

  transitionCa(id: string, from: CaRecord['state'], to: CaRecord['state']): Promise<boolean> {
    return cas.transitionCa(this.ctx, id, from, to);
  }

  removeCa(id: string): Promise<boolean> {
    return cas.removeCa(this.ctx, id);
  }

  recordCertificate(certificate: NewCertificate, by: Actor): Promise<void> {
    return certificates.recordCertificate(this.ctx, certificate, by);
  }

  recordCertificates(entries: readonly { certificate: NewCertificate; by: Actor }[]): Promise<void> {
    return certificates.recordCertificates(this.ctx, entries);
  }

  getCertificate(serial: string): Promise<CertificateRecord | null> {
    return certificates.getCertificate(this.ctx, serial);
  }

  revokeCertificate(serial: string, reason: string, by: Actor): Promise<RevokedCertificate> {
    return certificates.revokeCertificate(this.ctx, serial, reason, by);
  }

  listRevokedCertificates(now: number): Promise<CertificateRecord[]> {
    return certificates.listRevokedCertificates(this.ctx, now);
  }

  getCertificateByThumbprint(thumbprint: string): Promise<CertificateRecord | null> {
    return certificates.getCertificateByThumbprint(this.ctx, thumbprint);
  }

  listCertificates(principal: string, query: CertificateListQuery): Promise<CertificateRecord[]> {
    return certificates.listCertificates(this.ctx, principal, query);
  }

  revokeServiceCertificates(principal: string, reason: string, by: Actor): Promise<number> {
    return certificates.revokeServiceCertificates(this.ctx, principal, reason, by);
  }

  createJoinToken(token: Omit<JoinTokenRecord, 'createdAt' | 'usedAt'>, by: Actor, mayAdminister?: (domain: string) => boolean): Promise<JoinTokenRecord> {
    return joinTokens.createJoinToken(this.ctx, token, by, mayAdminister);
  }

  consumeJoinToken(id: string, hash: string, now: number): Promise<{ principal: string } | null> {
    return joinTokens.consumeJoinToken(this.ctx, id, hash, now);
  }

  listJoinTokens(principal: string, query: JoinTokenListQuery): Promise<JoinTokenInfo[]> {
    return joinTokens.listJoinTokens(this.ctx, principal, query);
  }

  getJoinToken(id: string, now: number): Promise<JoinTokenInfo | null> {
    return joinTokens.getJoinToken(this.ctx, id, now);
  }

  deleteJoinToken(principal: string, id: string, by: Actor): Promise<void> {
    return joinTokens.deleteJoinToken(this.ctx, principal, id, by);
  }
}
