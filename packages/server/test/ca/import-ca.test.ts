// `ca.import`: an operator's issuing CA key and chain, checked at start and then used exactly
// like a generated CA.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { loadCertificateAuthority } from '../../src/ca/authority.ts';
import { createSealer, generateMasterKey } from '../../src/keys/master-key.ts';
import { OWN_SANS, makeCsr } from './csr-fixtures.ts';
import { buildGoVerifier } from './go-verify.ts';
import { memoryCaStore, newAuthority, opensslText, opensslVerify, tempDir, testSettings } from './helpers.ts';
import { encryptedKeyPem, importFiles, makeCa, operatorPki, pkcs8Pem } from './operator-pki.ts';

const DAY = 86_400_000;

async function refusedAtStart(files: { keyFile: string; chainFile: string }, message: RegExp): Promise<void> {
  await assert.rejects(newAuthority({ settings: { import: files } }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'CA_IMPORT_INVALID', error.message);
    assert.match(error.message, message);
    return true;
  });
}

void describe('an imported CA', () => {
  void test('issues service certificates that verify against the operator’s root (openssl, Go), through a middle CA', async (t) => {
    const dir = await tempDir(t);
    const root = await makeCa('Operator Root', null, { kind: 'rsa2048' });
    const middle = await makeCa('Operator Middle', root, { kind: 'p256', pathLength: 1 });
    const issuing = await makeCa('Operator Issuing CA', middle, { kind: 'p384', pathLength: 0 });
    const files = await importFiles(dir, await pkcs8Pem(issuing.keys), issuing.pem + middle.pem + root.pem);
    const { ca, store } = await newAuthority({ settings: { import: files } });

    assert.equal(store.records.length, 1);
    assert.equal(store.records[0]?.state, 'active');
    assert.doesNotMatch(store.records[0]?.sealedPrivateKey ?? '', /PRIVATE KEY/, 'sealed like a generated key');
    assert.equal(ca.bundlePem, issuing.pem + middle.pem + root.pem, 'the bundle holds the issuing CA up to the root');
    assert.equal(ca.chainPem, issuing.pem + middle.pem + root.pem);

    const now = Date.now();
    const issued = await ca.issueServiceCertificate({ csrPem: (await makeCsr({ sans: OWN_SANS })).pem, principal: 'alpha.api', now });
    assert.match(await opensslText(dir, issued.certificatePem), /Signature Algorithm: ecdsa-with-SHA384/);
    for (const purpose of ['sslclient', 'sslserver'] as const) {
      const result = await opensslVerify(dir, { bundlePem: ca.bundlePem, chainPem: issued.chainPem, leafPem: issued.certificatePem, purpose });
      assert.ok(result.ok, result.output);
    }
    const go = await buildGoVerifier(t);
    if (go === null) return;
    const result = await go(dir, {
      bundlePem: ca.bundlePem,
      intermediatesPem: issued.chainPem,
      leafPem: issued.certificatePem,
      at: now,
      dnsName: 'api.alpha.svc.tessera.test',
    });
    assert.deepEqual([result.serverAuth, result.clientAuth], ['ok', 'ok']);
  });

  void test('works with an RSA issuing key, signing with SHA-256', async (t) => {
    const dir = await tempDir(t);
    const { files } = await operatorPki(dir, { root: { kind: 'rsa2048' }, issuing: { kind: 'rsa2048' } });
    const { ca } = await newAuthority({ settings: { import: files } });
    const issued = await ca.issueServiceCertificate({ csrPem: (await makeCsr()).pem, principal: 'alpha.api', now: Date.now() });
    assert.match(await opensslText(dir, issued.certificatePem), /Signature Algorithm: sha256WithRSAEncryption/);
    const result = await opensslVerify(dir, { bundlePem: ca.bundlePem, chainPem: issued.chainPem, leafPem: issued.certificatePem, purpose: 'sslclient' });
    assert.ok(result.ok, result.output);
  });

  void test('a restart with the same files keeps the same generation', async (t) => {
    const { files } = await operatorPki(await tempDir(t));
    const { ca, store, sealer } = await newAuthority({ settings: { import: files } });
    const again = await loadCertificateAuthority({ store, sealer, settings: testSettings({ import: files }), now: Date.now });
    assert.equal(again.id, ca.id);
    assert.equal(store.records.length, 1);
  });

  void test('imported onto a running generated CA, it is prepared first and takes over after the pre-publication window', async (t) => {
    let clock = Date.now();
    const { ca: generated, store, sealer } = await newAuthority({ now: () => clock });
    const { root, issuing, files } = await operatorPki(await tempDir(t));
    clock += 1000;
    const ca = await loadCertificateAuthority({ store, sealer, settings: testSettings({ import: files }), now: () => clock });

    assert.equal(ca.id, generated.id, 'the generated CA still signs');
    assert.equal(ca.bundlePem, issuing.pem + root.pem + generated.bundlePem, 'the imported CA and its root are in the bundle before it signs');
    const imported = ca.generations().find((generation) => generation.state === 'prepared');
    assert.ok(imported);
    clock = imported.activatesAt;
    assert.equal(ca.id, imported.id);
    await ca.refresh();
    assert.deepEqual(
      ca.generations().map((generation) => generation.state),
      ['active', 'old'],
    );
  });

  void test('waits for a rotation already pending, and is prepared once that generation is active', async (t) => {
    let clock = Date.now();
    const { ca: generated, store, sealer } = await newAuthority({ now: () => clock });
    const pending = await generated.rotate({ actor: 'sys.auth.admin' });
    const { files } = await operatorPki(await tempDir(t));
    const ca = await loadCertificateAuthority({ store, sealer, settings: testSettings({ import: files }), now: () => clock });
    assert.equal(store.records.length, 2, 'not stored while the one prepared slot is taken');

    clock = pending.activatesAt;
    await ca.refresh();
    assert.deepEqual(
      ca.generations().map((generation) => generation.state),
      ['prepared', 'active', 'old'],
    );
    assert.equal(ca.generations()[1]?.id, pending.id);
  });

  void test('cannot be rotated by Tessera: the forced rotation is refused with a way forward', async (t) => {
    const { files } = await operatorPki(await tempDir(t));
    const { ca } = await newAuthority({ settings: { import: files } });
    await assert.rejects(ca.rotate({ actor: 'sys.auth.admin' }), {
      code: 'CA_ROTATION_REFUSED',
      statusCode: 409,
      message: /the CA is imported .*import the new issuing CA \(TESSERA_CA_KEY_FILE and TESSERA_CA_CHAIN_FILE\) and restart/,
    });
  });

  void test('a start with an import that has since been replaced is refused', async (t) => {
    let clock = Date.now();
    const store = memoryCaStore([], () => clock);
    const sealer = createSealer(generateMasterKey());
    const first = await operatorPki(await tempDir(t));
    const second = await operatorPki(await tempDir(t));
    await loadCertificateAuthority({ store, sealer, settings: testSettings({ import: first.files }), now: () => clock });
    clock += 1000;
    const replaced = await loadCertificateAuthority({ store, sealer, settings: testSettings({ import: second.files }), now: () => clock });
    clock += 2 * DAY;
    await replaced.refresh();

    await assert.rejects(loadCertificateAuthority({ store, sealer, settings: testSettings({ import: first.files }), now: () => clock }), {
      code: 'CA_IMPORT_INVALID',
      message: /this issuing CA was used and has been replaced \(generation ca_.*\); import a new one/,
    });
  });
});

void describe('an import is refused at start', () => {
  void test('when the key does not match the issuing certificate', async (t) => {
    const dir = await tempDir(t);
    const { issuing, root } = await operatorPki(dir);
    const stranger = await makeCa('Someone Else', null);
    await refusedAtStart(
      await importFiles(dir, await pkcs8Pem(stranger.keys), issuing.pem + root.pem),
      /the key does not match the first certificate of .*operator-chain\.pem \(CN=Operator Issuing CA, O=Operator\)/,
    );
  });

  void test('when the chain lists the root first', async (t) => {
    const dir = await tempDir(t);
    const { issuing, root } = await operatorPki(dir);
    await refusedAtStart(
      await importFiles(dir, await pkcs8Pem(issuing.keys), root.pem + issuing.pem),
      /belongs to certificate 2 \(CN=Operator Issuing CA, O=Operator\); put the issuing CA's certificate first/,
    );
  });

  void test('when the issuing certificate is no CA, or may not sign certificates', async (t) => {
    const dir = await tempDir(t);
    await refusedAtStart(
      (await operatorPki(dir, { issuing: { ca: false, pathLength: undefined } })).files,
      /certificate 1 \(CN=Operator Issuing CA, O=Operator\) is not a CA certificate/,
    );
    await refusedAtStart(
      (await operatorPki(dir, { issuing: { keyUsage: 0x80 } })).files,
      /certificate 1 .* may not sign certificates \(keyUsage keyCertSign is missing\)/,
    );
    await refusedAtStart((await operatorPki(dir, { issuing: { keyUsage: null } })).files, /may not sign certificates/);
  });

  void test('when a certificate has expired or is not valid yet', async (t) => {
    const dir = await tempDir(t);
    const now = Date.now();
    await refusedAtStart((await operatorPki(dir, { issuing: { notBefore: now - 10 * DAY, notAfter: now - DAY } })).files, /certificate 1 .* expired at/);
    await refusedAtStart(
      (await operatorPki(dir, { root: { notBefore: now - 10 * DAY, notAfter: now - DAY } })).files,
      /certificate 2 \(CN=Operator Root, O=Operator\) expired at/,
    );
    await refusedAtStart((await operatorPki(dir, { issuing: { notBefore: now + DAY } })).files, /is not valid before/);
  });

  void test('when the chain does not verify or does not end in a root', async (t) => {
    const dir = await tempDir(t);
    const { issuing } = await operatorPki(dir);
    const otherRoot = await makeCa('Operator Root', null);
    const key = await pkcs8Pem(issuing.keys);
    await refusedAtStart(
      await importFiles(dir, key, issuing.pem + otherRoot.pem),
      /certificate 1 .* is not signed by certificate 2 \(CN=Operator Root, O=Operator\)/,
    );
    await refusedAtStart(
      await importFiles(dir, key, issuing.pem),
      /certificate 1 .* is last but not a self-signed root; end the chain with the root certificate/,
    );
  });

  void test('when a pathLenConstraint forbids the chain', async (t) => {
    const dir = await tempDir(t);
    const root = await makeCa('Operator Root', null, { pathLength: 0 });
    const middle = await makeCa('Operator Middle', root, { pathLength: 0 });
    const issuing = await makeCa('Operator Issuing CA', middle, { pathLength: 0 });
    await refusedAtStart(
      await importFiles(dir, await pkcs8Pem(issuing.keys), issuing.pem + middle.pem + root.pem),
      /certificate 2 \(CN=Operator Middle, O=Operator\) allows 0 CA certificate\(s\) below it/,
    );
  });

  void test('when the key is encrypted, unreadable, not a key, or of a type a CA does not sign with', async (t) => {
    const dir = await tempDir(t);
    const { issuing, root, files } = await operatorPki(dir);
    const chain = issuing.pem + root.pem;
    await refusedAtStart(await importFiles(dir, await encryptedKeyPem(issuing.keys), chain), /the CA key is encrypted; give Tessera the decrypted key/);
    await refusedAtStart({ ...files, keyFile: `${dir}/missing.key` }, /ca\.import\.keyFile \(TESSERA_CA_KEY_FILE\): cannot read .*missing\.key: no such file/);
    await refusedAtStart(await importFiles(dir, 'not a key', chain), /not a PEM private key/);
    const p521 = await makeCa('Operator Issuing CA', root, { kind: 'p521' });
    await refusedAtStart(
      await importFiles(dir, await pkcs8Pem(p521.keys), p521.pem + root.pem),
      /the CA key is EC on secp521r1; an imported CA key must be ECDSA P-256, ECDSA P-384 or RSA/,
    );
  });

  void test('when the chain file holds no certificate', async (t) => {
    const dir = await tempDir(t);
    const { issuing } = await operatorPki(dir);
    await refusedAtStart(
      await importFiles(dir, await pkcs8Pem(issuing.keys), 'nothing here'),
      /holds no PEM certificate; put the issuing CA's certificate first/,
    );
  });

  void test('the refused files never reach the store', async (t) => {
    const dir = await tempDir(t);
    const { issuing } = await operatorPki(dir);
    const store = memoryCaStore();
    const files = await importFiles(dir, await pkcs8Pem(issuing.keys), issuing.pem);
    await assert.rejects(
      loadCertificateAuthority({ store, sealer: createSealer(generateMasterKey()), settings: testSettings({ import: files }), now: Date.now }),
    );
    assert.equal(store.records.length, 0);
    assert.ok(new X509Certificate(issuing.pem).ca);
  });
});
