// Which public keys a service may register (for private_key_jwt and for certificates): the
// same set the CA accepts in CSRs. A private key sent by mistake is refused, never quietly
// turned into its public half, so the caller learns they leaked it.

import { createPublicKey, type KeyObject } from 'node:crypto';

export const ALLOWED_KEY_TYPES = 'EC P-256 or P-384, Ed25519, or RSA of at least 2048 bits';

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
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1') return key;
      break;
    case 'ed25519':
      return key;
    case 'rsa':
      if ((details.modulusLength ?? 0) >= 2048) return key;
      break;
  }
  throw new Error(`unsupported key type; use ${ALLOWED_KEY_TYPES}`);
}
