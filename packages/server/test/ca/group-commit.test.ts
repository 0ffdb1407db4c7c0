// Certificates issued in the same turn of the event loop are recorded in one transaction when
// the store can (Store.recordCertificates), and still none is returned before its record commits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Store } from '../../src/storage/store.ts';
import { OWN_SANS, makeCsr } from './csr-fixtures.ts';
import { memoryCaStore, newAuthority } from './helpers.ts';
import type { MemoryCaStore } from './helpers.ts';

type Entries = Parameters<Store['recordCertificates']>[0];

function batchingStore(recordBatch: (store: MemoryCaStore, entries: Entries) => Promise<void>): MemoryCaStore & { batches: number[] } {
  const store = memoryCaStore();
  const batches: number[] = [];
  return Object.assign(store, {
    batches,
    async recordCertificates(entries: Entries): Promise<void> {
      batches.push(entries.length);
      await recordBatch(store, entries);
    },
  });
}

void describe('service certificate group commit', () => {
  void test('concurrent issuances share one recordCertificates call, and each certificate is recorded when returned', async () => {
    const store = batchingStore(async (inner, entries) => {
      for (const { certificate, by } of entries) await inner.recordCertificate(certificate, by);
    });
    const { ca } = await newAuthority({ store });
    const csrPem = (await makeCsr({ subject: 'CN=alpha.api', sans: OWN_SANS })).pem;
    const issued = await Promise.all(Array.from({ length: 5 }, () => ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now: Date.now() })));
    assert.deepEqual(store.batches, [5]);
    assert.deepEqual(new Set(store.certificates.map((record) => record.serial)), new Set(issued.map((certificate) => certificate.serial)));
  });

  void test('when the group fails, each certificate is retried alone: only the one whose record fails is refused', async () => {
    const store = batchingStore(async () => {
      throw new Error('disk full');
    });
    const recordOne = store.recordCertificate.bind(store);
    store.recordCertificate = async (certificate, by) => {
      if (by.actor === 'sys.auth.admin') throw new Error('audit write failed');
      await recordOne(certificate, by);
    };
    const { ca } = await newAuthority({ store });
    const csrPem = (await makeCsr({ subject: 'CN=alpha.api', sans: OWN_SANS })).pem;
    const [mine, byAdmin] = await Promise.allSettled([
      ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now: Date.now() }),
      ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now: Date.now(), actor: 'sys.auth.admin' }),
    ]);
    assert.deepEqual(store.batches, [2]);
    assert.equal(mine.status, 'fulfilled');
    assert.equal(byAdmin.status, 'rejected');
    assert.match(String((byAdmin as PromiseRejectedResult).reason), /audit write failed/);
    assert.deepEqual(
      store.certificates.map((record) => record.serial),
      [(mine as PromiseFulfilledResult<{ serial: string }>).value.serial],
    );
  });

  void test('a failed group of one refuses that certificate with the store’s error', async () => {
    const store = batchingStore(async () => {
      throw new Error('disk full');
    });
    const { ca } = await newAuthority({ store });
    const csrPem = (await makeCsr({ subject: 'CN=alpha.api', sans: OWN_SANS })).pem;
    await assert.rejects(ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now: Date.now() }), /disk full/);
    assert.deepEqual(store.certificates, []);
  });
});
