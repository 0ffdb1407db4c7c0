import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { CaRecord } from '../../../src/storage/records.ts';
import type { StoreHarness } from './harness.ts';
import { signingKey, storeTest } from './harness.ts';

function ca(id: string): CaRecord {
  return { id, state: 'active', chainPem: `CHAIN-${id}`, rootPem: `ROOT-${id}`, sealedPrivateKey: `SEALED-${id}`, createdAt: 1_700_000_000_000 };
}

export function keysAndCa(harness: StoreHarness): void {
  describe('signing keys', () => {
    storeTest(harness, 'stores and lists signing keys as given', async (store) => {
      const active = signingKey('kid-1', 'active', 1000);
      const next = signingKey('kid-2', 'next', 2000);
      assert.equal(await store.insertSigningKey(active), true);
      assert.equal(await store.insertSigningKey(next), true);
      assert.deepEqual(await store.listSigningKeys(), [active, next]);
    });

    storeTest(harness, 'refuses a second next key, a second active key and a used kid', async (store) => {
      assert.equal(await store.insertSigningKey(signingKey('kid-1', 'next')), true);
      assert.equal(await store.insertSigningKey(signingKey('kid-2', 'next')), false);
      assert.equal(await store.insertSigningKey(signingKey('kid-3', 'active')), true);
      assert.equal(await store.insertSigningKey(signingKey('kid-4', 'active')), false);
      assert.equal(await store.insertSigningKey(signingKey('kid-1', 'retired')), false);
      assert.equal(await store.insertSigningKey(signingKey('kid-5', 'retired')), true);
      assert.equal(await store.insertSigningKey(signingKey('kid-6', 'retired')), true);
      assert.deepEqual((await store.listSigningKeys()).map((key) => key.kid).sort(), ['kid-1', 'kid-3', 'kid-5', 'kid-6']);
    });

    storeTest(harness, 'lets exactly one of several concurrent next-key inserts win', async (store) => {
      const results = await Promise.all(['a', 'b', 'c', 'd'].map((kid) => store.insertSigningKey(signingKey(kid, 'next'))));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal((await store.listSigningKeys()).length, 1);
    });

    storeTest(harness, 'moves a key for exactly one of two concurrent callers', async (store) => {
      await store.insertSigningKey(signingKey('kid-1', 'active'));
      const results = await Promise.all([
        store.transitionSigningKey('kid-1', 'active', 'retired', { retiredAt: 5000, removeAt: 9000 }),
        store.transitionSigningKey('kid-1', 'active', 'retired', { retiredAt: 6000, removeAt: 9500 }),
      ]);
      assert.deepEqual(results.sort(), [false, true]);
      const [key] = await store.listSigningKeys();
      assert.equal(key?.state, 'retired');
      assert.ok(key?.retiredAt === 5000 || key?.retiredAt === 6000);
      assert.equal(key?.removeAt, key?.retiredAt === 5000 ? 9000 : 9500);
      assert.equal((await store.queryAudit({ type: 'signing-key.retire', limit: 10 })).length, 1);
    });

    storeTest(harness, 'refuses a transition from a state the key is not in, or into a taken slot', async (store) => {
      await store.insertSigningKey(signingKey('kid-1', 'active'));
      await store.insertSigningKey(signingKey('kid-2', 'next'));
      assert.equal(await store.transitionSigningKey('kid-2', 'active', 'retired', {}), false);
      assert.equal(await store.transitionSigningKey('kid-9', 'next', 'active', {}), false);
      assert.equal(await store.transitionSigningKey('kid-2', 'next', 'active', {}), false);

      assert.equal(await store.transitionSigningKey('kid-1', 'active', 'retired', { retiredAt: 10, removeAt: 20 }), true);
      assert.equal(await store.transitionSigningKey('kid-2', 'next', 'active', {}), true);
      const states = Object.fromEntries((await store.listSigningKeys()).map((key) => [key.kid, key.state]));
      assert.deepEqual(states, { 'kid-1': 'retired', 'kid-2': 'active' });
    });

    storeTest(harness, 'removes a retired key once, and never a live one', async (store) => {
      await store.insertSigningKey(signingKey('kid-1', 'active'));
      await store.insertSigningKey(signingKey('kid-2', 'retired'));
      assert.equal(await store.removeSigningKey('kid-1'), false);
      const results = await Promise.all([store.removeSigningKey('kid-2'), store.removeSigningKey('kid-2')]);
      assert.deepEqual(results.sort(), [false, true]);
      assert.deepEqual(
        (await store.listSigningKeys()).map((key) => key.kid),
        ['kid-1'],
      );
    });
  });

  describe('CA', () => {
    storeTest(harness, 'stores the first CA and keeps it when asked again', async (store) => {
      assert.equal(await store.getActiveCa(), null);
      assert.deepEqual(await store.initCa(ca('ca-1')), ca('ca-1'));
      assert.deepEqual(await store.initCa(ca('ca-2')), ca('ca-1'));
      assert.deepEqual(await store.getActiveCa(), ca('ca-1'));
      assert.equal((await store.queryAudit({ type: 'ca.init', limit: 10 })).length, 1);
    });

    storeTest(harness, 'agrees on one CA when instances initialise it at the same time', async (store) => {
      const results = await Promise.all(['ca-1', 'ca-2', 'ca-3'].map((id) => store.initCa(ca(id))));
      assert.equal(new Set(results.map((result) => result.id)).size, 1);
      assert.deepEqual(await store.getActiveCa(), results[0]);
    });
  });
}
