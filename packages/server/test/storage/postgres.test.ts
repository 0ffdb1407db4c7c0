import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { numberPlaceholders, openPostgresDriver } from '../../src/storage/drivers/postgres.ts';
import { StorageUnavailableError } from '../../src/storage/errors.ts';
import { migrate, migrations } from '../../src/storage/migrations.ts';
import { openStore } from '../../src/storage/open.ts';
import { storeConformance } from './conformance/index.ts';
import { assertUpgradesAuditDomains, assertUpgradesFromVersion1, assertUpgradesFromVersion2 } from './conformance/upgrade.ts';
import { createTestDatabase } from './postgres-database.ts';
import type { TestDatabase } from './postgres-database.ts';

// Connecting before any test is declared: an unreachable server fails the file at once,
// with one clear message instead of a cancelled test for every case.
const database: TestDatabase = await createTestDatabase();

describe('PostgreSQL store', () => {
  after(() => database.drop());

  storeConformance({
    async openDriver() {
      await database.reset();
      const driver = openPostgresDriver(database.url);
      await migrate(driver);
      return driver;
    },
    openPeer: () => openPostgresDriver(database.url),
  });

  it('migrates once when several instances start together', async () => {
    await database.reset();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore({ kind: 'postgres', url: database.url })));
    await Promise.all(stores.map((store) => store.close()));
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(
        rows.map((row) => row.version),
        migrations.map((migration) => migration.version),
      );
    } finally {
      await client.end();
    }
  });

  it('refuses a database whose schema is newer than this code', async () => {
    const driver = openPostgresDriver(database.url);
    try {
      await driver.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [9999, 'from the future', 0]);
      await assert.rejects(migrate(driver), /newer than this Tessera/);
    } finally {
      await driver.run('DELETE FROM schema_migrations WHERE version = 9999');
      await driver.close();
    }
  });

  it('upgrades a version-1 database and keeps its data', async () => {
    // A database of its own: the shared one is already at the newest version.
    const old = await createTestDatabase();
    try {
      await assertUpgradesFromVersion1(openPostgresDriver(old.url));
    } finally {
      await old.drop();
    }
  });

  it('upgrades a version-2 database and keeps its data', async () => {
    const old = await createTestDatabase();
    try {
      await assertUpgradesFromVersion2(openPostgresDriver(old.url));
    } finally {
      await old.drop();
    }
  });

  it('gives the audit events of an older database the domain each is about', async () => {
    const old = await createTestDatabase();
    try {
      await assertUpgradesAuditDomains(openPostgresDriver(old.url));
    } finally {
      await old.drop();
    }
  });

  it('returns BIGINT columns as numbers', async () => {
    const driver = openPostgresDriver(database.url);
    try {
      assert.deepEqual({ ...(await driver.get<{ n: number }>('SELECT CAST(? AS BIGINT) AS n', [1_700_000_000_123])) }, { n: 1_700_000_000_123 });
      // The parser is the pool's own: pg's global parsers still hand BIGINT back as text.
      assert.equal(typeof pg.types.getTypeParser(pg.types.builtins.INT8)('1'), 'string');
    } finally {
      await driver.close();
    }
  });

  it('reports an unreachable server as StorageUnavailableError', async () => {
    await assert.rejects(openStore({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/postgres' }), StorageUnavailableError);
  });

  it('numbers placeholders, leaving quoted question marks alone', () => {
    assert.equal(numberPlaceholders("SELECT ?, '?', ? WHERE a = 'it''s?'"), "SELECT $1, '?', $2 WHERE a = 'it''s?'");
  });
});
