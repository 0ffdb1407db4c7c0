// Storage failures as a few events: one when calls start failing, a summary at most every
// `summaryMs` while they go on, one when calls succeed again after a quiet spell, with how long
// and how many failed. Partial failures (a full disk: writes fail, reads answer) and a call that
// answers after the failures began are one episode, not many; refused statements are none.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AvailabilityWatch, watchedDriver, type AvailabilityEvent } from '../../src/storage/availability.ts';
import type { SqlDriver } from '../../src/storage/drivers/driver.ts';
import { openSqliteDriver } from '../../src/storage/drivers/sqlite.ts';
import { ConflictError, StorageUnavailableError } from '../../src/storage/errors.ts';
import { migrate } from '../../src/storage/migrations.ts';

const TIMES = { quietMs: 1000, summaryMs: 10_000 };

function fakeDriver(): SqlDriver & { failWith: Error | null } {
  const answer = <T>(value: T): Promise<T> => (driver.failWith ? Promise.reject(driver.failWith) : Promise.resolve(value));
  const driver = {
    failWith: null as Error | null,
    dialect: 'postgres' as const,
    all: <T>() => answer<T[]>([]),
    get: <T>() => answer<T | undefined>(undefined),
    run: () => answer({ changes: 1 }),
    exec: () => answer(undefined),
    transaction: <T>(fn: (tx: SqlDriver) => Promise<T>): Promise<T> => (driver.failWith ? Promise.reject(driver.failWith) : fn(driver)),
    close: () => Promise.resolve(),
  };
  return driver;
}

describe('storage availability', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

  it('reports failing once, summaries while it goes on, and recovery after a quiet spell', async () => {
    let clock = 1000;
    const watch = new AvailabilityWatch(() => clock, TIMES);
    const events: AvailabilityEvent[] = [];
    watch.onChange((event) => events.push(event));
    const inner = fakeDriver();
    const driver = watchedDriver(inner, watch);

    await driver.get('SELECT 1');
    assert.deepEqual(events, [], 'nothing to report while storage answers');

    const down = new StorageUnavailableError('PostgreSQL unreachable: connect ECONNREFUSED');
    inner.failWith = down;
    for (const call of [driver.all('a'), driver.get('b'), driver.run('c'), driver.exec('d'), driver.transaction(async () => 1)]) {
      await assert.rejects(call, StorageUnavailableError, 'the caller still gets the error');
    }
    assert.equal(watch.up, false);
    assert.deepEqual(events, [{ state: 'failing', at: 1000, error: down }], 'one event for five failed calls');

    clock = 11_000;
    await assert.rejects(driver.get('e'), StorageUnavailableError);
    await assert.rejects(driver.get('f'), StorageUnavailableError);
    assert.deepEqual(events.slice(1), [{ state: 'still-failing', at: 11_000, since: 1000, failedCalls: 6, error: down }], 'a summary, at most every summaryMs');

    inner.failWith = null;
    clock = 11_500;
    await driver.all('a');
    assert.equal(watch.up, false, 'a success right after a failure does not end it');
    clock = 12_000;
    await driver.all('a');
    await driver.all('a');
    assert.equal(watch.up, true);
    assert.deepEqual(events.slice(2), [{ state: 'recovered', at: 12_000, since: 1000, failedCalls: 7 }]);
  });

  it('a full SQLite disk (writes fail, reads answer) is one episode, not one per failed write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-availability-'));
    dirs.push(dir);
    const inner = openSqliteDriver(join(dir, 'tessera.db'));
    try {
      await migrate(inner);
      const watch = new AvailabilityWatch(Date.now, TIMES);
      const events: AvailabilityEvent[] = [];
      watch.onChange((event) => events.push(event));
      const driver = watchedDriver(inner, watch);
      // The database cannot grow by a page: what a full disk does to every write.
      const { page_count: pages } = (await inner.get<{ page_count: number }>('PRAGMA page_count'))!;
      await inner.exec(`PRAGMA max_page_count = ${pages}`);
      for (let i = 0; i < 5; i++) {
        await driver.get('SELECT value FROM meta WHERE key = ?', ['none']);
        await assert.rejects(driver.run('INSERT INTO meta (key, value) VALUES (?, ?)', [`k${i}`, 'x'.repeat(64_000)]), StorageUnavailableError);
      }
      assert.deepEqual(
        events.map((e) => e.state),
        ['failing'],
      );
    } finally {
      await inner.close();
    }
  });

  it('a call that started before the failures and answers after them does not end them', async () => {
    let clock = 0;
    const watch = new AvailabilityWatch(() => clock, TIMES);
    const events: string[] = [];
    watch.onChange((event) => events.push(event.state));
    let release!: () => void;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const inner = fakeDriver();
    inner.get = <T>() => slow.then(() => undefined as T);
    const driver = watchedDriver(inner, watch);
    const inFlight = driver.get('SELECT 1');
    inner.failWith = new StorageUnavailableError('PostgreSQL unreachable: connect ECONNREFUSED');
    await assert.rejects(driver.all('SELECT 2'), StorageUnavailableError);
    clock = 10;
    release();
    await inFlight;
    await assert.rejects(driver.all('SELECT 3'), StorageUnavailableError);
    assert.deepEqual(events, ['failing']);
  });

  it('a refused statement is not a failure of storage', async () => {
    const watch = new AvailabilityWatch();
    const events: AvailabilityEvent[] = [];
    watch.onChange((event) => events.push(event));
    const inner = fakeDriver();
    inner.failWith = new ConflictError('duplicate');
    await assert.rejects(watchedDriver(inner, watch).run('INSERT'), ConflictError);
    assert.deepEqual(events, []);
    assert.equal(watch.up, true);
  });

  it('a throwing listener changes no answer', async () => {
    const watch = new AvailabilityWatch();
    watch.onChange(() => {
      throw new Error('listener broke');
    });
    const inner = fakeDriver();
    inner.failWith = new StorageUnavailableError('down');
    await assert.rejects(watchedDriver(inner, watch).get('x'), StorageUnavailableError);
    inner.failWith = null;
    assert.equal(await watchedDriver(inner, watch).get('x'), undefined);
  });
});
