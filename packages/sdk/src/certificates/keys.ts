// The service's private keys: made here, kept in the process (and in `outDir` when asked), never
// sent anywhere. One table for the whole SDK: the keys Tessera registers on a service (for
// private_key_jwt and key assertions) are the keys its CA certifies, so a key the SDK signs with
// is one the server accepts. P-521 is not among them (the server refuses it: BoringSSL-based
// peers do not take it), nor RSA above 8,192 bits or with a public exponent below 65537 (or even).

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

/** RSA sizes Tessera registers and certifies. */
const RSA_BITS = { min: 2048, max: 8192 } as const;

/** The accepted key types, as a phrase for messages. */
export const ACCEPTED_KEYS = 'a P-256, P-384, Ed25519 or RSA (2048 to 8192 bits, public exponent 65537) key';

/** The RSA public exponents the server takes: odd and at least 65537 (small ones invite padding attacks). */
function rsaExponentAccepted(key: KeyObject): boolean {
  const exponent = key.asymmetricKeyDetails?.publicExponent ?? 65_537n;
  return exponent >= 65_537n && exponent % 2n === 1n;
}

/** The key type of an existing key, or undefined when Tessera would not register or certify it. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details?.namedCurve === 'prime256v1') return 'p256';
      if (details?.namedCurve === 'secp384r1') return 'p384';
      return undefined;
    case 'ed25519':
      return 'ed25519';
    case 'rsa': {
      const bits = details?.modulusLength ?? 0;
      return bits >= RSA_BITS.min && bits <= RSA_BITS.max && rsaExponentAccepted(key) ? 'rsa2048' : undefined;
    }
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

/** What kind of key it is, for a message that says why it is refused: `an EC key on secp521r1`. */
export function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') return `an EC key on ${details?.namedCurve ?? 'an unknown curve'}`;
  if (key.asymmetricKeyType === 'rsa') {
    const exponent = rsaExponentAccepted(key) ? '' : ` with public exponent ${details?.publicExponent ?? 0n}`;
    return `a ${details?.modulusLength ?? 0}-bit RSA key${exponent}`;
  }
  return `a ${key.asymmetricKeyType ?? 'secret'} key`;
}
