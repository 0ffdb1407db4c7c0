// What each backend's test file hands the conformance suite, and the helpers its tests share.

import { it } from 'node:test';
import type { SqlDriver, SqlExecutor, SqlValue } from '../../../src/storage/drivers/driver.ts';
import type { Actor, SigningKeyRecord } from '../../../src/storage/records.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { SqlStoreOptions } from '../../../src/storage/sql-store.ts';

export interface StoreHarness {
  /** A driver over an empty, migrated database. */
  openDriver(): Promise<SqlDriver>;
  /**
   * Another driver over the database openDriver last opened: a second instance sharing it.
   * Only where instances may share one database (PostgreSQL): two SQLite drivers in one
   * process would block each other, as node:sqlite waits for a lock synchronously, so the
   * SQLite tests race several processes instead (sqlite.test.ts).
   */
  openPeer?(): SqlDriver;
}

export const admin: Actor = { actor: 'sys.auth.admin' };

/** A test with a fresh store, closed afterwards whatever happens. */
export function storeTest(harness: StoreHarness, name: string, fn: (store: SqlStore, driver: SqlDriver) => Promise<void>): void {
  it(name, async () => {
    const driver = await harness.openDriver();
    const store = new SqlStore(driver);
    try {
      await fn(store, driver);
    } finally {
      await store.close();
    }
  });
}

/**
 * A test with two stores racing, as two instances sharing one database; without
 * harness.openPeer, the second store shares the first one's driver.
 */
export function peerTest(
  harness: StoreHarness,
  name: string,
  fn: (store: SqlStore, peer: SqlStore, driver: SqlDriver) => Promise<void>,
  options: SqlStoreOptions = {},
): void {
  it(name, async () => {
    const driver = await harness.openDriver();
    const store = new SqlStore(driver, options);
    const peer = harness.openPeer ? new SqlStore(harness.openPeer(), options) : null;
    try {
      await fn(store, peer ?? new SqlStore(driver, options), driver);
    } finally {
      await peer?.close();
      await store.close();
    }
  });
}

/** Wraps a driver to record every statement sent through it. */
export function countingDriver(driver: SqlDriver): { driver: SqlDriver; statements: string[] } {
  const statements: string[] = [];
  const wrap = (executor: SqlExecutor): SqlExecutor => ({
    all: <T>(sql: string, params?: readonly SqlValue[]) => (statements.push(sql), executor.all<T>(sql, params)),
    get: <T>(sql: string, params?: readonly SqlValue[]) => (statements.push(sql), executor.get<T>(sql, params)),
    run: (sql: string, params?: readonly SqlValue[]) => (statements.push(sql), executor.run(sql, params)),
    exec: (sql: string) => (statements.push(sql), executor.exec(sql)),
  });
  const counted: SqlDriver = {
    ...wrap(driver),
    dialect: driver.dialect,
    transaction: (fn, options) => driver.transaction((tx) => fn(wrap(tx)), options),
    close: () => driver.close(),
  };
  return { driver: counted, statements };
}

export function signingKey(kid: string, state: SigningKeyRecord['state'], createdAt = Date.now()): SigningKeyRecord {
  return {
    kid,
    alg: 'ES256',
    state,
    publicJwk: JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid, alg: 'ES256', use: 'sig' }),
    sealedPrivateKey: `sealed-private-key-of-${kid}`,
    createdAt,
    activatesAt: createdAt,
    retiredAt: null,
    removeAt: null,
  };
}

/** A promise and the function that settles it, to hold a transaction open mid-way. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}
