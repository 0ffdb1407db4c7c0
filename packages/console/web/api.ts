// The admin API (/admin/v1, docs/http-api.md) as the console calls it: every call carries the
// session's bearer token and nothing else (no cookies: `credentials: 'omit'`), so what the
// console can do is what the signed-in principal can do, and a forged cross-site request has
// nothing to ride on.

export interface Domain {
  name: string;
  description: string | null;
  tokenMaxLifetime: number | null;
  /** Roles whose member changes wait for a second admin (docs/http-api.md, Approvals). */
  approvalRequiredRoles?: string[];
  createdAt: string;
  updatedAt: string;
}

export interface Service {
  principal: string;
  domain: string;
  name: string;
  clientId: string;
  description: string | null;
  status: 'ACTIVE' | 'DISABLED';
  allowedIps: string[];
  expiresAt: string | null;
  createdAt: string;
}

export interface Member {
  principal: string;
  expiresAt: string | null;
  /** When the membership is due for review (past it, it still grants). */
  reviewBy?: string | null;
}

/** A change waiting for a second admin's approval: what a change of a role its domain lists in `approvalRequiredRoles` answers (202). */
export interface PendingChange {
  id: string;
  domain: string;
  role: string | null;
  kind: string;
  change: unknown;
  requestedBy: string;
  requestedAt: string;
  expiresAt: string;
  status: 'pending' | 'approved' | 'rejected' | 'failed';
  decidedBy: string | null;
  decidedAt: string | null;
  outcome: string | null;
}

/** What a change that may be held answers: applied now (`pending` null), or held for a second admin (202). */
export type Held<T> = { pending: null; result: T } | { pending: PendingChange; result?: undefined };

/** A membership listed by GET /reviews. */
export interface DueMembership {
  domain: string;
  role: string;
  principal: string;
  expiresAt: string | null;
  reviewBy: string | null;
  reason: Array<'review-due' | 'expiring'>;
}

export interface ReviewRequest {
  items: Array<{ domain: string; role: string; principal: string }>;
  action: 'extend' | 'remove';
  reviewBy?: string;
  expiresAt?: string | null;
  reason?: string;
}

export interface ReviewAnswer {
  changed: number;
  joinTokensVoided: number;
  pending: PendingChange[];
}

export interface Role {
  domain: string;
  name: string;
  fullName: string;
  members: Member[];
  membersNextCursor: string | null;
  tokenMaxLifetime: number | null;
  actors: string[];
  impersonators: string[];
  /** Whether its actors may exchange a member's ID token for its tokens. */
  idTokenSubjects: boolean;
  createdAt: string;
  updatedAt: string;
}

/** Who calls a domain: one principal, actor and set of roles over a period. */
export interface Caller {
  principal: string;
  actor: string | null;
  roles: string[];
  count: number;
  firstSeen: string;
  lastSeen: string;
}

export interface CallerPoint {
  at: string;
  count: number;
}

/** One change in the audit log (docs/http-api.md, Audit). */
export interface AuditEvent {
  id: number;
  at: string;
  actor: string;
  type: string;
  target: string;
  before: unknown;
  after: unknown;
}

/** A token-signing key (docs/http-api.md, Signing keys). */
export interface SigningKey {
  kid: string;
  alg: string;
  state: 'next' | 'active' | 'retired';
  activatesAt: string;
  retiredAt: string | null;
  removeAt: string | null;
}

/** A CA generation (docs/http-api.md, CA generations). */
export interface CaGeneration {
  id: string;
  state: 'prepared' | 'active' | 'old';
  subject: string;
  createdAt: string;
  activatesAt: string;
  removeAt: string | null;
  notAfter: string;
}

/** The storage backend and its health now. */
export interface StorageStatus {
  backend: 'sqlite' | 'postgres';
  location: string;
  answers: boolean;
  pingMs: number;
  ready: boolean;
  problems: string[];
  checkedAt: string;
}

/** One hour of the token endpoints' outcomes. */
export interface TokenRatePoint {
  at: string;
  issued: number;
  refused: number;
  refusals: Record<string, number>;
}

/** A public key registered on a service (private_key_jwt, self-signed mTLS, the CA's key assertion). */
export interface PublicKey {
  kid: string;
  pem: string;
  createdAt: string;
}

export interface ApiKey {
  id: string;
  audience: string;
  description: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface Certificate {
  serial: string;
  principal: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  revokedAt: string | null;
  revocationReason: string | null;
  renewedFrom: string | null;
}

export type CertificateStatus = 'active' | 'revoked' | 'expired';

export interface JoinToken {
  id: string;
  principal: string;
  createdAt: string;
  expiresAt: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** An answer other than 2xx: the API's `{error, message}` (or OAuth's `{error, error_description}`). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Reads an error answer into an ApiError whose message says what happened. */
export async function apiError(response: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await response.json()) as Record<string, unknown>;
  } catch {
    // Not JSON (a proxy's page, say): the status alone.
  }
  const code = typeof body['error_code'] === 'string' ? body['error_code'] : typeof body['error'] === 'string' ? body['error'] : `http_${response.status}`;
  const text = typeof body['message'] === 'string' ? body['message'] : typeof body['error_description'] === 'string' ? body['error_description'] : '';
  return new ApiError(response.status, code, text || `the server answered ${response.status} ${response.statusText}`.trim());
}

export interface AdminApiOptions {
  token: string;
  /** Called on a 401: the token is no longer accepted (expired or revoked), so the session ends. */
  onUnauthorized: (error: ApiError) => void;
}

/**
 * A name as one path segment of an API URL. `.` and `..` are refused: the browser resolves them
 * (encoded or not) as dot segments, so the request would address another resource.
 */
function enc(segment: string): string {
  if (segment === '.' || segment === '..') {
    throw new ApiError(400, 'invalid_request', `"${segment}" cannot be sent as a name in a URL path: the browser would resolve it away`);
  }
  return encodeURIComponent(segment);
}

export class AdminApi {
  readonly #token: string;
  readonly #onUnauthorized: (error: ApiError) => void;

  constructor({ token, onUnauthorized }: AdminApiOptions) {
    this.#token = token;
    this.#onUnauthorized = onUnauthorized;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.#send<T>(method, path, body)).body;
  }

  /** A change that a second admin may have to approve: 202 answers the pending change. */
  async #held<T>(method: string, path: string, body?: unknown): Promise<Held<T>> {
    const answer = await this.#send<unknown>(method, path, body);
    return answer.status === 202 ? { pending: answer.body as PendingChange } : { pending: null, result: answer.body as T };
  }

  async #send<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`/admin/v1${path}`, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
    if (!response.ok) {
      const error = await apiError(response);
      if (response.status === 401) this.#onUnauthorized(error);
      throw error;
    }
    if (response.status === 204) return { status: 204, body: undefined as T };
    return { status: response.status, body: (await response.json()) as T };
  }

  async #page<T>(path: string, name: string, cursor: string | null, limit: number, extra: Record<string, string> = {}): Promise<Page<T>> {
    const query = new URLSearchParams({ ...extra, limit: String(limit) });
    if (cursor !== null) query.set('cursor', cursor);
    const answer = await this.#call<Record<string, unknown>>('GET', `${path}?${query}`);
    return { items: (answer[name] ?? []) as T[], nextCursor: (answer['nextCursor'] ?? null) as string | null };
  }

  listDomains(cursor: string | null, limit: number): Promise<Page<Domain>> {
    return this.#page('/domains', 'domains', cursor, limit);
  }
  getDomain(domain: string): Promise<Domain> {
    return this.#call('GET', `/domains/${enc(domain)}`);
  }
  createDomain(name: string, description: string | null): Promise<Domain> {
    return this.#call('POST', '/domains', description ? { name, description } : { name });
  }

  listCallers(domain: string, since: string, cursor: string | null, limit: number): Promise<Page<Caller>> {
    return this.#page(`/domains/${enc(domain)}/callers`, 'callers', cursor, limit, { since });
  }
  async callerSeries(domain: string, since: string): Promise<CallerPoint[]> {
    const answer = await this.#call<{ points: CallerPoint[] }>('GET', `/domains/${enc(domain)}/callers/series?${new URLSearchParams({ since })}`);
    return answer.points;
  }

  domainAudit(domain: string, target: string | null, cursor: string | null, limit: number): Promise<Page<AuditEvent>> {
    return this.#page(`/domains/${enc(domain)}/audit`, 'events', cursor, limit, target === null ? {} : { target });
  }

  listSigningKeys(): Promise<{ keys: SigningKey[]; nextRotationAt: string | null }> {
    return this.#call('GET', '/signing-keys');
  }
  rotateSigningKey(): Promise<{ kid: string; activatesAt: string; created: boolean }> {
    return this.#call('POST', '/signing-keys/rotate');
  }
  listCaGenerations(): Promise<{ generations: CaGeneration[]; nextRotationAt: string | null }> {
    return this.#call('GET', '/ca/generations');
  }
  /** Starts a CA rotation: a new generation in the bundle now, signing from `activatesAt`; a pending one is answered (`created` false). */
  rotateCa(): Promise<{ id: string; activatesAt: string; created: boolean }> {
    return this.#call('POST', '/ca/rotate');
  }
  storageStatus(): Promise<StorageStatus> {
    return this.#call('GET', '/system/storage');
  }
  async tokenRates(since: string): Promise<TokenRatePoint[]> {
    const answer = await this.#call<{ points: TokenRatePoint[] }>('GET', `/system/token-rates?${new URLSearchParams({ since })}`);
    return answer.points;
  }

  listServices(domain: string, cursor: string | null, limit: number): Promise<Page<Service>> {
    return this.#page(`/domains/${enc(domain)}/services`, 'services', cursor, limit);
  }
  createService(domain: string, name: string, description: string | null): Promise<Service & { clientSecret?: string }> {
    return this.#call('POST', `/domains/${enc(domain)}/services`, description ? { name, description } : { name });
  }
  setServiceStatus(domain: string, name: string, status: Service['status']): Promise<Service> {
    return this.#call('PATCH', `/domains/${enc(domain)}/services/${enc(name)}`, { status });
  }
  getService(domain: string, name: string): Promise<Service> {
    return this.#call('GET', `/domains/${enc(domain)}/services/${enc(name)}`);
  }
  /** Changes the service's description, allowed addresses or expiry (`null` clears the expiry). */
  updateService(domain: string, name: string, change: { description?: string | null; allowedIps?: string[]; expiresAt?: string | null }): Promise<Service> {
    return this.#call('PATCH', `/domains/${enc(domain)}/services/${enc(name)}`, change);
  }
  /** A new client secret, shown once; older ones stop working after `graceSeconds`. */
  rotateSecret(domain: string, name: string, graceSeconds: number): Promise<{ id: string; clientSecret: string; previousSecretsExpireAt: string | null }> {
    return this.#call('POST', `/domains/${enc(domain)}/services/${enc(name)}/secrets`, { graceSeconds });
  }
  listKeys(domain: string, name: string, cursor: string | null, limit: number): Promise<Page<PublicKey>> {
    return this.#page(`/domains/${enc(domain)}/services/${enc(name)}/keys`, 'keys', cursor, limit);
  }
  putKey(domain: string, name: string, kid: string, pem: string): Promise<{ kid: string; created: boolean; certificatesRevoked: number }> {
    return this.#call('PUT', `/domains/${enc(domain)}/services/${enc(name)}/keys/${enc(kid)}`, { pem });
  }
  deleteKey(domain: string, name: string, kid: string): Promise<void> {
    return this.#call('DELETE', `/domains/${enc(domain)}/services/${enc(name)}/keys/${enc(kid)}`);
  }
  listApiKeys(domain: string, name: string, cursor: string | null, limit: number): Promise<Page<ApiKey>> {
    return this.#page(`/domains/${enc(domain)}/services/${enc(name)}/api-keys`, 'apiKeys', cursor, limit);
  }
  createApiKey(domain: string, name: string, request: { audience: string; description?: string; expiresAt?: string }): Promise<ApiKey & { apiKey: string }> {
    return this.#call('POST', `/domains/${enc(domain)}/services/${enc(name)}/api-keys`, request);
  }
  revokeApiKey(domain: string, name: string, id: string): Promise<void> {
    return this.#call('DELETE', `/domains/${enc(domain)}/services/${enc(name)}/api-keys/${enc(id)}`);
  }
  listCertificates(domain: string, name: string, status: CertificateStatus, cursor: string | null, limit: number): Promise<Page<Certificate>> {
    return this.#page(`/domains/${enc(domain)}/services/${enc(name)}/certificates`, 'certificates', cursor, limit, { status });
  }
  revokeCertificate(serial: string, reason: string): Promise<Certificate & { descendantsRevoked: number }> {
    return this.#call('POST', `/certificates/${enc(serial)}/revoke`, { reason });
  }
  revokeAllCertificates(domain: string, name: string, reason: string): Promise<{ revoked: number }> {
    return this.#call('POST', `/domains/${enc(domain)}/services/${enc(name)}/certificates/revoke`, { reason });
  }
  listJoinTokens(principal: string, cursor: string | null, limit: number): Promise<Page<JoinToken>> {
    return this.#page('/join-tokens', 'joinTokens', cursor, limit, { principal });
  }
  createJoinToken(principal: string, ttlSeconds: number): Promise<JoinToken & { token: string }> {
    return this.#call('POST', '/join-tokens', { principal, ttlSeconds });
  }
  deleteJoinToken(id: string): Promise<void> {
    return this.#call('DELETE', `/join-tokens/${enc(id)}`);
  }

  deleteService(domain: string, name: string): Promise<void> {
    return this.#call('DELETE', `/domains/${enc(domain)}/services/${enc(name)}`);
  }

  listRoles(domain: string, cursor: string | null, limit: number): Promise<Page<Role>> {
    return this.#page(`/domains/${enc(domain)}/roles`, 'roles', cursor, limit);
  }
  getRole(domain: string, role: string): Promise<Role> {
    return this.#call('GET', `/domains/${enc(domain)}/roles/${enc(role)}`);
  }
  /** Creates the role empty, or keeps it as it is (a PUT without members keeps them). */
  createRole(domain: string, role: string): Promise<Role> {
    return this.#call('PUT', `/domains/${enc(domain)}/roles/${enc(role)}`, {});
  }
  /** Replaces the role's actors; its members, impersonators and limit are kept. */
  setActors(domain: string, role: string, actors: string[]): Promise<Held<Role>> {
    return this.#held('PUT', `/domains/${enc(domain)}/roles/${enc(role)}`, { actors });
  }
  /** Replaces the role's impersonators (who may get its tokens for a member without `act`); everything else is kept. */
  setImpersonators(domain: string, role: string, impersonators: string[]): Promise<Held<Role>> {
    return this.#held('PUT', `/domains/${enc(domain)}/roles/${enc(role)}`, { impersonators });
  }
  /** Sets whether the role's actors may exchange a member's ID token; everything else is kept. */
  setIdTokenSubjects(domain: string, role: string, idTokenSubjects: boolean): Promise<Held<Role>> {
    return this.#held('PUT', `/domains/${enc(domain)}/roles/${enc(role)}`, { idTokenSubjects });
  }
  deleteRole(domain: string, role: string): Promise<Held<void>> {
    return this.#held('DELETE', `/domains/${enc(domain)}/roles/${enc(role)}`);
  }
  listMembers(domain: string, role: string, cursor: string | null, limit: number): Promise<Page<Member>> {
    return this.#page(`/domains/${enc(domain)}/roles/${enc(role)}/members`, 'members', cursor, limit);
  }
  /** Writes the membership whole: an expiry or review date left out (or null) is cleared. */
  putMember(
    domain: string,
    role: string,
    principal: string,
    dates: { expiresAt: string | null; reviewBy: string | null },
  ): Promise<Held<Member & { created: boolean }>> {
    const body = { ...(dates.expiresAt ? { expiresAt: dates.expiresAt } : {}), ...(dates.reviewBy ? { reviewBy: dates.reviewBy } : {}) };
    return this.#held('PUT', `/domains/${enc(domain)}/roles/${enc(role)}/members/${enc(principal)}`, body);
  }
  removeMember(domain: string, role: string, principal: string): Promise<Held<void>> {
    return this.#held('DELETE', `/domains/${enc(domain)}/roles/${enc(role)}/members/${enc(principal)}`);
  }

  /** Changes a domain's settings; removing names from `approvalRequiredRoles` is held for a second admin. */
  updateDomain(domain: string, change: { approvalRequiredRoles?: string[]; reason?: string }): Promise<Held<Domain>> {
    return this.#held('PATCH', `/domains/${enc(domain)}`, change);
  }

  /** Memberships due for review or expiring within `withinSeconds`, or past, in the domains the caller administers. */
  listReviews(withinSeconds: number, cursor: string | null, limit: number): Promise<Page<DueMembership>> {
    return this.#page('/reviews', 'memberships', cursor, limit, { within: String(withinSeconds) });
  }
  review(request: ReviewRequest): Promise<ReviewAnswer> {
    return this.#call('POST', '/reviews', request);
  }
  listApprovals(domain: string, cursor: string | null, limit: number): Promise<Page<PendingChange>> {
    return this.#page(`/domains/${enc(domain)}/approvals`, 'approvals', cursor, limit);
  }
  approve(id: string, reason: string | null): Promise<{ approval: PendingChange; status: number; result: unknown }> {
    return this.#call('POST', `/approvals/${enc(id)}/approve`, reason ? { reason } : {});
  }
  /** Rejects the change, or withdraws it for its requester. */
  reject(id: string, reason: string | null): Promise<PendingChange> {
    return this.#call('POST', `/approvals/${enc(id)}/reject`, reason ? { reason } : {});
  }
}
