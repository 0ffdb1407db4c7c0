// Registered public keys: what parsePublicKeyPem takes, and what a registered key read for use
// (publicKeyCache) turns into. The EC point at infinity is refused before node:crypto reads it,
// whether it comes through the admin API or was stored before that check existed.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { spkiProblem } from '../../src/policy/key-types.ts';
import { parsePublicKeyPem, publicKeyCache } from '../../src/policy/public-keys.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const P256_ALGORITHM = hex('301306072a8648ce3d020106082a8648ce3d030107');
const pemOf = (der: Buffer): string => `-----BEGIN PUBLIC KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PUBLIC KEY-----\n`;
/** SEQUENCE { algorithm, BIT STRING { 0 unused bits, point } } with short-form lengths. */
const p256Spki = (point: Buffer): Buffer => {
  const bits = Buffer.concat([Buffer.of(0x03, point.length + 1, 0), point]);
  return Buffer.concat([Buffer.of(0x30, P256_ALGORITHM.length + bits.length), P256_ALGORITHM, bits]);
};

void describe('registered public keys', () => {
  const good = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const goodDer = good.export({ type: 'spki', format: 'der' });

  void it('takes a P-256 key, and reads it for use', () => {
    assert.ok(parsePublicKeyPem(pemOf(goodDer)).equals(good));
    assert.ok(
      publicKeyCache()
        .keyOf({ principal: 'alpha.api', kid: 'k1', pem: pemOf(goodDer) })
        ?.equals(good),
    );
  });

  void it('refuses the point at infinity and points in no standard form, saying what to send', () => {
    for (const point of [Buffer.of(0), Buffer.of(0, 0), Buffer.alloc(65), Buffer.concat([Buffer.of(0x06), goodDer.subarray(-64)])]) {
      assert.throws(
        () => parsePublicKeyPem(pemOf(p256Spki(point))),
        /unsupported key: the key is an EC point at infinity or in no standard form.*key pair you hold/,
      );
    }
  });

  void it('reads a stored key at infinity as no key at all, so nothing authenticates with it', () => {
    assert.equal(publicKeyCache().keyOf({ principal: 'alpha.api', kid: 'inf', pem: pemOf(p256Spki(Buffer.of(0))) }), null);
  });

  void it('refuses a PEM public key cut short (no END line), and a PEM without a PUBLIC KEY block', () => {
    const cut = pemOf(goodDer).replace(/-----END PUBLIC KEY-----\n$/, '');
    assert.throws(() => parsePublicKeyPem(cut), /the PEM public key could not be parsed/);
    assert.throws(() => parsePublicKeyPem(pemOf(goodDer).replaceAll('PUBLIC KEY', 'CERTIFICATE')), /expected a PEM "PUBLIC KEY"/);
  });

  void it('refuses a key whose SubjectPublicKeyInfo is not DER', () => {
    // The outer SEQUENCE's length in long form: node:crypto would read it.
    const ber = Buffer.concat([Buffer.of(0x30, 0x81, goodDer[1]!), goodDer.subarray(2)]);
    assert.throws(() => parsePublicKeyPem(pemOf(ber)), /the key is not a DER SubjectPublicKeyInfo/);
  });

  void it('spkiProblem: null for every key type it does not look into, and for compressed and uncompressed points', () => {
    for (const key of [generateKeyPairSync('ed25519').publicKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, good]) {
      assert.equal(spkiProblem(key.export({ type: 'spki', format: 'der' })), null);
    }
    const compressed = Buffer.concat([Buffer.of(0x02), goodDer.subarray(-64, -32)]);
    assert.equal(spkiProblem(p256Spki(compressed)), null);
    assert.deepEqual(spkiProblem(hex('0500'))?.kind, 'encoding');
    assert.match(spkiProblem(hex('0500'))?.text ?? '', /not a DER SubjectPublicKeyInfo/);
    assert.deepEqual(spkiProblem(p256Spki(Buffer.of(0)))?.kind, 'point');
  });
});
