// The guarantees SqlStore builds on, checked on the driver itself.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError, NotFoundError } from '../../../src/storage/errors.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, countingDriver, gate, storeTest } from './harness.ts';

export function transactions(harness: StoreHarness): void {
  describe('transactions', () => {
    storeTest(harness, 'shows a transaction to other readers only once it commits', async (_store, driver) => {
      const { opened, open } = gate();
      const inserted = gate();
      const committing = driver.transaction(async (tx) => {
        await tx.run("INSERT INTO meta (key, value) VALUES ('k', 'v')");
        inserted.open();
        await opened;
      });
      await inserted.opened;
      assert.equal(await driver.get("SELECT value FROM meta WHERE key = 'k'"), undefined);
      open();
      await committing;
      assert.deepEqual({ ...(await driver.get<{ value: string }>("SELECT value FROM meta WHERE key = 'k'")) }, { value: 'v' });
    });

    storeTest(harness, 'rolls back every statement of a transaction that throws', async (_store, driver) => {
      await assert.rejects(
        driver.transaction(async (tx) => {
          await tx.run("INSERT INTO meta (key, value) VALUES ('a', '1')");
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await driver.get("SELECT value FROM meta WHERE key = 'a'"), undefined);
    });

    storeTest(harness, 'runs concurrent transactions one after another on the same rows', async (_store, driver) => {
      await driver.run("INSERT INTO meta (key, value) VALUES ('n', '0')");
      await Promise.all(
        Array.from({ length: 10 }, () =>
          driver.transaction(async (tx) => {
            // A read-modify-write that loses updates if two transactions interleave.
            const lock = driver.dialect === 'postgres' ? ' FOR UPDATE' : '';
            const row = await tx.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'n'${lock}`);
            await new Promise((resolve) => setTimeout(resolve, 2));
            await tx.run("UPDATE meta SET value = ? WHERE key = 'n'", [String(Number(row?.value) + 1)]);
          }),
        ),
      );
      assert.equal((await driver.get<{ value: string }>("SELECT value FROM meta WHERE key = 'n'"))?.value, '10');
    });

    storeTest(harness, 'refuses to run statements after its transaction ended', async (_store, driver) => {
      let escaped: Parameters<Parameters<typeof driver.transaction>[0]>[0] | undefined;
      await driver.transaction(async (tx) => {
        escaped = tx;
      });
      await assert.rejects(escaped!.get('SELECT 1 AS one'), /transaction already finished/);
    });

    storeTest(harness, 'reports a duplicate key as ConflictError', async (_store, driver) => {
      await driver.run("INSERT INTO meta (key, value) VALUES ('k', '1')");
      await assert.rejects(driver.run("INSERT INTO meta (key, value) VALUES ('k', '2')"), ConflictError);
    });

    storeTest(harness, 'never lets a service and the deletion of its domain both succeed', async (store) => {
      for (let round = 0; round < 5; round++) {
        const domain = `d${round}`;
        await store.createDomain({ name: domain }, admin);
        const [created, deleted] = await Promise.allSettled([store.createService({ domain, name: 'api' }, {}, admin), store.deleteDomain(domain, admin)]);
        assert.notEqual(created.status === 'fulfilled', deleted.status === 'fulfilled');
        const failure = created.status === 'rejected' ? created.reason : deleted.status === 'rejected' ? deleted.reason : undefined;
        assert.ok(failure instanceof NotFoundError || failure instanceof ConflictError, String(failure));
        assert.equal((await store.getDomain(domain)) !== null, created.status === 'fulfilled');
      }
    });

    storeTest(harness, 'deletes services that share roles concurrently', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createDomain({ name: 'beta' }, admin);
      const principals = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => `alpha.${name}`);
      for (const principal of principals) {
        await store.createService({ domain: 'alpha', name: principal.slice('alpha.'.length) }, {}, admin);
      }
      const members = principals.map((principal) => ({ principal, expiresAt: null }));
      for (const [domain, role] of [
        ['alpha', 'r1'],
        ['beta', 'r2'],
        ['beta', 'r3'],
      ] as const) {
        await store.putRole(domain, role, [...members].reverse(), admin);
      }
      await Promise.all(principals.map((principal) => store.deleteService(principal, admin)));
      for (const domain of ['alpha', 'beta']) {
        assert.deepEqual(
          (await store.listRoles(domain)).flatMap((role) => role.members),
          [],
        );
      }
    });

    const lookups = "serves the token endpoint's lookups with one query for the client and its secrets and one for its roles";
    storeTest(harness, lookups, async (_store, driver) => {
      const counting = countingDriver(driver);
      const store = new SqlStore(counting.driver);
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createService({ domain: 'alpha', name: 'api' }, { secret: { id: 's', hash: 'h' } }, admin);
      await store.putRole('alpha', 'readers', [{ principal: 'alpha.api', expiresAt: null }], admin);

      counting.statements.length = 0;
      assert.ok(await store.getClientForAuth('alpha.api', Date.now()));
      assert.equal(counting.statements.length, 1);
      counting.statements.length = 0;
      assert.equal(await store.getClientForAuth('alpha.nobody', Date.now()), null);
      assert.equal(counting.statements.length, 1, 'an unknown client costs the same one query');
      counting.statements.length = 0;
      assert.equal((await store.rolesHeld('alpha.api', ['alpha', 'beta'], Date.now())).length, 1);
      assert.equal(counting.statements.length, 1);
    });
  });
}
