// Storage outages as events: one when calls start failing, one when they succeed again, with
// how long and how many failed; failures that are not outages (a conflict, a bad value) are
// not one.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AvailabilityWatch, watchedDriver, type AvailabilityEvent } from '../../src/storage/availability.ts';
import type { SqlDriver } from '../../src/storage/drivers/driver.ts';
import { ConflictError, StorageUnavailableError } from '../../src/storage/errors.ts';

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
  it('reports an outage once when it starts and once when it ends, with its length and failed calls', async () => {
    let clock = 1000;
    const watch = new AvailabilityWatch(() => clock);
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
    assert.deepEqual(events, [{ up: false, at: 1000, error: down }], 'one event for five failed calls');

    clock = 4500;
    inner.failWith = null;
    await driver.all('a');
    await driver.all('a');
    assert.equal(watch.up, true);
    assert.deepEqual(events.slice(1), [{ up: true, at: 4500, downSince: 1000, failedCalls: 5 }]);
  });

  it('a refused statement is not an outage', async () => {
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
