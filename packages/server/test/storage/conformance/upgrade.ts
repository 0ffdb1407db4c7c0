// A database written by an earlier release must come through every later migration with its
// data intact. Each backend test file runs these on a database of its own, never migrated.

import assert from 'node:assert/strict';
import type { SqlDriver } from '../../../src/storage/drivers/driver.ts';
import { migrate, migrations } from '../../../src/storage/migrations.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import { admin, signingKey } from './harness.ts';

export async function assertUpgradesFromVersion1(driver: SqlDriver): Promise<void> {
  const store = new SqlStore(driver);
  try {
    await migrate(
      driver,
      migrations.filter((step) => step.version === 1),
    );
    const at = 1_700_000_000_000;
    // Rows as version 1 wrote them.
    await driver.run('INSERT INTO domains (name, description, created_at, updated_at) VALUES (?, ?, ?, ?)', ['alpha', 'd', at, at]);
    await driver.run(
      `INSERT INTO services (principal, domain, name, client_id, description, status, allowed_ips, expires_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ['alpha.api', 'alpha', 'api', 'alpha.api', null, 'ACTIVE', '[]', null, at, at],
    );
    await driver.run('INSERT INTO roles (domain, name, created_at, updated_at) VALUES (?, ?, ?, ?)', ['alpha', 'readers', at, at]);
    await driver.run('INSERT INTO role_members (domain, role, principal, expires_at) VALUES (?, ?, ?, ?)', ['alpha', 'readers', 'alpha.api', null]);

    await migrate(driver);

    const versions = await driver.all<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    assert.deepEqual(
      versions.map((row) => row.version),
      migrations.map((step) => step.version),
    );
    assert.deepEqual(await store.getDomain('alpha'), {
      name: 'alpha',
      description: 'd',
      tokenMaxLifetime: null,
      approvalRequiredRoles: [],
      createdAt: at,
      updatedAt: at,
    });
    assert.deepEqual((await store.getRole('alpha', 'readers'))?.members, [{ principal: 'alpha.api', expiresAt: null }], 'no review date on old memberships');
    assert.equal((await store.getService('alpha.api'))?.accountId, null);
    assert.equal((await store.getRole('alpha', 'readers'))?.tokenMaxLifetime, null);
    assert.equal((await store.getRole('alpha', 'readers'))?.idTokenSubjects, false, 'a role from before idTokenSubjects does not allow ID-token subjects');
    assert.deepEqual(await store.rolesHeld('alpha.api', ['alpha'], at), [{ domain: 'alpha', role: 'readers', maxLifetime: null, expiresAt: null }]);
    // The new tables work alongside the old rows.
    await store.createApiKey({ id: 'key-1', principal: 'alpha.api', audience: 'alpha', hash: 'h', description: null, expiresAt: null }, admin);
    await store.updateDomain('alpha', { tokenMaxLifetime: 60 }, admin);
    assert.deepEqual(await store.rolesHeld('alpha.api', ['alpha'], at), [{ domain: 'alpha', role: 'readers', maxLifetime: 60, expiresAt: null }]);
  } finally {
    await store.close();
  }
}

export async function assertUpgradesFromVersion2(driver: SqlDriver): Promise<void> {
  const at = 1_700_000_000_000;
  const store = new SqlStore(driver, { now: () => at + 1000 });
  try {
    await migrate(
      driver,
      migrations.filter((step) => step.version <= 2),
    );
    // Rows as version 2 wrote them.
    await driver.run('INSERT INTO domains (name, description, token_max_lifetime, created_at, updated_at) VALUES (?, ?, ?, ?, ?)', [
      'alpha',
      null,
      600,
      at,
      at,
    ]);
    await driver.run(
      `INSERT INTO services (principal, domain, name, client_id, description, account_id, status, allowed_ips, expires_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ['alpha.api', 'alpha', 'api', 'alpha.api', null, 'acct-1', 'ACTIVE', '[]', null, at, at],
    );
    await driver.run('INSERT INTO api_keys (id, principal, hash, description, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      'key-1',
      'alpha.api',
      'h',
      null,
      at,
      null,
      null,
    ]);
    const key = signingKey('kid-1', 'active', at);
    await driver.run(
      `INSERT INTO signing_keys (kid, alg, state, public_jwk, sealed_private_key, created_at, activates_at, retired_at, remove_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [key.kid, key.alg, key.state, key.publicJwk, key.sealedPrivateKey, key.createdAt, key.activatesAt, null, null],
    );
    const ca = { id: 'ca-1', state: 'active', chainPem: 'CHAIN', rootPem: 'ROOT', sealedPrivateKey: 'SEALED', createdAt: at } as const;
    await driver.run('INSERT INTO ca (id, state, chain_pem, root_pem, sealed_private_key, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
      ca.id,
      ca.state,
      ca.chainPem,
      ca.rootPem,
      ca.sealedPrivateKey,
      ca.createdAt,
    ]);

    await migrate(driver);

    const versions = await driver.all<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    assert.deepEqual(
      versions.map((row) => row.version),
      migrations.map((step) => step.version),
    );
    assert.equal((await store.getDomain('alpha'))?.tokenMaxLifetime, 600);
    assert.equal((await store.getServiceByAccountId('acct-1'))?.principal, 'alpha.api');
    // A key made before keys had an audience gets its own service's domain.
    assert.deepEqual(await store.getApiKey('key-1'), {
      id: 'key-1',
      principal: 'alpha.api',
      audience: 'alpha',
      hash: 'h',
      description: null,
      createdAt: at,
      expiresAt: null,
      revokedAt: null,
    });
    assert.deepEqual(await store.listSigningKeys(), [key]);
    assert.deepEqual(await store.getActiveCa(), ca);
    assert.deepEqual(await store.listCas(), [ca]);

    // The new tables work alongside the old rows: the old CA rotates, its certificates and
    // the old service's join tokens are recorded.
    const certificate = {
      serial: '0a1b',
      principal: 'alpha.api',
      thumbprint: 't',
      caId: 'ca-1',
      notBefore: at,
      notAfter: at + 5000,
      issuedAt: at,
      renewedFrom: null,
    };
    await store.recordCertificate(certificate, admin);
    assert.equal((await store.revokeCertificate('0a1b', 'superseded', admin)).certificate.revocationReason, 'superseded');
    assert.deepEqual(
      (await store.listRevokedCertificates(at)).map((revoked) => revoked.serial),
      ['0a1b'],
    );
    assert.equal(await store.insertPreparedCa({ ...ca, id: 'ca-2', state: 'prepared', createdAt: at + 1 }), true);
    assert.equal(await store.transitionCa('ca-1', 'active', 'old'), true);
    assert.equal(await store.transitionCa('ca-2', 'prepared', 'active'), true);
    await store.createJoinToken({ id: 'jt-1', principal: 'alpha.api', hash: 'jh', expiresAt: at + 60_000 }, admin);
    assert.deepEqual(await store.consumeJoinToken('jt-1', 'jh', at + 2000), { principal: 'alpha.api' });
    await store.createJoinToken({ id: 'jt-2', principal: 'alpha.api', hash: 'jh', expiresAt: at + 60_000 }, admin);
    await store.deleteService('alpha.api', admin);
    assert.equal(await store.consumeJoinToken('jt-2', 'jh', at + 2000), null);
    assert.equal((await store.getCertificate('0a1b'))?.principal, 'alpha.api');
  } finally {
    await store.close();
  }
}

/**
 * Audit events written before events carried their domain get it from the upgrade, by the same
 * rule as new ones: what each is about, by its kind; token requests and other events about no one
 * domain get none.
 */
export async function assertUpgradesAuditDomains(driver: SqlDriver): Promise<void> {
  const store = new SqlStore(driver);
  try {
    await migrate(
      driver,
      migrations.filter((step) => step.version <= 14),
    );
    const rows: [string, string][] = [
      ['domain.create', 'alpha'],
      ['domain.create', 'alpha.sub'],
      ['role.put', 'alpha:role.readers'],
      ['role-member.put-many', 'alpha.sub:role.x'],
      ['service.create', 'alpha.api'],
      ['service.create', 'alpha.sub.api'],
      ['certificate.issue', 'alpha.api'],
      ['join-token.use', 'alpha.sub.api'],
      ['token.issued', 'alpha.api'],
      ['token.refused.summary', '2001:db8::1'],
      ['signing-key.create', 'kid-1'],
    ];
    for (const [i, [type, target]] of rows.entries()) {
      await driver.run('INSERT INTO audit_events (at, actor, type, target, before_json, after_json) VALUES (?, ?, ?, ?, ?, ?)', [
        1_700_000_000_000 + i,
        'sys.auth.admin',
        type,
        target,
        'null',
        'null',
      ]);
    }
    await migrate(driver);
    const about = async (domain: string): Promise<string[]> =>
      (await store.queryAudit({ domain, limit: 100 })).map((event) => `${event.type} ${event.target}`).reverse();
    assert.deepEqual(await about('alpha'), ['domain.create alpha', 'role.put alpha:role.readers', 'service.create alpha.api', 'certificate.issue alpha.api']);
    assert.deepEqual(await about('alpha.sub'), [
      'domain.create alpha.sub',
      'role-member.put-many alpha.sub:role.x',
      'service.create alpha.sub.api',
      'join-token.use alpha.sub.api',
    ]);
    const none = await driver.all<{ type: string }>('SELECT type FROM audit_events WHERE domain IS NULL ORDER BY at');
    assert.deepEqual(
      none.map((row) => row.type),
      ['token.issued', 'token.refused.summary', 'signing-key.create'],
    );
  } finally {
    await store.close();
  }
}
