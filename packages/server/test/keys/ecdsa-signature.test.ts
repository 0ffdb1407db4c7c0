// The DER-to-JWS rewrite of ECDSA signatures (keys/ecdsa-signature.ts), against node:crypto's own
// r || s encoding: every rewritten signature must verify as IEEE P1363, including the ones whose
// r or s is short (padded with zeros) or has its top bit set (DER's extra zero byte dropped).

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { joseEcdsaSignature } from '../../src/keys/ecdsa-signature.ts';

const INTEGER = 0x02;
const der = (...integers: number[][]): Buffer => {
  const body = integers.flatMap((bytes) => [INTEGER, bytes.length, ...bytes]);
  return Buffer.from([0x30, body.length, ...body]);
};

void describe('joseEcdsaSignature', () => {
  void it('rewrites P-256 signatures as r || s that verify, whatever the lengths of r and s in DER', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const lengths = new Set<number>();
    for (let i = 0; i < 3000; i += 1) {
      const data = randomBytes(1 + (i % 300));
      const signature = sign('sha256', data, privateKey);
      lengths.add(signature[3]!).add(signature[5 + signature[3]!]!);
      const rewritten = joseEcdsaSignature(signature, 32);
      assert.equal(rewritten.length, 64);
      assert.ok(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, rewritten), `signature ${i} does not verify`);
    }
    // 33 bytes: the top bit set, DER's zero byte in front; 31 or fewer: a short value to pad.
    assert.ok(lengths.has(33) && lengths.has(32) && [...lengths].some((length) => length < 32), `lengths seen: ${[...lengths].join(', ')}`);
  });

  void it('pads a short integer and drops the zero byte DER puts before a set top bit', () => {
    const s = [0x00, 0x80, ...new Array<number>(31).fill(0x11)];
    const rewritten = joseEcdsaSignature(der([0x05], s), 32);
    assert.deepEqual([...rewritten], [...new Array<number>(31).fill(0), 0x05, 0x80, ...new Array<number>(31).fill(0x11)]);
  });

  const refusals: [string, Buffer, RegExp][] = [
    ['a signature that is not a SEQUENCE', Buffer.from([0x31, 6, INTEGER, 1, 1, INTEGER, 1, 1]), /no SEQUENCE/],
    ['a SEQUENCE length that does not span the signature', Buffer.concat([der([1], [1]), Buffer.from([0])]), /no SEQUENCE/],
    ['a missing INTEGER tag', Buffer.from([0x30, 6, 0x04, 1, 1, INTEGER, 1, 1]), /INTEGER is missing/],
    ['an INTEGER of no bytes', der([], [1, 2, 3, 4, 5]), /has no bytes/],
    ['an INTEGER running past the end', Buffer.from([0x30, 6, INTEGER, 9, 1, INTEGER, 1, 1]), /overruns/],
    ['an INTEGER longer than the curve allows', der(new Array<number>(33).fill(0x7f), [1]), /longer than 32 bytes/],
    ['bytes after the two INTEGERs', der([1], [1], [1]), /bytes follow/],
  ];
  for (const [what, signature, message] of refusals) {
    void it(`refuses ${what}`, () => {
      assert.throws(() => joseEcdsaSignature(signature, 32), message);
    });
  }

  void it('refuses sizes that need a long-form DER length (P-521)', () => {
    assert.throws(() => joseEcdsaSignature(der([1], [1]), 66), /long-form length/);
  });
});
