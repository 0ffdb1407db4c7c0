// Services created through the service-account API carry an account id of their own.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError } from '../../../src/storage/errors.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

export function serviceAccounts(harness: StoreHarness): void {
  describe('service accounts', () => {
    storeTest(harness, 'creates a service account and finds it by its account id', async (store) => {
      await store.createDomain({ name: 'accounts' }, admin);
      const account = await store.createService({ domain: 'accounts', name: 'billing', accountId: 'sa-1' }, {}, admin);
      const plain = await store.createService({ domain: 'accounts', name: 'web' }, {}, admin);
      assert.equal(account.accountId, 'sa-1');
      assert.equal(plain.accountId, null);
      assert.deepEqual(await store.getServiceByAccountId('sa-1'), account);
      assert.deepEqual(await store.getService('accounts.billing'), account);
      assert.equal(await store.getServiceByAccountId('sa-2'), null);

      // A patch never touches the account id.
      const disabled = await store.updateService('accounts.billing', { status: 'DISABLED' }, admin);
      assert.equal(disabled.accountId, 'sa-1');
      assert.deepEqual(await store.getServiceByAccountId('sa-1'), disabled);
    });

    storeTest(harness, 'refuses an account id that is taken, and records nothing', async (store) => {
      await store.createDomain({ name: 'accounts' }, admin);
      await store.createService({ domain: 'accounts', name: 'billing', accountId: 'sa-1' }, {}, admin);
      const events = await store.queryAudit({ limit: 100 });
      await assert.rejects(store.createService({ domain: 'accounts', name: 'payroll', accountId: 'sa-1' }, {}, admin), ConflictError);
      assert.equal(await store.getService('accounts.payroll'), null);
      assert.deepEqual(await store.queryAudit({ limit: 100 }), events);
    });

    storeTest(harness, 'lets exactly one of several concurrent creations with one account id succeed', async (store) => {
      await store.createDomain({ name: 'accounts' }, admin);
      const results = await Promise.allSettled(
        ['one', 'two', 'three'].map((name) => store.createService({ domain: 'accounts', name, accountId: 'sa-1' }, {}, admin)),
      );
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
      for (const result of results) {
        if (result.status === 'rejected') assert.ok(result.reason instanceof ConflictError, String(result.reason));
      }
      assert.equal((await store.listServiceAccounts()).length, 1);
    });

    storeTest(harness, 'lists service accounts in every domain, in order of creation', async (_store, driver) => {
      let clock = 1_700_000_000_000;
      const store = new SqlStore(driver, { now: () => ++clock });
      await store.createDomain({ name: 'accounts' }, admin);
      await store.createDomain({ name: 'other' }, admin);
      await store.createService({ domain: 'accounts', name: 'zeta', accountId: 'sa-z' }, {}, admin);
      await store.createService({ domain: 'accounts', name: 'plain' }, {}, admin);
      await store.createService({ domain: 'other', name: 'mid', accountId: 'sa-m' }, {}, admin);
      await store.createService({ domain: 'accounts', name: 'alpha', accountId: 'sa-a' }, {}, admin);
      assert.deepEqual(
        (await store.listServiceAccounts()).map((service) => [service.principal, service.accountId]),
        [
          ['accounts.zeta', 'sa-z'],
          ['other.mid', 'sa-m'],
          ['accounts.alpha', 'sa-a'],
        ],
      );
    });

    storeTest(harness, 'frees the account id when the service is deleted', async (store) => {
      await store.createDomain({ name: 'accounts' }, admin);
      await store.createService({ domain: 'accounts', name: 'billing', accountId: 'sa-1' }, {}, admin);
      await store.deleteService('accounts.billing', admin);
      assert.equal(await store.getServiceByAccountId('sa-1'), null);
      assert.deepEqual(await store.listServiceAccounts(), []);
      const again = await store.createService({ domain: 'accounts', name: 'payroll', accountId: 'sa-1' }, {}, admin);
      assert.deepEqual(await store.getServiceByAccountId('sa-1'), again);
    });
  });
}
