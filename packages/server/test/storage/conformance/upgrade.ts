// A database written by the first release must come through every later migration with its
// data intact. Each backend test file runs this on a database of its own, never migrated.

import assert from 'node:assert/strict';
import type { SqlDriver } from '../../../src/storage/drivers/driver.ts';
import { migrate, migrations } from '../../../src/storage/migrations.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import { admin } from './harness.ts';

export async function assertUpgradesFromVersion1(driver: SqlDriver): Promise<void> {
  const store = new SqlStore(driver);
  try {
    await migrate(driver, migrations.filter((step) => step.version === 1));
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
    assert.deepEqual(await store.getDomain('alpha'), { name: 'alpha', description: 'd', tokenMaxLifetime: null, createdAt: at, updatedAt: at });
    assert.equal((await store.getService('alpha.api'))?.accountId, null);
    assert.equal((await store.getRole('alpha', 'readers'))?.tokenMaxLifetime, null);
    assert.deepEqual(await store.rolesHeld('alpha.api', ['alpha'], at), [{ domain: 'alpha', role: 'readers', maxLifetime: null }]);
    // The new tables work alongside the old rows.
    await store.createApiKey({ id: 'key-1', principal: 'alpha.api', hash: 'h', description: null, expiresAt: null }, admin);
    await store.updateDomain('alpha', { tokenMaxLifetime: 60 }, admin);
    assert.deepEqual(await store.rolesHeld('alpha.api', ['alpha'], at), [{ domain: 'alpha', role: 'readers', maxLifetime: 60 }]);
  } finally {
    await store.close();
  }
}
