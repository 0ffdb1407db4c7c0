import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError, NotFoundError } from '../../../src/storage/errors.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { Store } from '../../../src/storage/store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

const HOUR = 3_600_000;

async function withService(store: Store, secret = { id: 'sec-1', hash: 'hash-1' }): Promise<void> {
  await store.createDomain({ name: 'alpha' }, admin);
  await store.createService({ domain: 'alpha', name: 'api' }, { secret }, admin);
}

async function liveSecretIds(store: Store, now = Date.now()): Promise<string[]> {
  return ((await store.getClientForAuth('alpha.api', now))?.secrets ?? []).map((secret) => secret.id);
}

export function credentials(harness: StoreHarness): void {
  describe('client secrets', () => {
    storeTest(harness, 'keeps the previous secret working until the grace period ends', async (store) => {
      await withService(store);
      const graceUntil = Date.now() + HOUR;
      await store.addClientSecret('alpha.api', { id: 'sec-2', hash: 'hash-2' }, graceUntil, admin);

      const client = await store.getClientForAuth('alpha.api', Date.now());
      assert.deepEqual(
        client?.secrets.map(({ id, expiresAt }) => ({ id, expiresAt })),
        [
          { id: 'sec-2', expiresAt: null },
          { id: 'sec-1', expiresAt: graceUntil },
        ],
      );
      assert.deepEqual(await liveSecretIds(store, graceUntil - 1), ['sec-2', 'sec-1']);
      assert.deepEqual(await liveSecretIds(store, graceUntil), ['sec-2']);
    });

    storeTest(harness, 'keeps at most two live secrets, stopping the oldest at once', async (store) => {
      await withService(store);
      const graceUntil = Date.now() + HOUR;
      await store.addClientSecret('alpha.api', { id: 'sec-2', hash: 'hash-2' }, graceUntil, admin);
      await store.addClientSecret('alpha.api', { id: 'sec-3', hash: 'hash-3' }, graceUntil + HOUR, admin);
      assert.deepEqual(await liveSecretIds(store), ['sec-3', 'sec-2']);
      // sec-2 had no end; it gets the new grace period. sec-1 is gone although its grace remained.
      const [, second] = (await store.getClientForAuth('alpha.api', Date.now()))?.secrets ?? [];
      assert.equal(second?.expiresAt, graceUntil + HOUR);
    });

    storeTest(harness, 'stops the previous secret at once when the grace period is already over', async (store) => {
      await withService(store);
      await store.addClientSecret('alpha.api', { id: 'sec-2', hash: 'hash-2' }, Date.now() - 1, admin);
      assert.deepEqual(await liveSecretIds(store), ['sec-2']);
    });

    storeTest(harness, 'keeps at most two live secrets under concurrent additions', async (store) => {
      await withService(store);
      const graceUntil = Date.now() + HOUR;
      await Promise.all([2, 3, 4, 5, 6].map((n) => store.addClientSecret('alpha.api', { id: `sec-${n}`, hash: `hash-${n}` }, graceUntil, admin)));
      assert.equal((await liveSecretIds(store)).length, 2);
    });

    storeTest(harness, 'refuses a secret for a missing service or with a used id', async (store) => {
      await withService(store);
      await assert.rejects(store.addClientSecret('alpha.ghost', { id: 'sec-9', hash: 'h' }, Date.now(), admin), NotFoundError);
      await assert.rejects(store.addClientSecret('alpha.api', { id: 'sec-1', hash: 'h' }, Date.now() + HOUR, admin), ConflictError);
      assert.deepEqual(await liveSecretIds(store), ['sec-1']);
    });
  });

  describe('public keys', () => {
    storeTest(harness, 'puts, replaces, lists and deletes public keys', async (store) => {
      await withService(store);
      assert.deepEqual(await store.putPublicKey('alpha.api', 'k1', 'PEM-1', admin), { created: true, certificatesRevoked: 0 });
      assert.deepEqual(await store.putPublicKey('alpha.api', 'k2', 'PEM-2', admin), { created: true, certificatesRevoked: 0 });
      assert.deepEqual(await store.putPublicKey('alpha.api', 'k1', 'PEM-1b', admin), { created: false, certificatesRevoked: 0 });
      const keys = await store.listPublicKeys('alpha.api');
      assert.deepEqual(
        keys.map(({ kid, pem }) => ({ kid, pem })).sort((a, b) => a.kid.localeCompare(b.kid)),
        [
          { kid: 'k1', pem: 'PEM-1b' },
          { kid: 'k2', pem: 'PEM-2' },
        ],
      );
      assert.ok(keys.every((key) => key.principal === 'alpha.api' && key.createdAt > 0));

      await store.deletePublicKey('alpha.api', 'k1', admin);
      assert.deepEqual(
        (await store.listPublicKeys('alpha.api')).map((key) => key.kid),
        ['k2'],
      );
    });

    storeTest(harness, 'dates when a key was last removed or replaced, never moving it back', async (_store, driver) => {
      let clock = 1_000_000;
      const store = new SqlStore(driver, { now: () => clock });
      const removedAt = async (): Promise<number | null> => (await store.getService('alpha.api'))!.keyRemovedAt;
      await withService(store);
      assert.equal(await removedAt(), null, 'a new service never lost a key');
      await store.putPublicKey('alpha.api', 'k1', 'PEM-1', admin);
      await store.putPublicKey('alpha.api', 'k2', 'PEM-2', admin);
      clock = 2_000_000;
      await store.putPublicKey('alpha.api', 'k1', 'PEM-1', admin);
      assert.equal(await removedAt(), null, 'adding keys, or the same PEM again, removes none');
      await store.putPublicKey('alpha.api', 'k1', 'PEM-1b', admin);
      assert.equal(await removedAt(), 2_000_000, 'another PEM under the same kid replaces the old key');
      clock = 3_000_000;
      await store.deletePublicKey('alpha.api', 'k2', admin);
      assert.equal(await removedAt(), 3_000_000);
      assert.equal((await store.getClientWithKeys('alpha.api'))?.service.keyRemovedAt, 3_000_000);
      clock = 2_500_000;
      await store.deletePublicKey('alpha.api', 'k1', admin);
      assert.equal(await removedAt(), 3_000_000, 'a clock behind the last removal does not bring its tokens back');
      await assert.rejects(store.deletePublicKey('alpha.api', 'k1', admin), NotFoundError);
      assert.equal(await removedAt(), 3_000_000);
    });

    storeTest(harness, 'endServiceTokens dates the end of every token so far without removing a key, never moving it back', async (_store, driver) => {
      let clock = 5_000_000;
      const store = new SqlStore(driver, { now: () => clock });
      await withService(store);
      await store.putPublicKey('alpha.api', 'k1', 'PEM-1', admin);
      await store.endServiceTokens('alpha.api', admin);
      assert.equal((await store.getService('alpha.api'))!.keyRemovedAt, 5_000_000);
      assert.deepEqual(
        (await store.listPublicKeys('alpha.api')).map((key) => key.kid),
        ['k1'],
        'the keys stay',
      );
      clock = 4_000_000;
      await store.endServiceTokens('alpha.api', admin);
      assert.equal((await store.getService('alpha.api'))!.keyRemovedAt, 5_000_000, 'a clock behind does not bring tokens back');
      const events = await store.queryAudit({ type: 'service.tokens-end', limit: 10 });
      assert.equal(events.length, 2);
      assert.equal(events[0]!.target, 'alpha.api');
      await assert.rejects(store.endServiceTokens('alpha.nobody', admin), NotFoundError);
    });

    storeTest(harness, 'dates a removal again once it has committed, so a request that read the key before the commit is ended', async (_store, driver) => {
      // Each reading of the clock is 400 ms later: the removal's transaction spans a second boundary.
      let clock = 4_000_000;
      const store = new SqlStore(driver, { now: () => (clock += 400) });
      await withService(store);
      await store.putPublicKey('alpha.api', 'k1', 'PEM-1', admin);
      await store.putPublicKey('alpha.api', 'k2', 'PEM-2', admin);
      await store.deletePublicKey('alpha.api', 'k1', admin);
      const afterDelete = clock;
      assert.equal((await store.getService('alpha.api'))!.keyRemovedAt, afterDelete, 'the date is the last reading, after the commit');
      await store.putPublicKey('alpha.api', 'k2', 'PEM-2b', admin);
      assert.equal((await store.getService('alpha.api'))!.keyRemovedAt, clock, 'a replacement too');
      await store.putPublicKey('alpha.api', 'k3', 'PEM-3', admin);
      assert.ok((await store.getService('alpha.api'))!.keyRemovedAt! < clock, 'adding a key dates nothing');
    });

    storeTest(harness, 'reports a missing key or service', async (store) => {
      await withService(store);
      await assert.rejects(store.deletePublicKey('alpha.api', 'k9', admin), NotFoundError);
      await assert.rejects(store.deletePublicKey('alpha.ghost', 'k1', admin), NotFoundError);
      await assert.rejects(store.putPublicKey('alpha.ghost', 'k1', 'PEM', admin), NotFoundError);
      assert.deepEqual(await store.listPublicKeys('alpha.ghost'), []);
    });

    storeTest(harness, 'reads a client and its keys by client_id in one lookup, null for an unknown client', async (store) => {
      await withService(store);
      const keyless = await store.getClientWithKeys('alpha.api');
      assert.equal(keyless?.service.principal, 'alpha.api');
      assert.deepEqual(keyless?.publicKeys, []);
      await store.putPublicKey('alpha.api', 'k2', 'PEM-2', admin);
      await store.putPublicKey('alpha.api', 'k1', 'PEM-1', admin);
      const client = await store.getClientWithKeys('alpha.api');
      assert.deepEqual(client?.service, await store.getService('alpha.api'));
      assert.deepEqual(
        client?.publicKeys.map(({ principal, kid, pem }) => ({ principal, kid, pem })).sort((a, b) => a.kid.localeCompare(b.kid)),
        [
          { principal: 'alpha.api', kid: 'k1', pem: 'PEM-1' },
          { principal: 'alpha.api', kid: 'k2', pem: 'PEM-2' },
        ],
      );
      assert.deepEqual(client?.publicKeys, await store.listPublicKeys('alpha.api'));
      assert.equal(await store.getClientWithKeys('alpha.ghost'), null);
    });
  });
}
