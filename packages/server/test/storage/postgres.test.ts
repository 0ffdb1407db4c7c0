import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { numberPlaceholders, openPostgresDriver } from '../../src/storage/drivers/postgres.ts';
import { ConcurrentChangeError, StorageUnavailableError } from '../../src/storage/errors.ts';
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

  it('reports a deadlock between two transactions as ConcurrentChangeError (a retry, not an outage), the winner committing', async () => {
    await database.reset();
    const driver = openPostgresDriver(database.url);
    try {
      await migrate(driver);
      await driver.run("INSERT INTO meta (key, value) VALUES ('a', '0'), ('b', '0')");
      // Each locks one row, waits until the other holds its own, then asks for the other's: PostgreSQL picks one to roll back.
      let held = 0;
      const bothHeld = new Promise<void>((resolve) => {
        const check = setInterval(() => held === 2 && (clearInterval(check), resolve()), 5);
      });
      const crossing = (first: string, second: string) =>
        driver.transaction(async (tx) => {
          await tx.run('UPDATE meta SET value = ? WHERE key = ?', [first, first]);
          held += 1;
          await bothHeld;
          await tx.run('UPDATE meta SET value = ? WHERE key = ?', [first, second]);
        });
      const results = await Promise.allSettled([crossing('a', 'b'), crossing('b', 'a')]);
      const refused = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
      assert.equal(refused.length, 1, results.map((result) => result.status).join(', '));
      assert.ok(refused[0] instanceof ConcurrentChangeError, String(refused[0]));
      assert.match((refused[0] as Error).message, /deadlock detected/);
      const values = (await driver.all<{ value: string }>("SELECT value FROM meta WHERE key IN ('a', 'b')")).map((row) => row.value);
      assert.equal(new Set(values).size, 1, `the winner wrote both rows: ${values.join(', ')}`);
    } finally {
      await driver.close();
    }
  });

  it('numbers placeholders, leaving quoted question marks alone', () => {
    assert.equal(numberPlaceholders("SELECT ?, '?', ? WHERE a = 'it''s?'"), "SELECT $1, '?', $2 WHERE a = 'it''s?'");
  });
});
