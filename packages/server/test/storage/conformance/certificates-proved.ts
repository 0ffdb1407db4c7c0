// The registered key that proved a certificate (the CA's key assertion): removing or replacing
// that key revokes the certificates it proved, and their renewals, in the removal's transaction.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError } from '../../../src/storage/errors.ts';
import type { NewCertificate, ProvingKey } from '../../../src/storage/records.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

const T0 = 1_700_000_000_000;
const DAY = 86_400_000;
const K1: ProvingKey = { kid: 'k1', pem: 'PEM-1' };
const K2: ProvingKey = { kid: 'k2', pem: 'PEM-2' };

function certificate(serial: string, from: { provedBy?: ProvingKey; renewedFrom?: string; notAfter?: number }): NewCertificate {
  const { provedBy = null, renewedFrom = null, notAfter = T0 + DAY } = from;
  const thumbprint = `THUMB-${serial}`;
  return { serial, principal: 'alpha.api', thumbprint, caId: 'ca-1', notBefore: T0 - 60_000, notAfter, issuedAt: T0, renewedFrom, provedBy };
}

/** alpha.api with keys k1 and k2, and certificates: a0 (k1) → a1; e0 (k1, expired) → e1; b0 (k2); c0 (no key). */
async function withCertificates(store: SqlStore): Promise<void> {
  await store.createDomain({ name: 'alpha' }, admin);
  await store.createService({ domain: 'alpha', name: 'api' }, {}, admin);
  for (const key of [K1, K2]) await store.putPublicKey('alpha.api', key.kid, key.pem, admin);
  const issued = [
    certificate('a0', { provedBy: K1 }),
    certificate('a1', { renewedFrom: 'a0' }),
    certificate('e0', { provedBy: K1, notAfter: T0 }),
    certificate('e1', { renewedFrom: 'e0' }),
    certificate('b0', { provedBy: K2 }),
    certificate('c0', {}),
  ];
  for (const c of issued) await store.recordCertificate(c, admin);
}

const reasonOf = async (store: SqlStore, serial: string): Promise<string | null | undefined> => (await store.getCertificate(serial))?.revocationReason;

export function certificatesProved(harness: StoreHarness): void {
  describe('certificates a registered key proved', () => {
    storeTest(harness, 'deleting the key revokes (superseded) the live ones it proved, their renewals, nothing else', async (_s, driver) => {
      const store = new SqlStore(driver, { now: () => T0 + 5 });
      await withCertificates(store);
      assert.equal((await store.getCertificate('a0'))?.provedByKey, 'k1');
      assert.equal((await store.getCertificate('a1'))?.provedByKey, null, 'a renewal is proved by its parent, not a key');

      assert.deepEqual(await store.deletePublicKey('alpha.api', 'k1', admin), { certificatesRevoked: 3 });
      for (const serial of ['a0', 'a1', 'e1']) assert.equal(await reasonOf(store, serial), 'superseded', serial);
      // e0 expired on its own; b0 another key proved; c0 no key did.
      for (const serial of ['e0', 'b0', 'c0']) assert.equal(await reasonOf(store, serial), null, serial);
      const [event] = await store.queryAudit({ type: 'public-key.delete', limit: 1 });
      assert.deepEqual(event?.before, { kid: 'k1', pem: 'PEM-1', certificatesRevoked: 3 });
    });

    storeTest(harness, 'another PEM under the kid revokes them; the same PEM again does not', async (_s, driver) => {
      const store = new SqlStore(driver, { now: () => T0 + 5 });
      await withCertificates(store);
      assert.deepEqual(await store.putPublicKey('alpha.api', 'k2', 'PEM-2', admin), { created: false, certificatesRevoked: 0 });
      assert.equal(await reasonOf(store, 'b0'), null);
      assert.deepEqual(await store.putPublicKey('alpha.api', 'k2', 'PEM-2b', admin), { created: false, certificatesRevoked: 1 });
      assert.equal(await reasonOf(store, 'b0'), 'superseded');
      assert.equal(await reasonOf(store, 'a0'), null);
      const [event] = await store.queryAudit({ type: 'public-key.put', limit: 1 });
      assert.deepEqual(event?.after, { kid: 'k2', pem: 'PEM-2b', certificatesRevoked: 1 });
    });

    storeTest(harness, 'refuses to record a certificate whose proving key was removed or replaced since', async (_s, driver) => {
      const store = new SqlStore(driver, { now: () => T0 + 5 });
      await withCertificates(store);
      await store.putPublicKey('alpha.api', 'k2', 'PEM-2b', admin);
      await store.deletePublicKey('alpha.api', 'k1', admin);
      for (const [serial, provedBy] of [
        ['d1', K1],
        ['d2', K2],
      ] as const) {
        await assert.rejects(store.recordCertificate(certificate(serial, { provedBy }), admin), (error: unknown) => {
          assert.ok(error instanceof ConflictError);
          const removed = new RegExp(`public key ${provedBy.kid} of alpha\\.api that proved this request was removed`);
          assert.match(error.message, removed);
          return true;
        });
        assert.equal(await store.getCertificate(serial), null, serial);
      }
      await store.recordCertificate(certificate('d3', { provedBy: { kid: 'k2', pem: 'PEM-2b' } }), admin);
      assert.equal((await store.getCertificate('d3'))?.provedByKey, 'k2');
    });
  });
}
