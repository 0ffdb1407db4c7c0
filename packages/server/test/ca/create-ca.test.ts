// `void`: node:test's describe/test return promises the runner itself awaits.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { createCa, INTERMEDIATE_LIFETIME_SECONDS, ROOT_LIFETIME_SECONDS } from '../../src/ca/create-ca.ts';
import { openssl, opensslExtension, opensslText, tempDir, writeFiles } from './helpers.ts';

const DAY_MS = 86_400_000;

function splitChain(chainPem: string): [X509Certificate, X509Certificate] {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g) ?? [];
  assert.equal(blocks.length, 2, 'the chain holds the intermediate then the root');
  return [new X509Certificate(blocks[0] ?? ''), new X509Certificate(blocks[1] ?? '')];
}

function assertRandomPositiveSerial(certificate: X509Certificate): void {
  const serial = BigInt(`0x${certificate.serialNumber}`);
  assert.ok(serial >= 2n ** 64n, `serial ${certificate.serialNumber} has at least 64 bits`);
  // 16 octets, first one 0x40-0x7f: positive with no sign octet, and no leading zeros dropped.
  assert.match(certificate.serialNumber, /^[4-7][0-9A-F]{31}$/i);
}

void describe('createCa', () => {
  void test('makes a self-signed P-256 root and an intermediate it signed, chained by SKI/AKI', async (t) => {
    const now = Date.now();
    const { record, issuingKeyPkcs8 } = await createCa({ now, trustDomain: 'tessera.test' });
    const [intermediate, root] = splitChain(record.chainPem);

    assert.match(record.id, /^ca_[0-9a-f-]{36}$/);
    assert.equal(record.createdAt, now);
    assert.equal(new X509Certificate(record.rootPem).fingerprint256, root.fingerprint256);
    assert.equal(root.subject, 'O=Tessera\nCN=Tessera Root CA');
    assert.equal(root.issuer, root.subject);
    assert.equal(intermediate.subject, 'O=Tessera\nCN=Tessera Intermediate CA');
    assert.equal(intermediate.issuer, root.subject);
    assert.ok(root.ca && intermediate.ca);
    assert.ok(root.verify(root.publicKey), 'the root is self-signed');
    assert.ok(intermediate.checkIssued(root) && intermediate.verify(root.publicKey), 'the root signed the intermediate');
    assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(intermediate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.notEqual(root.serialNumber, intermediate.serialNumber);
    assertRandomPositiveSerial(root);
    assertRandomPositiveSerial(intermediate);
    assert.ok(issuingKeyPkcs8.length > 0);

    const dir = await tempDir(t);
    const rootText = await opensslText(dir, record.rootPem);
    const intermediateText = await opensslText(dir, intermediate.toString());
    for (const text of [rootText, intermediateText]) {
      assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
      assert.match(text, /NIST CURVE: P-256/);
      assert.equal(opensslExtension(text, 'X509v3 Key Usage')?.critical, true);
      assert.equal(opensslExtension(text, 'X509v3 Key Usage')?.value, 'Certificate Sign, CRL Sign');
      assert.equal(opensslExtension(text, 'X509v3 Basic Constraints')?.critical, true);
      assert.equal(opensslExtension(text, 'X509v3 Subject Alternative Name')?.value, 'URI:spiffe://tessera.test');
      assert.equal(opensslExtension(text, 'X509v3 Extended Key Usage'), null, 'CA certificates carry no EKU constraint');
    }
    assert.equal(opensslExtension(rootText, 'X509v3 Basic Constraints')?.value, 'CA:TRUE');
    assert.equal(opensslExtension(intermediateText, 'X509v3 Basic Constraints')?.value, 'CA:TRUE, pathlen:0');
    const rootSki = opensslExtension(rootText, 'X509v3 Subject Key Identifier')?.value;
    assert.ok(rootSki);
    assert.ok(opensslExtension(intermediateText, 'X509v3 Subject Key Identifier')?.value);
    assert.equal(opensslExtension(intermediateText, 'X509v3 Authority Key Identifier')?.value.replace(/^keyid:/, ''), rootSki);

    const paths = await writeFiles(dir, { 'root.pem': record.rootPem, 'intermediate.pem': intermediate.toString() });
    const verified = await openssl(['verify', '-x509_strict', '-CAfile', paths['root.pem'] ?? '', paths['intermediate.pem'] ?? '']);
    assert.ok(verified.ok, verified.output);
  });

  void test('backdates both CA certificates by a minute and gives the root 10 years, the intermediate 5', async () => {
    const now = Date.UTC(2030, 0, 1, 12, 0, 0, 500);
    const { record } = await createCa({ now, trustDomain: 'tessera.test' });
    const [intermediate, root] = splitChain(record.chainPem);
    const notBefore = Date.UTC(2030, 0, 1, 11, 59, 0);
    assert.equal(root.validFromDate.getTime(), notBefore);
    assert.equal(intermediate.validFromDate.getTime(), notBefore);
    assert.equal(root.validToDate.getTime(), Date.UTC(2030, 0, 1, 12, 0, 0) + ROOT_LIFETIME_SECONDS * 1000);
    assert.equal(intermediate.validToDate.getTime(), Date.UTC(2030, 0, 1, 12, 0, 0) + INTERMEDIATE_LIFETIME_SECONDS * 1000);
    assert.ok(intermediate.validToDate.getTime() - now > 5 * 365 * DAY_MS - DAY_MS);
    assert.ok(intermediate.validToDate < root.validToDate, 'the intermediate expires before its root');
  });

  void test('makes a different root every time (a new generation, never a reused key)', async () => {
    const options = { now: Date.now(), trustDomain: 'tessera.test' };
    const [first, second] = await Promise.all([createCa(options), createCa(options)]);
    assert.notEqual(first.record.id, second.record.id);
    assert.notEqual(new X509Certificate(first.record.rootPem).fingerprint256, new X509Certificate(second.record.rootPem).fingerprint256);
  });

  void test('refuses a trust domain that cannot be a SPIFFE ID host', async () => {
    await assert.rejects(createCa({ now: Date.now(), trustDomain: 'Not A Domain/x' }), { code: 'CA_INVALID_REQUEST' });
  });
});
