// `void`: node:test's describe/test return promises the runner itself awaits.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { loadCertificateAuthority } from '../../src/ca/authority.ts';
import { createCa } from '../../src/ca/create-ca.ts';
import { createSealer, generateMasterKey } from '../../src/keys/master-key.ts';
import type { Sealer } from '../../src/keys/master-key.ts';
import type { CaRecord } from '../../src/storage/records.ts';
import { TRUST_DOMAIN, memoryCaStore, newAuthority, testSettings } from './helpers.ts';
import type { MemoryCaStore } from './helpers.ts';

const trustDomain = TRUST_DOMAIN;

function serverRequest() {
  return { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], lifetimeSeconds: 3600, now: Date.now() };
}

function load(store: MemoryCaStore, sealer: Sealer, settings: Parameters<typeof testSettings>[0] = {}) {
  return loadCertificateAuthority({ store, sealer, settings: testSettings(settings), now: Date.now });
}

void describe('loadCertificateAuthority', () => {
  void test('creates, seals and stores an active CA on first start', async () => {
    const { ca, store, sealer } = await newAuthority();

    assert.equal(store.records.length, 1);
    const [record] = store.records;
    assert.equal(record?.id, ca.id);
    assert.equal(record?.state, 'active');
    assert.equal(ca.bundlePem, record?.chainPem, 'the bundle holds the issuing CA and its root');
    assert.equal(ca.chainPem, record?.chainPem);
    assert.equal(ca.trustDomain, trustDomain);
    assert.ok(new X509Certificate(ca.bundlePem).ca);
    assert.doesNotMatch(record?.sealedPrivateKey ?? '', /PRIVATE KEY/, 'the stored key is sealed');
    assert.ok(sealer.open(record?.sealedPrivateKey ?? '', ca.id).length > 0, 'sealed bound to the CA record id');
  });

  void test('a second start on the same store reuses the CA and can issue with its key', async () => {
    const { ca: first, store, sealer } = await newAuthority();
    const second = await load(store, sealer);

    assert.equal(store.records.length, 1);
    assert.equal(second.id, first.id);
    assert.equal(second.bundlePem, first.bundlePem);
    assert.equal(second.chainPem, first.chainPem);
    const issued = await second.issueServerCertificate(serverRequest());
    const intermediate = new X509Certificate(first.chainPem);
    assert.ok(new X509Certificate(issued.certPem).verify(intermediate.publicKey), 'signed with the stored intermediate key');
  });

  void test('instances racing on an empty store all end up with the first writer’s CA', async () => {
    const store = memoryCaStore();
    const sealer = createSealer(generateMasterKey());
    const cas = await Promise.all([1, 2, 3].map(() => load(store, sealer)));

    assert.equal(store.records.length, 1);
    for (const ca of cas) {
      assert.equal(ca.id, store.records[0]?.id);
      assert.equal(ca.bundlePem, store.records[0]?.chainPem);
    }
  });

  void test('fails clearly when started with a different master key', async () => {
    const { ca, store } = await newAuthority();

    await assert.rejects(load(store, createSealer(generateMasterKey())), (error: Error) => {
      assert.equal((error as Error & { code?: string }).code, 'MASTER_KEY_MISMATCH');
      assert.match(error.message, new RegExp(`private key of CA ${ca.id}: the master key differs`));
      return true;
    });
  });

  void test('refuses a sealed key moved onto another CA record', async () => {
    const sealer = createSealer(generateMasterKey());
    const { ca: original } = await newAuthority({ sealer });
    const { store } = await newAuthority({ sealer });
    const [stored] = store.records;
    assert.ok(stored);
    const moved: CaRecord = { ...stored, id: original.id };

    await assert.rejects(load(memoryCaStore([moved]), sealer), { code: 'MASTER_KEY_MISMATCH' });
  });

  void test('refuses a record whose key does not belong to its issuing certificate', async () => {
    const sealer = createSealer(generateMasterKey());
    const [mine, other] = await Promise.all([createCa({ now: Date.now(), trustDomain }), createCa({ now: Date.now(), trustDomain })]);
    const mismatched: CaRecord = {
      ...mine.record,
      state: 'active',
      sealedPrivateKey: sealer.seal(other.issuingKeyPkcs8, mine.record.id),
    };

    await assert.rejects(load(memoryCaStore([mismatched]), sealer), {
      code: 'CA_RECORD_INVALID',
      message: /does not match the issuing certificate/,
    });
  });

  void test('refuses a stored CA made for another trust domain', async () => {
    const { store, sealer } = await newAuthority({ settings: { trustDomain: 'one.test' } });

    await assert.rejects(load(store, sealer, { trustDomain: 'two.test' }), {
      code: 'CA_RECORD_INVALID',
      message: /created for spiffe:\/\/one\.test, but the configured trust domain is spiffe:\/\/two\.test/,
    });
  });

  void test('refuses a record whose chain does not parse', async () => {
    const sealer = createSealer(generateMasterKey());
    const { record, issuingKeyPkcs8 } = await createCa({ now: Date.now(), trustDomain });
    const broken: CaRecord = {
      ...record,
      state: 'active',
      chainPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      sealedPrivateKey: sealer.seal(issuingKeyPkcs8, record.id),
    };

    await assert.rejects(load(memoryCaStore([broken]), sealer), {
      code: 'CA_RECORD_INVALID',
      message: /certificate chain does not parse/,
    });
  });
});
