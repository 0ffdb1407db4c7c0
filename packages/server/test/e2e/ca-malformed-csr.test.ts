// Forged and malformed CSRs sent to POST /ca/v1/certificates: each is a 400 invalid_request with a
// sentence saying what to fix, never a 500 and never a certificate. The CSRs are built here DER
// part by DER part and signed with node:crypto, so a request can be validly signed and still
// malformed (BER where DER is required), or well formed and forged.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { keyAssertion, serviceKey, type ServiceKey } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { hex, tlv } from '../helpers/der.ts';

const ECDSA_SHA256 = tlv(0x30, hex('06 08 2a8648ce3d040302'));
const ECDSA_SHA1 = tlv(0x30, hex('06 07 2a8648ce3d0401'));
const ECDSA_SHA224 = tlv(0x30, hex('06 08 2a8648ce3d040301'));
const RSA_SHA256 = tlv(0x30, hex('06 09 2a864886f70d01010b'), hex('0500'));
const CN = hex('06 03 550403');

interface Parts {
  subject?: Buffer;
  spki?: Buffer;
  attributes?: Buffer;
  algorithm?: Buffer;
  /** Replaces the whole CertificationRequestInfo (still signed). */
  info?: Buffer;
}

function subjectCn(value: string): Buffer {
  return tlv(0x30, tlv(0x31, tlv(0x30, CN, tlv(0x0c, Buffer.from(value)))));
}

function extensionRequest(...extensions: Buffer[]): Buffer {
  return tlv(0xa0, tlv(0x30, hex('06 09 2a864886f70d01090e'), tlv(0x31, tlv(0x30, ...extensions))));
}

const ED25519 = tlv(0x30, hex('06 03 2b6570'));

/** A CSR for `key`, signed over the (possibly odd) CertificationRequestInfo it is given. */
function csrOf(key: KeyObject, parts: Parts = {}): Buffer {
  const spki = parts.spki ?? createPublicKey(key).export({ type: 'spki', format: 'der' });
  const info = parts.info ?? tlv(0x30, hex('020100'), parts.subject ?? subjectCn('alpha.api'), spki, parts.attributes ?? tlv(0xa0));
  const ed25519 = key.asymmetricKeyType === 'ed25519';
  const signature = sign(ed25519 ? null : 'sha256', info, { key, dsaEncoding: 'der' });
  return tlv(0x30, info, parts.algorithm ?? (ed25519 ? ED25519 : ECDSA_SHA256), tlv(0x03, Buffer.of(0), signature));
}

const pem = (der: Uint8Array): string =>
  `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;

describe('malformed and forged CSRs at POST /ca/v1/certificates', () => {
  let t: TestServer;
  let audience: string;
  let owner: ServiceKey;
  let key: KeyObject;

  const send = async (csr: string): Promise<TestResponse> =>
    t.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr, proof: { type: 'key-assertion', value: await keyAssertion(owner, 'alpha.api', audience) } }),
    });
  const refused = async (csr: Uint8Array | string, message: RegExp): Promise<void> => {
    const res = await send(typeof csr === 'string' ? csr : pem(csr));
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error, 'invalid_request', res.text);
    assert.match(res.json.message, message);
  };

  before(async () => {
    owner = await serviceKey('ec');
    key = createPrivateKey(owner.privatePem);
    t = await startTestServer();
    audience = `${t.url}/ca/v1/certificates`;
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
    const created = await t.admin$('POST', '/domains/alpha/services', { name: 'api', publicKeys: [{ kid: 'k1', pem: owner.publicPem }] });
    assert.equal(created.status, 201, created.text);
  });
  after(() => t.stop());

  it('issues for the hand-built CSR itself (the baseline every case below changes one thing of)', async () => {
    const res = await send(pem(csrOf(key)));
    assert.equal(res.status, 201, res.text);
  });

  it('refuses a bad signature: a flipped signature byte, a changed subject, a key it was not signed with', async () => {
    const good = csrOf(key);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 3]! ^= 0x01;
    await refused(flipped, /signature does not verify with the key it carries/);

    const signed = csrOf(key, { subject: subjectCn('alpha.api') });
    const renamed = Buffer.from(signed.toString('latin1').replace('alpha.api', 'alpha.apj'), 'latin1');
    await refused(renamed, /signature does not verify/);

    // Another key's SPKI, signed with the owner's key: no proof of possession of the key it carries.
    const stranger = createPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey).export({ type: 'spki', format: 'der' });
    await refused(csrOf(key, { spki: stranger }), /signature does not verify with the key it carries/);
  });

  it('refuses bytes appended to the request, a truncated request and an over-long one', async () => {
    await refused(Buffer.concat([csrOf(key), Buffer.of(0x05, 0x00)]), /2 bytes follow it; remove anything appended/);
    const good = csrOf(key);
    await refused(good.subarray(0, good.length - 8), /the CSR is truncated; send the whole request/);
    // A signed request over 16 KiB (a subject CN of 17,000 characters).
    await refused(csrOf(key, { subject: subjectCn('a'.repeat(17_000)) }), /csr must NOT have more than 16384 characters/);
  });

  it('refuses a signature algorithm that does not fit the key, SHA-1, and one it does not support', async () => {
    await refused(csrOf(key, { algorithm: RSA_SHA256 }), /signature algorithm does not fit its ec key/);
    await refused(csrOf(key, { algorithm: ECDSA_SHA1 }), /signed with SHA-1, which is broken/);
    await refused(csrOf(key, { algorithm: ECDSA_SHA224 }), /signature algorithm \(1\.2\.840\.10045\.4\.3\.1\) is not supported/);
  });

  it('refuses validly signed BER that is not DER: an indefinite length, a length not in its shortest form', async () => {
    const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
    const subject = subjectCn('alpha.api');
    const body = Buffer.concat([hex('020100'), subject, spki, tlv(0xa0)]);
    await refused(csrOf(key, { info: Buffer.concat([hex('3080'), body, hex('0000')]) }), /not a PKCS#10 certificate request/);
    await refused(csrOf(key, { info: Buffer.concat([Buffer.of(0x30, 0x81, body.length), body]) }), /not a PKCS#10 certificate request/);
    // A subject whose inner length runs past its parent.
    const overrun = Buffer.from(subject);
    overrun[3] = (overrun[3] ?? 0) + 4;
    await refused(csrOf(key, { subject: overrun }), /not a PKCS#10 certificate request|truncated/);
    // Something after the attributes inside CertificationRequestInfo.
    await refused(csrOf(key, { info: tlv(0x30, body, hex('0500')) }), /not a PKCS#10 certificate request/);
  });

  // The certificate carries the CSR's SubjectPublicKeyInfo as sent: node:crypto reads each of these
  // keys, and Go, rustls/webpki and Python cryptography refuse a certificate carrying it.
  it("refuses a public key that is not the key's DER: BER inside it, explicit EC parameters, a compressed point", async () => {
    const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
    const openssl = (...args: string[]): Buffer =>
      execFileSync('openssl', ['ec', '-pubin', '-inform', 'DER', '-outform', 'DER', ...args], { input: spki, stdio: ['pipe', 'pipe', 'ignore'] });
    // 30 59 30 13 06 07 <id-ecPublicKey>: the first OID's length in long form.
    const ber = Buffer.concat([hex('30 5a 30 14 06 81 07'), spki.subarray(6)]);
    await refused(csrOf(key, { spki: ber }), /public key is not encoded as a certificate must carry it: its SubjectPublicKeyInfo is not DER/);
    await refused(csrOf(key, { spki: openssl('-param_enc', 'explicit') }), /explicit parameters, which RFC 5480 forbids; use a named curve/);
    await refused(csrOf(key, { spki: openssl('-conv_form', 'compressed') }), /its EC point is compressed; send the key with its point uncompressed/);
    // RSA without the NULL parameters RFC 3279 §2.3.1 requires.
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const rsaSpki = createPublicKey(rsa).export({ type: 'spki', format: 'der' });
    assert.equal(rsaSpki.subarray(4, 19).toString('hex'), '300d06092a864886f70d0101010500');
    const noNull = tlv(0x30, tlv(0x30, hex('06092a864886f70d010101')), rsaSpki.subarray(19));
    const info = tlv(0x30, hex('020100'), subjectCn('alpha.api'), noNull, tlv(0xa0));
    const rsaCsr = tlv(0x30, info, RSA_SHA256, tlv(0x03, Buffer.of(0), sign('sha256', info, rsa)));
    await refused(rsaCsr, /its SubjectPublicKeyInfo is not DER/);
  });

  it('refuses a P-256, P-384 or Ed25519 key with BER lengths inside its SubjectPublicKeyInfo, and takes the same key in DER', async () => {
    const keys = [
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
      generateKeyPairSync('ed25519').privateKey,
    ];
    for (const each of keys) {
      const spki = createPublicKey(each).export({ type: 'spki', format: 'der' });
      assert.ok(spki.length < 0x80 + 2 && spki[0] === 0x30 && spki[2] === 0x30, 'short-form lengths to lengthen');
      // The outer SEQUENCE's length in long form (the request's own DER reader refuses it); then
      // the AlgorithmIdentifier's, inside the key, which only the key's own checks see.
      const outer = Buffer.concat([Buffer.of(0x30, 0x81, spki[1]!), spki.subarray(2)]);
      await refused(csrOf(each, { spki: outer }), /not a PKCS#10 certificate request/);
      const inner = Buffer.concat([Buffer.of(0x30, spki[1]! + 1, 0x30, 0x81), spki.subarray(3)]);
      await refused(csrOf(each, { spki: inner }), /public key is not encoded as a certificate must carry it: its SubjectPublicKeyInfo is not DER/);
      // The same key in DER gets past the key's checks: this CSR fails only later, on its proof.
      const res = await send(pem(csrOf(each)));
      assert.doesNotMatch(res.text, /not encoded as a certificate must carry it/);
    }
  });

  it('refuses a malformed extension request, a CA request and two subjectAltNames, each signed', async () => {
    await refused(csrOf(key, { attributes: extensionRequest(hex('0500')) }), /malformed extension request/);
    const badSan = tlv(0x30, hex('06 03 551d11'), tlv(0x04, hex('30 05 82 09 61')));
    await refused(csrOf(key, { attributes: extensionRequest(badSan) }), /malformed extension request/);
    const ca = tlv(0x30, hex('06 03 551d13'), hex('0101ff'), tlv(0x04, tlv(0x30, hex('0101ff'))));
    await refused(csrOf(key, { attributes: extensionRequest(ca) }), /asks for a CA certificate/);
    const san = tlv(0x30, hex('06 03 551d11'), tlv(0x04, tlv(0x30, tlv(0x82, Buffer.from('api.alpha.svc.tessera.test')))));
    await refused(csrOf(key, { attributes: extensionRequest(san, san) }), /requests subjectAltName twice/);
  });

  it('still issues when the signed request is well formed but odd: no attributes at all, an empty subject', async () => {
    const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
    const res = await send(pem(csrOf(key, { info: tlv(0x30, hex('020100'), tlv(0x30), spki) })));
    assert.equal(res.status, 201, res.text);
  });
});
