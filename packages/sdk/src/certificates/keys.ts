// The service's private keys: made here, kept in the process (and in `outDir` when asked), never
// sent anywhere. Only the key types Tessera's CA certifies are offered.

import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

/** Key types the refresher can make; `p256` (ECDSA P-256) unless told otherwise. */
export type KeyType = 'p256' | 'p384' | 'ed25519' | 'rsa2048';

export const KEY_TYPES: readonly KeyType[] = ['p256', 'p384', 'ed25519', 'rsa2048'];

const generate = promisify(generateKeyPair);

/** A fresh private key, made off the main thread (RSA takes a while). */
export async function generateKey(type: KeyType): Promise<KeyObject> {
  switch (type) {
    case 'p256':
      return (await generate('ec', { namedCurve: 'P-256' })).privateKey;
    case 'p384':
      return (await generate('ec', { namedCurve: 'P-384' })).privateKey;
    case 'ed25519':
      return (await generate('ed25519', {})).privateKey;
    case 'rsa2048':
      return (await generate('rsa', { modulusLength: 2048 })).privateKey;
  }
}

/** The key type of an existing key, or undefined when Tessera would not certify it. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details?.namedCurve === 'prime256v1') return 'p256';
      if (details?.namedCurve === 'secp384r1') return 'p384';
      return undefined;
    case 'ed25519':
      return 'ed25519';
    case 'rsa':
      return (details?.modulusLength ?? 0) >= 2048 ? 'rsa2048' : undefined;
    default:
      return undefined;
  }
}

/** The JWS algorithm a key signs assertions with (RFC 7518, RFC 8037). */
export function assertionAlgorithm(type: KeyType): string {
  switch (type) {
    case 'p256':
      return 'ES256';
    case 'p384':
      return 'ES384';
    case 'ed25519':
      return 'EdDSA';
    case 'rsa2048':
      return 'RS256';
  }
}

export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}
