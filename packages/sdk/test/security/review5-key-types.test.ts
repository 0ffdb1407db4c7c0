// Review 5 (outside attacker / mismatch hunter): the SDK's key table (what it signs
// private_key_jwt and key assertions with, what it certifies) against the server's (what it
// registers and verifies). A key the SDK takes but the server refuses fails late, at the server,
// after the operator registered or enrolled it. FAILS while the two tables differ on a key.

import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { keyTypeOf as sdkKeyTypeOf } from '../../src/certificates/keys.ts';
import { isKeyType, keyTypeOf as serverKeyTypeOf } from '../../../server/src/policy/key-types.ts';

const keys: [string, () => KeyObject][] = [
  ['P-256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey],
  ['P-384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey],
  ['P-521', () => generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey],
  ['secp256k1', () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey],
  ['Ed25519', () => generateKeyPairSync('ed25519').privateKey],
  ['Ed448', () => generateKeyPairSync('ed448').privateKey],
  ['RSA 1024', () => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey],
  ['RSA 2048', () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey],
  ['RSA 2056 (not a multiple of 64)', () => generateKeyPairSync('rsa', { modulusLength: 2056 }).privateKey],
  ['RSA 2048, e=3', () => generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).privateKey],
  ['RSA-PSS 2048', () => generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey],
];

describe('review5: SDK and server accept the same keys', () => {
  for (const [name, make] of keys) {
    it(`${name}: the SDK takes it exactly when the server registers it`, () => {
      const key = make();
      const sdk = sdkKeyTypeOf(key) !== undefined;
      // The server judges the public half it registers.
      const server = isKeyType(serverKeyTypeOf(key)) && isKeyType(serverKeyTypeOf(createPublicKey(key)));
      assert.equal(sdk, server, `${name}: the SDK ${sdk ? 'takes' : 'refuses'} it, the server ${server ? 'registers' : 'refuses'} it`);
    });
  }
});
