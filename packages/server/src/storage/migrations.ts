// The schema, as numbered steps applied once each, in order, at start. A released step is
// never edited: a change to the schema is a new step.
//
// Times are BIGINT milliseconds since the epoch; lists and free-form values are JSON text.

import type { Dialect, SqlDriver } from './drivers/driver.ts';

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

// Any constant works, as long as nothing else in the database takes this advisory lock.
const MIGRATION_LOCK = 7_465_737_365;

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sqlite: initialSchema('INTEGER PRIMARY KEY AUTOINCREMENT'),
    postgres: initialSchema('BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY'),
  },
  {
    version: 2,
    name: 'token lifetimes, service accounts, API keys, revocation, assertion replay',
    sqlite: tokenPolicySchema(),
    postgres: tokenPolicySchema(),
  },
  {
    version: 3,
    name: 'issued certificates and join tokens',
    sqlite: certificateSchema(),
    postgres: certificateSchema(),
  },
  {
    version: 4,
    name: 'audit events by type',
    sqlite: auditByTypeSchema(),
    postgres: auditByTypeSchema(),
  },
  {
    version: 5,
    name: 'API key audiences',
    sqlite: apiKeyAudienceSqlite(),
    postgres: apiKeyAudiencePostgres(),
  },
  {
    version: 6,
    name: 'certificates by thumbprint',
    sqlite: certificateThumbprintSchema(),
    postgres: certificateThumbprintSchema(),
  },
  {
    version: 7,
    name: "certificate renewal lineage, a service's certificates newest first",
    sqlite: certificateLineageSchema(),
    postgres: certificateLineageSchema(),
  },
  {
    version: 8,
    name: 'when a service last lost a registered key',
    sqlite: keyRemovedSchema(),
    postgres: keyRemovedSchema(),
  },
  {
    version: 9,
    name: 'the registered key that proved a certificate',
    sqlite: provedByKeySchema(),
    postgres: provedByKeySchema(),
  },
  {
    version: 10,
    name: 'the registry change feed',
    sqlite: registryChangesSchema(),
    postgres: registryChangesSchema(),
  },
  {
    version: 11,
    name: "indexes for the admin lists' pages",
    sqlite: listPagesSchema(),
    postgres: listPagesSchema(),
  },
  {
    version: 12,
    name: 'role actors and impersonators (token exchange)',
    sqlite: roleDelegationSchema(),
    postgres: roleDelegationSchema(),
  },
  {
    version: 13,
    name: 'role setting: ID tokens as token exchange subjects',
    sqlite: idTokenSubjectsSchema(),
    postgres: idTokenSubjectsSchema(),
  },
  {
    version: 14,
    name: 'who calls whom: tokens issued per domain, principal, actor and roles, by hour',
    sqlite: tokenCallersSchema(),
    postgres: tokenCallersSchema(),
  },
  {
    version: 15,
    name: "the domain each audit event is about (a domain's timeline)",
    sqlite: auditDomainSchema('sqlite'),
    postgres: auditDomainSchema('postgres'),
  },
  {
    version: 16,
    name: 'membership reviews, roles whose changes need a second admin, pending changes',
    sqlite: reviewsApprovalsSchema(),
    postgres: reviewsApprovalsSchema(),
  },
  {
    version: 17,
    name: 'token rates: client endpoint outcomes (issued, refusals by code) by hour',
    sqlite: tokenRatesSchema(),
    postgres: tokenRatesSchema(),
  },
  {
    version: 18,
    name: "people's console sign-in: each person principal bound to its OpenID Connect identity",
    sqlite: personBindingsSchema(),
    postgres: personBindingsSchema(),
  },
  {
    version: 19,
    name: "audit indexes on target and domain without token requests' events",
    sqlite: auditPartialIndexesSchema(),
    postgres: auditPartialIndexesSchema(),
  },
];

/** Brings the database up to the newest migration; safe to run from several instances at once. */
export async function migrate(driver: SqlDriver, steps: readonly Migration[] = migrations): Promise<void> {
  await driver.transaction(async (tx) => {
    // Instances starting together queue here; each later one finds the work done. SQLite
    // needs no lock: its transactions already exclude each other.
    if (driver.dialect === 'postgres') {
      // A migration may wait for another instance's, and rewrite big tables: no 5 s limits here.
      await tx.exec('SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0');
      await tx.exec(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    }
    await tx.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const applied = new Set((await tx.all<{ version: number }>('SELECT version FROM schema_migrations')).map((row) => row.version));
    const newest = Math.max(0, ...steps.map((step) => step.version));
    const unknown = [...applied].filter((version) => version > newest);
    if (unknown.length > 0) {
      throw new Error(`database schema is at version ${Math.max(...unknown)}, newer than this Tessera (${newest})`);
    }
    for (const step of [...steps].sort((a, b) => a.version - b.version)) {
      if (applied.has(step.version)) continue;
      await tx.exec(sqlFor(step, driver.dialect));
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [step.version, step.name, Date.now()]);
    }
  });
}

function sqlFor(step: Migration, dialect: Dialect): string {
  return dialect === 'sqlite' ? step.sqlite : step.postgres;
}

function initialSchema(autoId: string): string {
  return `
    CREATE TABLE meta (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL
    );

    CREATE TABLE domains (
      name TEXT PRIMARY KEY,
      description TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    );

    CREATE TABLE services (
      principal TEXT PRIMARY KEY,
      domain TEXT NOT NULL REFERENCES domains (name),
      name TEXT NOT NULL,
      client_id TEXT NOT NULL UNIQUE,
      description TEXT,
      status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'DISABLED')),
      allowed_ips TEXT NOT NULL,
      expires_at BIGINT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    );
    CREATE INDEX services_by_domain ON services (domain, name);

    CREATE TABLE client_secrets (
      id TEXT PRIMARY KEY,
      principal TEXT NOT NULL REFERENCES services (principal) ON DELETE CASCADE,
      hash TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      expires_at BIGINT
    );
    CREATE INDEX client_secrets_by_principal ON client_secrets (principal);

    CREATE TABLE public_keys (
      principal TEXT NOT NULL REFERENCES services (principal) ON DELETE CASCADE,
      kid TEXT NOT NULL,
      pem TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      PRIMARY KEY (principal, kid)
    );

    CREATE TABLE roles (
      domain TEXT NOT NULL REFERENCES domains (name),
      name TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      PRIMARY KEY (domain, name)
    );

    -- No foreign key on principal: a role may name a service registered later.
    CREATE TABLE role_members (
      domain TEXT NOT NULL,
      role TEXT NOT NULL,
      principal TEXT NOT NULL,
      expires_at BIGINT,
      PRIMARY KEY (domain, role, principal),
      FOREIGN KEY (domain, role) REFERENCES roles (domain, name) ON DELETE CASCADE
    );
    -- The token endpoint asks which roles one principal holds in a few domains.
    CREATE INDEX role_members_by_principal ON role_members (principal, domain);

    CREATE TABLE audit_events (
      id ${autoId},
      at BIGINT NOT NULL,
      actor TEXT NOT NULL,
      type TEXT NOT NULL,
      target TEXT NOT NULL,
      before_json TEXT NOT NULL,
      after_json TEXT NOT NULL
    );
    CREATE INDEX audit_events_by_at ON audit_events (at);
    CREATE INDEX audit_events_by_actor ON audit_events (actor);
    CREATE INDEX audit_events_by_target ON audit_events (target);

    CREATE TABLE signing_keys (
      kid TEXT PRIMARY KEY,
      alg TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
      public_jwk TEXT NOT NULL,
      sealed_private_key TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      activates_at BIGINT NOT NULL,
      retired_at BIGINT,
      remove_at BIGINT
    );
    -- At most one 'next' and one 'active' key: when instances race to take a rotation step,
    -- the database lets exactly one of them win.
    CREATE UNIQUE INDEX signing_keys_one_per_live_state ON signing_keys (state) WHERE state IN ('next', 'active');

    CREATE TABLE ca (
      id TEXT PRIMARY KEY,
      state TEXT NOT NULL CHECK (state IN ('prepared', 'active', 'old')),
      chain_pem TEXT NOT NULL,
      root_pem TEXT NOT NULL,
      sealed_private_key TEXT NOT NULL,
      created_at BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX ca_one_per_live_state ON ca (state) WHERE state IN ('prepared', 'active');
  `;
}

// One script for both databases: ADD COLUMN and partial indexes read the same in each.
function tokenPolicySchema(): string {
  return `
    -- Seconds; NULL defers to the domain's, then the server's, maximum.
    ALTER TABLE domains ADD COLUMN token_max_lifetime BIGINT CHECK (token_max_lifetime > 0);
    ALTER TABLE roles ADD COLUMN token_max_lifetime BIGINT CHECK (token_max_lifetime > 0);

    -- Set only on accounts made through the service-account JSON dialect's API.
    ALTER TABLE services ADD COLUMN account_id TEXT;
    CREATE UNIQUE INDEX services_by_account_id ON services (account_id) WHERE account_id IS NOT NULL;

    CREATE TABLE api_keys (
      id TEXT PRIMARY KEY,
      principal TEXT NOT NULL REFERENCES services (principal) ON DELETE CASCADE,
      hash TEXT NOT NULL,
      description TEXT,
      created_at BIGINT NOT NULL,
      expires_at BIGINT,
      revoked_at BIGINT
    );
    CREATE INDEX api_keys_by_principal ON api_keys (principal, created_at);

    -- RFC 7009: a revoked token is remembered until it would have expired anyway.
    CREATE TABLE revoked_tokens (
      jti TEXT PRIMARY KEY,
      principal TEXT NOT NULL,
      expires_at BIGINT NOT NULL
    );
    CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

    -- RFC 7523 section 3: a client's assertion jti is accepted once. The primary key is
    -- what refuses a replay, also between instances sharing one database.
    CREATE TABLE assertion_jtis (
      client_id TEXT NOT NULL,
      jti TEXT NOT NULL,
      expires_at BIGINT NOT NULL,
      PRIMARY KEY (client_id, jti)
    );
    CREATE INDEX assertion_jtis_by_expiry ON assertion_jtis (expires_at);
  `;
}

// CA generations need nothing new: version 1's ca table already allows one prepared and one
// active row through ca_one_per_live_state.
function certificateSchema(): string {
  return `
    -- Every certificate the CA issued. No foreign keys: a certificate outlives the service it
    -- names (it stays revocable, and on the CRL, until it expires) and stays on record after
    -- its CA generation is removed.
    CREATE TABLE certificates (
      serial TEXT PRIMARY KEY,
      principal TEXT NOT NULL,
      thumbprint TEXT NOT NULL,
      ca_id TEXT NOT NULL,
      not_before BIGINT NOT NULL,
      not_after BIGINT NOT NULL,
      issued_at BIGINT NOT NULL,
      revoked_at BIGINT,
      revocation_reason TEXT,
      CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
    );
    CREATE INDEX certificates_by_principal ON certificates (principal, not_after);
    -- Whether an old CA generation still has live certificates (and, later, pruning by age).
    CREATE INDEX certificates_by_not_after ON certificates (not_after);
    -- The CRL: revoked certificates not yet expired, a small part of the table.
    CREATE INDEX certificates_revoked_by_not_after ON certificates (not_after) WHERE revoked_at IS NOT NULL;

    -- One-time join tokens; the hash is keyed, the token itself is never stored.
    CREATE TABLE join_tokens (
      id TEXT PRIMARY KEY,
      principal TEXT NOT NULL REFERENCES services (principal) ON DELETE CASCADE,
      hash TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      used_at BIGINT
    );
    CREATE INDEX join_tokens_by_principal ON join_tokens (principal);
    CREATE INDEX join_tokens_by_expiry ON join_tokens (expires_at);
  `;
}

function auditByTypeSchema(): string {
  return `
    -- GET /admin/v1/audit?type=…, newest first: without it a rare type scans the whole table,
    -- which under PostgreSQL's 5 s statement timeout answers 503 once the table is large.
    CREATE INDEX audit_events_by_type ON audit_events (type, at);
  `;
}

// An API key stands for its service toward one audience (a domain), as an access token does.
// Keys made before this step had none and were accepted by every resource server; each gets
// its own service's domain, the one audience it can be taken to have meant. A domain deleted
// takes with it the keys made toward it, so a domain later created under that name does not
// inherit them. SQLite cannot add a NOT NULL foreign-key column, so there the table is rebuilt.
function apiKeyAudienceSqlite(): string {
  return `
    CREATE TABLE api_keys_v5 (
      id TEXT PRIMARY KEY,
      principal TEXT NOT NULL REFERENCES services (principal) ON DELETE CASCADE,
      audience TEXT NOT NULL REFERENCES domains (name) ON DELETE CASCADE,
      hash TEXT NOT NULL,
      description TEXT,
      created_at BIGINT NOT NULL,
      expires_at BIGINT,
      revoked_at BIGINT
    );
    INSERT INTO api_keys_v5 (id, principal, audience, hash, description, created_at, expires_at, revoked_at)
      SELECT k.id, k.principal, s.domain, k.hash, k.description, k.created_at, k.expires_at, k.revoked_at
      FROM api_keys k JOIN services s ON s.principal = k.principal;
    DROP TABLE api_keys;
    ALTER TABLE api_keys_v5 RENAME TO api_keys;
    CREATE INDEX api_keys_by_principal ON api_keys (principal, created_at);
    CREATE INDEX api_keys_by_audience ON api_keys (audience);
  `;
}

function apiKeyAudiencePostgres(): string {
  return `
    ALTER TABLE api_keys ADD COLUMN audience TEXT REFERENCES domains (name) ON DELETE CASCADE;
    UPDATE api_keys SET audience = services.domain FROM services WHERE services.principal = api_keys.principal;
    ALTER TABLE api_keys ALTER COLUMN audience SET NOT NULL;
    CREATE INDEX api_keys_by_audience ON api_keys (audience);
  `;
}

// A certificate-bound token names its certificate by thumbprint (RFC 8705 `x5t#S256`), and every
// use of such a token asks whether Tessera issued that certificate and revoked it since. The
// serial follows, so the lookup (ordered by serial, for rows a test wrote twice) stays in it.
function certificateThumbprintSchema(): string {
  return `
    CREATE INDEX certificates_by_thumbprint ON certificates (thumbprint, serial);
  `;
}

function certificateLineageSchema(): string {
  return `
    -- The serial a certificate was renewed from (NULL when it was bootstrapped): revoking a
    -- certificate revokes what was renewed from it, found by walking this column down.
    -- No foreign key, as for the rest of this table.
    ALTER TABLE certificates ADD COLUMN renewed_from TEXT;
    CREATE INDEX certificates_by_renewed_from ON certificates (renewed_from);
    -- GET /admin/v1/domains/{d}/services/{s}/certificates: newest first, a page at a time.
    CREATE INDEX certificates_by_principal_issued ON certificates (principal, issued_at, serial);
  `;
}

// When the service last lost a registered key (deleted, or replaced by another PEM): every token
// of the service issued up to that second is ended by it (oauth2/key-removal.ts). NULL for a
// service that never lost a key.
function keyRemovedSchema(): string {
  return `
    ALTER TABLE services ADD COLUMN key_removed_at BIGINT;
  `;
}

// A certificate issued through the key-assertion proof (ca/proofs/key-assertion.ts) names the kid
// of the registered key that proved it (NULL for every other way, and for those issued before
// this step): removing or replacing that key revokes it and its renewals
// (storage/sql/credentials.ts). The certificates_by_principal index finds a service's rows.
function provedByKeySchema(): string {
  return `
    ALTER TABLE certificates ADD COLUMN proved_by_key TEXT;
  `;
}

// Every change that can alter a token decision (a service, its credentials, a membership, a role
// or domain, a revoked token) leaves a row here in its own transaction, numbered by the single
// counter row: the counter's row lock is held to commit, so numbers become visible in commit
// order and without gaps (a rolled-back change rolls its number back too). Each instance keeps
// its cache of the registry (storage/registry-cache.ts) by reading the rows after the last it saw.
function registryChangesSchema(): string {
  return `
    CREATE TABLE registry_change_counter (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      seq BIGINT NOT NULL
    );
    INSERT INTO registry_change_counter (id, seq) VALUES (1, 0);
    CREATE TABLE registry_changes (
      seq BIGINT PRIMARY KEY,
      at BIGINT NOT NULL,
      scope TEXT NOT NULL,
      key TEXT NOT NULL
    );
    CREATE INDEX registry_changes_by_at ON registry_changes (at);
  `;
}

// The admin API's lists read a page at a time, each page starting in an index after the
// previous page's last row: service accounts oldest first by (created_at, principal), a service's
// API keys newest first by (created_at, id) (the old index lacked the id that orders keys made in
// the same millisecond), its public keys oldest first by (created_at, kid).
function listPagesSchema(): string {
  return `
    CREATE INDEX services_accounts_by_created ON services (created_at, principal) WHERE account_id IS NOT NULL;
    DROP INDEX api_keys_by_principal;
    CREATE INDEX api_keys_by_principal ON api_keys (principal, created_at, id);
    CREATE INDEX public_keys_by_created ON public_keys (principal, created_at, kid);
  `;
}

// Who may act for a role's members (RFC 8693 token exchange, Athenz proxy_for_principal): the
// principals a role lists as `actors` may get tokens that carry the role for a member, with the
// `act` chain naming them; those it lists as `impersonators` may get them without it. JSON arrays
// of principal names, as services.allowed_ips is; '[]' for every role made before this step.
function roleDelegationSchema(): string {
  return `
    ALTER TABLE roles ADD COLUMN actors TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE roles ADD COLUMN impersonators TEXT NOT NULL DEFAULT '[]';
  `;
}

// Whether a role's actors may get its tokens for a member by exchanging that member's ID token
// (RFC 8693, subject_token_type id_token; docs/tokens.md, Token exchange): 1 or 0, an integer on
// both backends so the rows read the same; 0, off, for every role made before this step.
function idTokenSubjectsSchema(): string {
  return `
    ALTER TABLE roles ADD COLUMN id_token_subjects INTEGER NOT NULL DEFAULT 0 CHECK (id_token_subjects IN (0, 1));
  `;
}

// Who calls whom (storage/sql/callers.ts): how many tokens each principal obtained for a domain,
// with which roles and through which actor ('' when it asked for itself), per hour. Written with
// the token audit's batches, in the same transaction, as sums; never read from audit_events.
function tokenCallersSchema(): string {
  return `
    CREATE TABLE token_callers (
      domain TEXT NOT NULL,
      principal TEXT NOT NULL,
      actor TEXT NOT NULL,
      roles TEXT NOT NULL,
      hour BIGINT NOT NULL,
      count BIGINT NOT NULL,
      first_at BIGINT NOT NULL,
      last_at BIGINT NOT NULL,
      PRIMARY KEY (domain, principal, actor, roles, hour)
    );
    CREATE INDEX token_callers_by_domain_hour ON token_callers (domain, hour);
    CREATE INDEX token_callers_by_hour ON token_callers (hour);
  `;
}

// People's console sign-in (console/oidc.ts, storage/sql/people.ts): the OpenID provider's
// identity (issuer, subject) each person principal was first signed in with. A later sign-in to
// the principal from another identity is refused until a system admin deletes the row.
function personBindingsSchema(): string {
  return `
    CREATE TABLE person_bindings (
      principal TEXT PRIMARY KEY,
      issuer TEXT NOT NULL,
      subject TEXT NOT NULL,
      bound_at BIGINT NOT NULL
    );
  `;
}

// Token rates (GET /admin/v1/system/token-rates): what the client endpoints did per hour, summed
// from the token audit's batches (guards/token-rates.ts). The key starts with the hour, which
// both the reads (since a time) and the pruning (before a time) seek on.
function tokenRatesSchema(): string {
  return `
    CREATE TABLE token_rates (
      hour BIGINT NOT NULL,
      endpoint TEXT NOT NULL,
      outcome TEXT NOT NULL,
      count BIGINT NOT NULL,
      PRIMARY KEY (hour, endpoint, outcome)
    );
  `;
}

// A domain's timeline (GET /admin/v1/domains/{d}/audit): the domain each change is about, set when
// the event is written (storage/sql/context.ts auditDomain: a domain's own events, its roles' and
// members', its services' and their credentials'), NULL for the rest (token requests, rotations).
// Events written before this step get it here, by the same rule for the types there were then,
// through the index on type.
function auditDomainSchema(dialect: Dialect): string {
  const quoted = (types: readonly string[]): string => types.map((type) => `'${type}'`).join(', ');
  const domainTypes = ['domain.create', 'domain.update', 'domain.delete'];
  const roleTypes = ['role.put', 'role.delete', 'role-member.put', 'role-member.put-many', 'role-member.delete'];
  const principalTypes = [
    'service.create',
    'service.update',
    'service.delete',
    'service.tokens-end',
    'client-secret.add',
    'public-key.put',
    'public-key.delete',
    'api-key.create',
    'api-key.revoke',
    'join-token.create',
    'join-token.use',
    'join-token.void',
    'join-token.delete',
    'certificate.issue',
    'certificate.revoke',
    'certificate.revoke-all',
  ];
  const beforeColon = dialect === 'sqlite' ? "substr(target, 1, instr(target, ':') - 1)" : "split_part(target, ':', 1)";
  // Everything before the last dot: SQLite has no reverse search, so trim the characters after it.
  const beforeLastDot = dialect === 'sqlite' ? "rtrim(rtrim(target, replace(target, '.', '')), '.')" : "regexp_replace(target, '[.][^.]*$', '')";
  return `
    ALTER TABLE audit_events ADD COLUMN domain TEXT;
    UPDATE audit_events SET domain = target WHERE type IN (${quoted(domainTypes)});
    UPDATE audit_events SET domain = ${beforeColon} WHERE type IN (${quoted(roleTypes)}) AND target LIKE '%:%';
    UPDATE audit_events SET domain = ${beforeLastDot} WHERE type IN (${quoted(principalTypes)}) AND target LIKE '%.%';
    CREATE INDEX audit_events_by_domain ON audit_events (domain, at, id);
  `;
}

// Membership reviews and change approvals (admin/routes/reviews.ts, approvals.ts):
// - role_members.review_by: when the membership is due for review (NULL: never); it still grants
//   after that date. GET /admin/v1/reviews finds the memberships due or expiring by these indexes.
// - domains.approval_required_roles: a JSON array of role names whose member changes a second
//   admin of the domain must approve ('[]' for every domain made before this step).
// - pending_changes: those changes until approved, rejected, failed or expired. `change_json` is
//   the request as given; the row goes with its domain.
function reviewsApprovalsSchema(): string {
  return `
    ALTER TABLE role_members ADD COLUMN review_by BIGINT;
    CREATE INDEX role_members_by_review ON role_members (review_by) WHERE review_by IS NOT NULL;
    CREATE INDEX role_members_by_expiry ON role_members (expires_at) WHERE expires_at IS NOT NULL;
    ALTER TABLE domains ADD COLUMN approval_required_roles TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE pending_changes (
      id TEXT PRIMARY KEY,
      domain TEXT NOT NULL REFERENCES domains (name) ON DELETE CASCADE,
      role TEXT,
      kind TEXT NOT NULL,
      change_json TEXT NOT NULL,
      requested_by TEXT NOT NULL,
      requested_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'failed')),
      decided_by TEXT,
      decided_at BIGINT,
      outcome TEXT
    );
    CREATE INDEX pending_changes_by_domain ON pending_changes (domain, status, requested_at, id);
  `;
}

// The audit log's indexes on target and domain hold only the events that need them. A token
// request's event (one per token: most of the table) names its client as actor and target and
// has no domain, so it is found through the index on actor; skipping the two entries cuts the
// database's work per token by about a quarter. Queries by target say `target <> actor` for the
// events this index holds and look the others up by actor (storage/sql/audit.ts).
function auditPartialIndexesSchema(): string {
  return `
    DROP INDEX audit_events_by_target;
    CREATE INDEX audit_events_by_target ON audit_events (target) WHERE target <> actor;
    DROP INDEX audit_events_by_domain;
    CREATE INDEX audit_events_by_domain ON audit_events (domain, at, id) WHERE domain IS NOT NULL;
  `;
}
