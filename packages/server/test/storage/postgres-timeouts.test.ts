// The driver's 5 s bounds are the server's own (statement_timeout, lock_timeout,
// idle_in_transaction_session_timeout), not only pg's client-side query_timeout: a client-side
// timeout tells PostgreSQL nothing, so the statement would go on running (or waiting for its
// lock) in a backend nobody reads from, one more with every retry, towards max_connections for
// the whole fleet; and a transaction abandoned over a dead network would keep its row locks
// until TCP keepalive noticed, hours later.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { SqlDriver } from '../../src/storage/drivers/driver.ts';
import { openPostgresDriver } from '../../src/storage/drivers/postgres.ts';
import { StorageUnavailableError } from '../../src/storage/errors.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { SERVER_URL, createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const CALLS = 4;
const POSTGRES = { host: new URL(SERVER_URL).hostname, port: Number(new URL(SERVER_URL).port || 5432) };
/** Generous next to the driver's own 5 s bound; a session timeout on the server would meet it. */
const LOCK_RELEASE_BOUND_MS = 5000;

describe('a PostgreSQL statement the driver gave up on', () => {
  let database: TestDatabase;
  let driver: SqlDriver;
  let holder: pg.Client;
  let watcher: pg.Client;
  before(async () => {
    database = await createTestDatabase();
    driver = openPostgresDriver(database.url);
    await driver.exec('CREATE TABLE held (n INTEGER)');
    holder = new pg.Client({ connectionString: database.url });
    watcher = new pg.Client({ connectionString: database.url });
    await holder.connect();
    await watcher.connect();
  });
  after(async () => {
    await holder?.end().catch(() => {});
    await watcher?.end().catch(() => {});
    await driver?.close();
    await database?.drop();
  });

  it('is not left running on the server once the caller was told it failed', async () => {
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE held IN ACCESS EXCLUSIVE MODE');
    try {
      const started = performance.now();
      const calls = Array.from({ length: CALLS }, () => driver.all('SELECT n FROM held'));
      await Promise.all(calls.map((call) => assert.rejects(call, StorageUnavailableError)));
      console.log(`# ${CALLS} reads behind a held lock rejected after ${(performance.now() - started).toFixed(0)} ms`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const { rows } = await watcher.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'SELECT n FROM held%' AND pid <> pg_backend_pid()",
      );
      console.log(`# backends still running the abandoned statement: ${rows[0]!.n}`);
      assert.equal(rows[0]!.n, 0, 'every abandoned statement is cancelled on the server (statement_timeout or a cancel request)');
    } finally {
      await holder.query('ROLLBACK');
    }
  });
});

describe('a transaction the driver gave up on over a silent network', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let driver: SqlDriver;
  let direct: pg.Client;
  before(async () => {
    database = await createTestDatabase();
    proxy = await startTcpProxy(POSTGRES);
    driver = openPostgresDriver(proxy.urlFor(database.url));
    await driver.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY); INSERT INTO rows VALUES (1)');
    direct = new pg.Client({ connectionString: database.url });
    await direct.connect();
  });
  after(async () => {
    await direct?.end().catch(() => {});
    await driver?.close();
    await proxy?.close();
    await database?.drop();
  });

  // The client closes its end, but no FIN or RST reaches PostgreSQL through a dead network: the
  // backend stays idle in transaction, holding its row locks until the server's TCP keepalive
  // (two hours by default) notices. Every other instance that needs the row times out meanwhile.
  it('does not keep holding its row locks on the server', async () => {
    const transaction = driver.transaction(async (tx) => {
      await tx.get('SELECT id FROM rows WHERE id = ? FOR UPDATE', [1]);
      proxy.blackhole();
      await tx.get('SELECT 1 AS ok');
    });
    await assert.rejects(transaction, StorageUnavailableError);
    const deadline = performance.now() + LOCK_RELEASE_BOUND_MS;
    let held = true;
    while (held && performance.now() < deadline) {
      held = await direct.query('SELECT id FROM rows WHERE id = 1 FOR UPDATE NOWAIT').then(
        () => false,
        () => true,
      );
      if (held) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await proxy.restore();
    assert.equal(held, false, `the row lock was still held ${LOCK_RELEASE_BOUND_MS} ms after the driver reported the transaction failed`);
  });
});
