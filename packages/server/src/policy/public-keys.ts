// Which public keys a service may register (for private_key_jwt and for certificates): the
// same set the CA accepts in CSRs (policy/key-types.ts). A private key sent by mistake is refused, never quietly
// turned into its public half, so the caller learns they leaked it.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { isKeyType, keyTypeOf, spkiProblem } from './key-types.ts';

/** Returns the key, or throws an Error whose message says what to fix. */
export function parsePublicKeyPem(pem: string): KeyObject {
  if (/PRIVATE KEY/.test(pem)) throw new Error('this PEM holds a private key; register only the public key (openssl pkey -pubout)');
  if (!/-----BEGIN PUBLIC KEY-----/.test(pem)) throw new Error('expected a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) block');
  const body = /-----BEGIN PUBLIC KEY-----([^-]*)-----END PUBLIC KEY-----/.exec(pem)?.[1];
  if (body === undefined) throw new Error('the PEM public key could not be parsed');
  // The bytes checked are the bytes read: the PEM is decoded once.
  const spki = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  const problem = spkiProblem(spki);
  if (problem !== null) throw new Error(`unsupported key: the key is ${problem.text}`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    throw new Error('the PEM public key could not be parsed');
  }
  const type = keyTypeOf(key);
  if (!isKeyType(type)) throw new Error(`unsupported key type: the key is ${type.problem}`);
  return key;
}

export interface RegisteredKey {
  principal: string;
  kid: string;
  pem: string;
}

/** Registered keys parsed once and kept: parsing a PEM costs more than the lookup that found it. */
export interface PublicKeyCache {
  /** The key of the record, parsed once per (principal, kid, pem); null for a key Tessera cannot use. */
  keyOf(record: RegisteredKey): KeyObject | null;
}

/** Holds at most `size` keys, forgetting the least recently added first. */
export function publicKeyCache(size = 1024): PublicKeyCache {
  const keys = new Map<string, { pem: string; key: KeyObject | null }>();
  return {
    keyOf(record) {
      const id = `${record.principal}\n${record.kid}`;
      const cached = keys.get(id);
      if (cached?.pem === record.pem) return cached.key;
      let key: KeyObject | null;
      try {
        key = parsePublicKeyPem(record.pem);
      } catch {
        key = null;
      }
      keys.delete(id);
      if (keys.size >= size) {
        const oldest = keys.keys().next();
        if (!oldest.done) keys.delete(oldest.value);
      }
      keys.set(id, { pem: record.pem, key });
      return key;
    },
  };
}
