// The refresher's hand-written PKCS#10 requests, checked by an outsider: `openssl req -verify`
// must accept the signature for every key type Tessera certifies, and read back the subject and
// the public key; and the DER encoder under them, byte for byte against X.690.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { buildCsr } from '../src/certificates/csr.ts';
import { element, integer, oid, set, utf8String } from '../src/certificates/der.ts';
import { generateKey, type KeyType } from '../src/certificates/keys.ts';

/** stdout and stderr together: OpenSSL 3.0's `req -verify` reports a bad signature on stderr and still exits 0. */
function openssl(args: string[], input: string): string {
  const run = spawnSync('openssl', args, { input, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${run.stderr}`);
  return `${run.stdout}${run.stderr}`;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('DER encoder', () => {
  it('writes lengths below 128 in one byte and longer ones in the long form', () => {
    assert.equal(hex(element(0x04, Buffer.alloc(127))).slice(0, 4), '047f');
    assert.equal(hex(element(0x04, Buffer.alloc(128))).slice(0, 6), '048180');
    assert.equal(hex(element(0x04, Buffer.alloc(256))).slice(0, 8), '04820100');
    assert.equal(hex(element(0x04, Buffer.alloc(70_000))).slice(0, 10), '0483011170');
  });

  it("writes INTEGERs in the minimal two's-complement form", () => {
    assert.equal(hex(integer(0)), '020100');
    assert.equal(hex(integer(127)), '02017f');
    assert.equal(hex(integer(128)), '02020080', 'a leading zero keeps 128 positive');
    assert.equal(hex(integer(65_537)), '0203010001');
    assert.equal(hex(integer(Buffer.from([0, 0, 0x12]))), '020112', 'leading zero bytes are dropped');
    assert.equal(hex(integer(Buffer.from([0xff, 0x01]))), '020300ff01');
    assert.throws(() => integer(-1), RangeError);
  });

  it('writes OBJECT IDENTIFIERs with the first two arcs joined and base-128 arcs', () => {
    assert.equal(hex(oid('2.5.4.3')), '0603550403');
    assert.equal(hex(oid('1.2.840.113549.1.1.11')), '06092a864886f70d01010b');
    assert.equal(hex(oid('1.2.840.10045.4.3.2')), '06082a8648ce3d040302');
    assert.equal(hex(oid('1.3.101.112')), '06032b6570');
    for (const bad of ['', '1', '3.1', '1.40', '1.2.x']) assert.throws(() => oid(bad), RangeError, bad);
  });

  it('orders the elements of a SET OF by their encodings', () => {
    assert.equal(hex(set(utf8String('b'), utf8String('a'))), '31060c01610c0162');
  });

  it('refuses a tag it cannot write in one byte', () => {
    assert.throws(() => element(0x1f, Buffer.alloc(0)), RangeError);
  });
});

describe('PKCS#10 requests', () => {
  const types: KeyType[] = ['p256', 'p384', 'ed25519', 'rsa2048'];
  for (const type of types) {
    it(`makes a ${type} request that openssl verifies, with subject CN=<principal> and the key's public half`, async () => {
      const key = await generateKey(type);
      const csr = buildCsr(key, 'alpha.api');
      assert.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----\n(?:[A-Za-z0-9+/=]{1,64}\n)+-----END CERTIFICATE REQUEST-----\n$/);
      const out = openssl(['req', '-verify', '-noout', '-subject', '-pubkey', '-nameopt', 'RFC2253'], csr);
      assert.match(out, /self-signature verify OK/);
      assert.match(out, /^subject=CN=alpha\.api$/m);
      const publicPem = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/.exec(out)?.[0];
      assert.ok(createPublicKey(publicPem!).equals(createPublicKey(key)), 'the CSR carries the key');
      const text = openssl(['req', '-noout', '-text'], csr);
      assert.match(text, /Attributes:\s+\(none\)|Attributes:\s*\n\s+a0:00/, 'no attributes, so no extensions requested');
      assert.doesNotMatch(text, /Subject Alternative Name/);
    });
  }

  it('is refused by openssl once a byte of the signed part changes', async () => {
    const der = Buffer.from(buildCsr(await generateKey('p256'), 'alpha.api').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    // The CN's last letter: inside certificationRequestInfo, which the signature covers.
    const at = der.indexOf(Buffer.from('alpha.api')) + 8;
    der[at] = 'x'.charCodeAt(0);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const out = openssl(['req', '-verify', '-noout'], tampered);
    assert.match(out, /verify failure/);
    assert.doesNotMatch(out, /verify OK/);
  });

  const refused: [string, () => KeyObject][] = [
    ['a P-521 key', () => generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey],
    ['a 1024-bit RSA key', () => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey],
    ['a public key', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey],
  ];
  for (const [name, make] of refused) {
    it(`refuses ${name}, which Tessera would not certify`, () => {
      assert.throws(() => buildCsr(make(), 'alpha.api'), { name: 'TypeError', message: /P-256, P-384, Ed25519 or RSA \(2048 bits or more\) private key/ });
    });
  }
});
