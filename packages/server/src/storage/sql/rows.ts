// Table rows as the drivers return them, and their mapping to the records in records.ts.

import type {
  ApiKeyRecord,
  AuditEvent,
  CaRecord,
  CertificateRecord,
  ClientSecretRecord,
  Domain,
  JoinTokenRecord,
  PendingChange,
  PublicKeyRecord,
  Role,
  RoleDelegation,
  RoleMember,
  Service,
  ServiceStatus,
  SigningAlg,
  SigningKeyRecord,
  SigningKeyState,
} from '../records.ts';

export interface DomainRow {
  name: string;
  description: string | null;
  token_max_lifetime: number | null;
  /** JSON array of role names (migration 13). */
  approval_required_roles: string;
  created_at: number;
  updated_at: number;
}

export interface ServiceRow {
  principal: string;
  domain: string;
  name: string;
  client_id: string;
  description: string | null;
  account_id: string | null;
  status: ServiceStatus;
  allowed_ips: string;
  expires_at: number | null;
  created_at: number;
  updated_at: number;
  key_removed_at: number | null;
}

export interface SecretRow {
  id: string;
  principal: string;
  hash: string;
  created_at: number;
  expires_at: number | null;
}

export interface PublicKeyRow {
  principal: string;
  kid: string;
  pem: string;
  created_at: number;
}

export interface RoleRow {
  domain: string;
  name: string;
  token_max_lifetime: number | null;
  /** JSON arrays of principals (migration 12). */
  actors: string;
  impersonators: string;
  /** 1 or 0 (migration 13). */
  id_token_subjects: number;
  created_at: number;
  updated_at: number;
}

export interface MemberRow {
  domain: string;
  role: string;
  principal: string;
  expires_at: number | null;
  /** Migration 13. */
  review_by: number | null;
}

export interface PendingChangeRow {
  id: string;
  domain: string;
  role: string | null;
  kind: string;
  change_json: string;
  requested_by: string;
  requested_at: number;
  expires_at: number;
  status: PendingChange['status'];
  decided_by: string | null;
  decided_at: number | null;
  outcome: string | null;
}

export function toPendingChange(row: PendingChangeRow): PendingChange {
  return {
    id: row.id,
    domain: row.domain,
    role: row.role,
    kind: row.kind,
    change: JSON.parse(row.change_json) as unknown,
    requestedBy: row.requested_by,
    requestedAt: Number(row.requested_at),
    expiresAt: Number(row.expires_at),
    status: row.status,
    decidedBy: row.decided_by,
    decidedAt: row.decided_at === null ? null : Number(row.decided_at),
    outcome: row.outcome,
  };
}

export interface ApiKeyRow {
  id: string;
  principal: string;
  audience: string;
  hash: string;
  description: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

export interface AuditRow {
  id: number;
  at: number;
  actor: string;
  type: string;
  target: string;
  before_json: string;
  after_json: string;
}

export interface SigningKeyRow {
  kid: string;
  alg: SigningAlg;
  state: SigningKeyState;
  public_jwk: string;
  sealed_private_key: string;
  created_at: number;
  activates_at: number;
  retired_at: number | null;
  remove_at: number | null;
}

export interface CaRow {
  id: string;
  state: CaRecord['state'];
  chain_pem: string;
  root_pem: string;
  sealed_private_key: string;
  created_at: number;
}

export interface CertificateRow {
  serial: string;
  principal: string;
  thumbprint: string;
  ca_id: string;
  not_before: number;
  not_after: number;
  issued_at: number;
  revoked_at: number | null;
  revocation_reason: string | null;
  renewed_from: string | null;
  proved_by_key: string | null;
}

export interface JoinTokenRow {
  id: string;
  principal: string;
  hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export function toDomain(row: DomainRow): Domain {
  return {
    name: row.name,
    description: row.description,
    tokenMaxLifetime: row.token_max_lifetime,
    approvalRequiredRoles: JSON.parse(row.approval_required_roles ?? '[]') as string[],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toService(row: ServiceRow): Service {
  return {
    principal: row.principal,
    domain: row.domain,
    name: row.name,
    clientId: row.client_id,
    description: row.description,
    accountId: row.account_id,
    status: row.status,
    allowedIps: JSON.parse(row.allowed_ips) as string[],
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    keyRemovedAt: row.key_removed_at,
  };
}

export function toSecret(row: SecretRow): ClientSecretRecord {
  return { id: row.id, principal: row.principal, hash: row.hash, createdAt: row.created_at, expiresAt: row.expires_at };
}

export function toPublicKey(row: PublicKeyRow): PublicKeyRecord {
  return { principal: row.principal, kid: row.kid, pem: row.pem, createdAt: row.created_at };
}

export function toMember(row: MemberRow): RoleMember {
  const member: RoleMember = { principal: row.principal, expiresAt: row.expires_at };
  if (row.review_by !== null && row.review_by !== undefined) member.reviewBy = Number(row.review_by);
  return member;
}

export function toRole(row: RoleRow, members: MemberRow[]): Role {
  return {
    domain: row.domain,
    name: row.name,
    members: members.map(toMember),
    tokenMaxLifetime: row.token_max_lifetime,
    actors: principalList(row.actors),
    impersonators: principalList(row.impersonators),
    idTokenSubjects: Number(row.id_token_subjects) === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    principal: row.principal,
    audience: row.audience,
    hash: row.hash,
    description: row.description,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

export function toAuditEvent(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    at: row.at,
    actor: row.actor,
    type: row.type,
    target: row.target,
    before: JSON.parse(row.before_json),
    after: JSON.parse(row.after_json),
  };
}

export function toSigningKey(row: SigningKeyRow): SigningKeyRecord {
  return {
    kid: row.kid,
    alg: row.alg,
    state: row.state,
    publicJwk: row.public_jwk,
    sealedPrivateKey: row.sealed_private_key,
    createdAt: row.created_at,
    activatesAt: row.activates_at,
    retiredAt: row.retired_at,
    removeAt: row.remove_at,
  };
}

export function toCa(row: CaRow): CaRecord {
  return {
    id: row.id,
    state: row.state,
    chainPem: row.chain_pem,
    rootPem: row.root_pem,
    sealedPrivateKey: row.sealed_private_key,
    createdAt: row.created_at,
  };
}

export function toCertificate(row: CertificateRow): CertificateRecord {
  return {
    serial: row.serial,
    principal: row.principal,
    thumbprint: row.thumbprint,
    caId: row.ca_id,
    notBefore: row.not_before,
    notAfter: row.not_after,
    issuedAt: row.issued_at,
    revokedAt: row.revoked_at,
    revocationReason: row.revocation_reason,
    renewedFrom: row.renewed_from,
    provedByKey: row.proved_by_key,
  };
}

export function toJoinToken(row: JoinTokenRow): JoinTokenRecord {
  return {
    id: row.id,
    principal: row.principal,
    hash: row.hash,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    usedAt: row.used_at,
  };
}

/** A JSON array of principals as stored (roles.actors, roles.impersonators); '[]' or NULL is none. */
export function principalList(json: string | null | undefined): string[] {
  if (json === null || json === undefined || json === '' || json === '[]') return [];
  const value: unknown = JSON.parse(json);
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/** A HeldRole's delegation from its role's stored settings: undefined when both lists are empty (the common case). */
export function delegationOf(
  actors: string | null | undefined,
  impersonators: string | null | undefined,
  idTokenSubjects: number | null | undefined,
): RoleDelegation | undefined {
  const a = principalList(actors);
  const i = principalList(impersonators);
  if (a.length === 0 && i.length === 0) return undefined;
  return { actors: Object.freeze(a), impersonators: Object.freeze(i), idTokenSubjects: Number(idTokenSubjects) === 1 };
}
