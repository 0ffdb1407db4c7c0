// `void`: node:test's describe/test return promises the runner itself awaits.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MAX_CSR_BYTES, parseCsr } from '../../src/ca/csr.ts';
import { webcrypto, x509 } from '../../src/ca/x509.ts';
import { OWN_SANS, flipByte, makeCsr, opensslCsr, toPem } from './csr-fixtures.ts';
import { tempDir } from './helpers.ts';

/** parseCsr must refuse `input` with CA_INVALID_REQUEST and a message matching `message`. */
function refuses(input: string | Uint8Array, message: RegExp): void {
  assert.throws(
    () => parseCsr(input),
    (error: Error & { code?: string; statusCode?: number }) => {
      assert.equal(error.code, 'CA_INVALID_REQUEST');
      assert.equal(error.statusCode, 400);
      assert.match(error.message, message);
      return true;
    },
  );
}

void describe('parseCsr accepts', () => {
  for (const [kind, keyType] of [
    ['p256', 'ECDSA P-256'],
    ['p384', 'ECDSA P-384'],
    ['ed25519', 'Ed25519'],
    ['rsa2048', 'RSA 2048'],
  ] as const) {
    void test(`a ${keyType} CSR and returns its key and requested names`, async () => {
      const csr = await makeCsr({ kind, subject: 'CN=alpha.api', sans: OWN_SANS });
      const parsed = parseCsr(csr.pem);
      assert.equal(parsed.keyType, keyType);
      const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', csr.keys.publicKey));
      assert.ok(parsed.publicKey.equals(createPublicKey({ key: spki, format: 'der', type: 'spki' })));
      assert.deepEqual(parsed.requestedNames, {
        subject: [{ type: 'CN', value: 'alpha.api' }],
        dnsNames: ['api.alpha.svc.tessera.test'],
        uris: ['spiffe://tessera.test/alpha/api'],
        otherNames: [],
      });
    });
  }

  void test('CSRs made by openssl req (ECDSA, Ed25519, RSA)', async (t) => {
    const dir = await tempDir(t);
    const ec = await opensslCsr(
      dir,
      'ec',
      ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
      ['-addext', 'subjectAltName=DNS:api.alpha.svc.tessera.test'],
    );
    assert.deepEqual(parseCsr(ec).requestedNames.dnsNames, ['api.alpha.svc.tessera.test']);
    assert.equal(parseCsr(await opensslCsr(dir, 'ed', ['-newkey', 'ed25519'])).keyType, 'Ed25519');
    assert.equal(parseCsr(await opensslCsr(dir, 'rsa', ['-newkey', 'rsa:2048'])).keyType, 'RSA 2048');
  });

  void test('PEM with the "NEW CERTIFICATE REQUEST" label, text around the PEM, bare base64 DER (EST) and DER bytes', async () => {
    const { pem, der } = await makeCsr({ subject: 'CN=alpha.api' });
    for (const input of [
      toPem(der, 'NEW CERTIFICATE REQUEST'),
      `Certificate request for alpha.api\n${pem}\n`,
      Buffer.from(der).toString('base64'),
      Buffer.from(der).toString('base64').replace(/.{76}/g, '$&\r\n'),
      der,
    ]) {
      assert.equal(parseCsr(input).requestedNames.subject[0]?.value, 'alpha.api');
    }
  });

  void test('a CSR without any names, and reports other SAN types and subject attributes for the caller to refuse', async () => {
    const empty = parseCsr((await makeCsr()).pem);
    assert.deepEqual(empty.requestedNames, { subject: [], dnsNames: [], uris: [], otherNames: [] });

    const odd = parseCsr(
      (
        await makeCsr({
          subject: 'CN=alpha.api, O=Example',
          sans: [
            { type: 'ip', value: '10.0.0.1' },
            { type: 'email', value: 'a@example.com' },
          ],
        })
      ).pem,
    );
    assert.deepEqual(odd.requestedNames.subject, [
      { type: 'CN', value: 'alpha.api' },
      { type: 'O', value: 'Example' },
    ]);
    assert.deepEqual(odd.requestedNames.otherNames, ['IP:10.0.0.1', 'email:a@example.com']);
  });
});

void describe('parseCsr refuses', () => {
  void test('garbage, an empty string and a PEM of something else', () => {
    refuses('hello', /not a PKCS#10 certificate request .*; make one with `openssl req -new`/);
    refuses('hello, world!', /neither PEM .* nor base64 DER/);
    refuses('', /neither PEM .* nor base64 DER/);
    refuses(Buffer.from('not der at all').toString('base64'), /not a PKCS#10 certificate request/);
    refuses(toPem(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), 'CERTIFICATE'), /holds a CERTIFICATE block; send exactly one "CERTIFICATE REQUEST" block/);
  });

  void test('a CSR sent with its private key', async () => {
    const { pem, keys } = await makeCsr();
    const key = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
    refuses(`${pem}\n${key}`, /holds a private key; send only the certificate request/);
  });

  void test('two CSRs in one text', async () => {
    refuses(`${(await makeCsr()).pem}\n${(await makeCsr()).pem}`, /holds 2 certificate requests; send exactly one/);
  });

  void test(`a CSR over ${MAX_CSR_BYTES} bytes`, async () => {
    const big = await makeCsr({
      sans: Array.from({ length: 400 }, (_, i) => ({ type: 'dns' as const, value: `host-number-${i}.a-rather-long-name.example.com` })),
    });
    assert.ok(big.pem.length > MAX_CSR_BYTES);
    refuses(big.pem, new RegExp(`at most ${MAX_CSR_BYTES} are accepted`));
    refuses(big.der, new RegExp(`at most ${MAX_CSR_BYTES} are accepted`));
  });

  void test('a key openssl wrote with explicit curve parameters or a compressed point (what `openssl req` signs as given)', async (t) => {
    const dir = await tempDir(t);
    const named = join(dir, 'named.key');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', named], { stdio: 'ignore' });
    for (const [name, option] of [
      ['explicit', ['-param_enc', 'explicit']],
      ['compressed', ['-conv_form', 'compressed']],
    ] as const) {
      const key = join(dir, `${name}.key`);
      execFileSync('openssl', ['ec', '-in', named, ...option, '-out', key], { stdio: 'ignore' });
      const pem = execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=alpha.api'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
      refuses(pem, name === 'explicit' ? /explicit parameters, which RFC 5480 forbids/ : /its EC point is compressed/);
    }
    // The same key with a named curve and an uncompressed point is accepted.
    assert.equal(parseCsr(await opensslCsr(dir, 'named', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'])).keyType, 'ECDSA P-256');
  });

  void test('bytes appended to the DER, and a truncated DER', async () => {
    const { der } = await makeCsr();
    refuses(toPem(new Uint8Array([...der, 0, 0])), /2 bytes follow it; remove anything appended/);
    refuses(toPem(der.subarray(0, der.length - 10)), /the CSR is truncated; send the whole request/);
  });

  void test('a signature that does not verify: one flipped byte in the signature or in the signed names', async () => {
    const { der } = await makeCsr({ subject: 'CN=alpha.api' });
    refuses(toPem(flipByte(der, -5)), /signature does not verify with the key it carries/);
    // The last byte of the CN: still a well-formed request, now for a name it did not sign.
    const cn = Buffer.from(der).indexOf(Buffer.from('alpha.api'));
    refuses(toPem(flipByte(der, cn + 2)), /signature does not verify/);
  });

  void test('a CSR whose key was swapped for another one (signed by a key it does not carry)', async () => {
    const signed = await makeCsr({ subject: 'CN=alpha.api' });
    const other = await makeCsr({ subject: 'CN=alpha.api' });
    const spki = (der: Uint8Array): Buffer => Buffer.from(new x509.Pkcs10CertificateRequest(der).publicKey.rawData);
    const swapped = Buffer.from(signed.der);
    spki(other.der).copy(swapped, swapped.indexOf(spki(signed.der)));
    refuses(toPem(swapped), /signature does not verify with the key it carries/);
  });

  void test('weak and unsupported keys: RSA 1024, P-521, secp256k1, Ed448, a small RSA exponent', async (t) => {
    refuses((await makeCsr({ kind: 'rsa1024' })).pem, /RSA with 1024 bits, which is too weak; use at least 2048 bits/);
    refuses((await makeCsr({ kind: 'p521' })).pem, /curve secp521r1; use ECDSA P-256 or P-384, Ed25519, or RSA/);
    const dir = await tempDir(t);
    refuses(await opensslCsr(dir, 'k1', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1']), /curve secp256k1/);
    refuses(await opensslCsr(dir, 'ed448', ['-newkey', 'ed448']), /key is ed448; use ECDSA P-256/);
    refuses(
      await opensslCsr(dir, 'e3', ['-newkey', 'rsa:2048', '-pkeyopt', 'rsa_keygen_pubexp:3']),
      /public exponent 3; use an odd exponent of at least 65537/,
    );
  });

  void test('a SHA-1 signature', async (t) => {
    const csr = await opensslCsr(await tempDir(t), 'sha1', ['-newkey', 'rsa:2048', '-sha1']);
    refuses(csr, /signed with SHA-1, which is broken/);
  });

  void test('a request for a CA certificate, and subjectAltName requested twice', async () => {
    refuses((await makeCsr({ extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] })).pem, /asks for a CA certificate/);
    const san = new x509.SubjectAlternativeNameExtension(OWN_SANS);
    refuses((await makeCsr({ extensions: [san, san] })).pem, /requests subjectAltName twice/);
  });
});
