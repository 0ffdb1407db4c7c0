// Which public keys a service may register (for private_key_jwt and for certificates): the
// same set the CA accepts in CSRs (policy/key-types.ts). A private key sent by mistake is refused, never quietly
// turned into its public half, so the caller learns they leaked it.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { isKeyType, keyTypeOf } from './key-types.ts';

/** Returns the key, or throws an Error whose message says what to fix. */
export function parsePublicKeyPem(pem: string): KeyObject {
  if (/PRIVATE KEY/.test(pem)) throw new Error('this PEM holds a private key; register only the public key (openssl pkey -pubout)');
  if (!/-----BEGIN PUBLIC KEY-----/.test(pem)) throw new Error('expected a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) block');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error('the PEM public key could not be parsed');
  }
  const type = keyTypeOf(key);
  if (!isKeyType(type)) throw new Error(`unsupported key type: the key is ${type.problem}`);
  return key;
}
