import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError, NotFoundError } from '../../../src/storage/errors.ts';
import type { ApiKeyRecord } from '../../../src/storage/records.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { Store } from '../../../src/storage/store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

function apiKey(id: string, principal = 'alpha.api', expiresAt: number | null = null, audience = 'beta'): Omit<ApiKeyRecord, 'createdAt' | 'revokedAt'> {
  return { id, principal, audience, hash: `HASH-OF-${id}`, description: `key ${id}`, expiresAt };
}

async function withServices(store: Store): Promise<void> {
  await store.createDomain({ name: 'alpha' }, admin);
  await store.createDomain({ name: 'beta' }, admin);
  await store.createService({ domain: 'alpha', name: 'api' }, {}, admin);
  await store.createService({ domain: 'alpha', name: 'web' }, {}, admin);
}

export function apiKeys(harness: StoreHarness): void {
  describe('API keys', () => {
    storeTest(harness, 'creates, gets and lists API keys, newest first', async (_store, driver) => {
      let clock = 1_700_000_000_000;
      const store = new SqlStore(driver, { now: () => ++clock });
      await withServices(store);
      const first = await store.createApiKey(apiKey('key-1', 'alpha.api', 4_000_000_000_000), admin);
      const second = await store.createApiKey(apiKey('key-2'), admin);
      await store.createApiKey(apiKey('key-3', 'alpha.web'), admin);

      assert.deepEqual(first, {
        id: 'key-1',
        principal: 'alpha.api',
        audience: 'beta',
        hash: 'HASH-OF-key-1',
        description: 'key key-1',
        createdAt: first.createdAt,
        expiresAt: 4_000_000_000_000,
        revokedAt: null,
      });
      assert.ok(second.createdAt > first.createdAt);
      assert.deepEqual(await store.getApiKey('key-1'), first);
      assert.deepEqual(await store.listApiKeys('alpha.api'), [second, first]);
      assert.deepEqual(
        (await store.listApiKeys('alpha.web')).map((key) => key.id),
        ['key-3'],
      );
      assert.equal(await store.getApiKey('key-9'), null);
      assert.deepEqual(await store.listApiKeys('alpha.ghost'), []);
    });

    storeTest(harness, 'refuses a key for a missing service, toward a missing domain or with a used id, and records nothing', async (store) => {
      await withServices(store);
      await store.createApiKey(apiKey('key-1'), admin);
      const events = await store.queryAudit({ limit: 100 });
      await assert.rejects(store.createApiKey(apiKey('key-2', 'alpha.ghost'), admin), NotFoundError);
      await assert.rejects(store.createApiKey(apiKey('key-2', 'alpha.api', null, 'gamma'), admin), /domain gamma not found/);
      await assert.rejects(store.createApiKey(apiKey('key-1', 'alpha.web'), admin), ConflictError);
      assert.equal(await store.getApiKey('key-2'), null);
      assert.equal((await store.getApiKey('key-1'))?.principal, 'alpha.api');
      assert.deepEqual(await store.queryAudit({ limit: 100 }), events);
    });

    storeTest(harness, 'revokes a key once; revoking it again changes nothing', async (store) => {
      await withServices(store);
      const created = await store.createApiKey(apiKey('key-1', 'alpha.api', 4_000_000_000_000), admin);
      await store.revokeApiKey('alpha.api', 'key-1', { actor: 'alpha.admin' });
      const revoked = await store.getApiKey('key-1');
      assert.ok(revoked && revoked.revokedAt !== null && revoked.revokedAt >= created.createdAt);
      assert.deepEqual({ ...revoked, revokedAt: null }, created);

      await store.revokeApiKey('alpha.api', 'key-1', admin);
      assert.deepEqual(await store.getApiKey('key-1'), revoked);

      const events = await store.queryAudit({ type: 'api-key.revoke', limit: 10 });
      assert.deepEqual(
        events.map(({ actor, target, before, after }) => ({ actor, target, before, after })),
        [
          {
            actor: 'alpha.admin',
            target: 'alpha.api',
            before: { id: 'key-1', principal: 'alpha.api', audience: 'beta', expiresAt: 4_000_000_000_000, revokedAt: null },
            after: { id: 'key-1', principal: 'alpha.api', audience: 'beta', expiresAt: 4_000_000_000_000, revokedAt: revoked.revokedAt },
          },
        ],
      );
    });

    storeTest(harness, 'revokes exactly once when callers race', async (store) => {
      await withServices(store);
      await store.createApiKey(apiKey('key-1'), admin);
      await Promise.all(Array.from({ length: 5 }, () => store.revokeApiKey('alpha.api', 'key-1', admin)));
      assert.equal((await store.queryAudit({ type: 'api-key.revoke', limit: 10 })).length, 1);
    });

    storeTest(harness, "refuses to revoke a key that is not the principal's", async (store) => {
      await withServices(store);
      await store.createApiKey(apiKey('key-1'), admin);
      const events = await store.queryAudit({ limit: 100 });
      await assert.rejects(store.revokeApiKey('alpha.web', 'key-1', admin), NotFoundError);
      await assert.rejects(store.revokeApiKey('alpha.ghost', 'key-1', admin), NotFoundError);
      await assert.rejects(store.revokeApiKey('alpha.api', 'key-9', admin), NotFoundError);
      assert.equal((await store.getApiKey('key-1'))?.revokedAt, null);
      assert.deepEqual(await store.queryAudit({ limit: 100 }), events);
    });

    storeTest(harness, 'audits a new key by id, owner and expiry, never by its hash', async (store) => {
      await withServices(store);
      await store.createApiKey(apiKey('key-1', 'alpha.api', 4_000_000_000_000), { actor: 'alpha.admin' });
      await store.revokeApiKey('alpha.api', 'key-1', admin);
      const [created] = await store.queryAudit({ type: 'api-key.create', limit: 10 });
      assert.deepEqual(
        { actor: created?.actor, target: created?.target, before: created?.before, after: created?.after },
        {
          actor: 'alpha.admin',
          target: 'alpha.api',
          before: null,
          after: { id: 'key-1', principal: 'alpha.api', audience: 'beta', expiresAt: 4_000_000_000_000 },
        },
      );
      assert.ok(!JSON.stringify(await store.queryAudit({ limit: 100 })).includes('HASH-OF-key-1'));
    });

    storeTest(harness, 'deleting a domain deletes the keys made toward it, and a new domain of that name does not get them', async (store) => {
      await withServices(store);
      await store.createApiKey(apiKey('key-1'), admin);
      await store.createApiKey(apiKey('key-2', 'alpha.api', null, 'alpha'), admin);
      await store.deleteDomain('beta', admin);
      assert.equal(await store.getApiKey('key-1'), null);
      assert.equal((await store.getApiKey('key-2'))?.audience, 'alpha');

      await store.createDomain({ name: 'beta' }, admin);
      assert.equal(await store.getApiKey('key-1'), null);
      assert.deepEqual(
        (await store.listApiKeys('alpha.api')).map((key) => key.id),
        ['key-2'],
      );
    });

    storeTest(harness, 'deleting a service deletes its keys, and a new service of that name does not get them back', async (store) => {
      await withServices(store);
      await store.createApiKey(apiKey('key-1'), admin);
      await store.createApiKey(apiKey('key-2'), admin);
      await store.createApiKey(apiKey('key-3', 'alpha.web'), admin);
      await store.deleteService('alpha.api', admin);

      assert.equal(await store.getApiKey('key-1'), null);
      assert.equal(await store.getApiKey('key-2'), null);
      assert.deepEqual(await store.listApiKeys('alpha.api'), []);
      await assert.rejects(store.revokeApiKey('alpha.api', 'key-1', admin), NotFoundError);
      assert.equal((await store.getApiKey('key-3'))?.principal, 'alpha.web');

      await store.createService({ domain: 'alpha', name: 'api' }, {}, admin);
      assert.deepEqual(await store.listApiKeys('alpha.api'), []);
      assert.equal(await store.getApiKey('key-1'), null);
    });
  });
}
