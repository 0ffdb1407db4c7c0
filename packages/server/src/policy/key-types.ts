// The key types Tessera accepts, in one table: what a service may register (for private_key_jwt
// and key assertions), what a CSR may ask a certificate for, what a CA may sign with, and which
// JWS algorithms each type signs. RFC 8725 §3.1: the key's type picks the algorithm, never the
// token's header alone. Every caller reads this table; a key type or algorithm is added here.
//
// P-521 is left out on purpose: BoringSSL (Chrome, and Go peers built on it) and the CA/Browser
// Forum rules do not take it, so a P-521 certificate would fail at some peers, and a key that can
// never get a certificate is not worth registering either.

import type { KeyObject, webcrypto } from 'node:crypto';
import { DER, DerError, childrenOf, expectElement, readBitString, readOid } from '../ca/der.ts';

export interface KeyType {
  /** For messages and the audit trail, e.g. `ECDSA P-256`, `RSA 3072`. */
  label: string;
  /** The JWS algorithms (RFC 7518) this key checks; the first is the one to sign with. */
  jwsAlgorithms: readonly string[];
  /** How a CA with this key signs certificates (WebCrypto); null when a CA may not use it. */
  caSignature: webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams | null;
  /** The WebCrypto import parameters of a CA key of this type; null when a CA may not use it. */
  caImport: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams | null;
}

/** The accepted key types, as a phrase for messages. */
export const KEY_TYPES = 'ECDSA P-256 or P-384, Ed25519, or RSA of 2048 to 8192 bits';
/** The key types a CA may sign with: what Go's crypto/x509, OpenSSL and browsers all verify. */
export const CA_KEY_TYPES = 'ECDSA P-256, ECDSA P-384 or RSA of 2048 to 8192 bits';

const RSA_BITS = { min: 2048, max: 8192 } as const;
const RSA_PKCS1 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

const CURVES: Readonly<Record<string, Omit<KeyType, 'label'> & { name: string }>> = {
  prime256v1: {
    name: 'P-256',
    jwsAlgorithms: ['ES256'],
    caSignature: { name: 'ECDSA', hash: 'SHA-256' },
    caImport: { name: 'ECDSA', namedCurve: 'P-256' },
  },
  secp384r1: {
    name: 'P-384',
    jwsAlgorithms: ['ES384'],
    caSignature: { name: 'ECDSA', hash: 'SHA-384' },
    caImport: { name: 'ECDSA', namedCurve: 'P-384' },
  },
};

const ED25519: KeyType = { label: 'Ed25519', jwsAlgorithms: ['EdDSA', 'Ed25519'], caSignature: null, caImport: null };
const RSA_JWS = ['RS256', 'PS256'] as const;

/** Every JWS algorithm some accepted key signs with: discovery's signing-algorithm list. */
export const JWS_ALGORITHMS: readonly string[] = [...Object.values(CURVES).flatMap((curve) => curve.jwsAlgorithms), ...ED25519.jwsAlgorithms, ...RSA_JWS];

/**
 * The key's type, or why it is refused, as a phrase that completes "the key is …" and says what to
 * use instead, e.g. "on curve secp521r1; use …". Private and public keys alike (a CA's is private).
 */
export function keyTypeOf(key: KeyObject): KeyType | { problem: string } {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = CURVES[details.namedCurve ?? ''];
      if (curve === undefined) return { problem: `on curve ${details.namedCurve ?? 'unknown'}; use ${KEY_TYPES}` };
      const { name, ...rest } = curve;
      return { label: `ECDSA ${name}`, ...rest };
    }
    case 'ed25519':
      return ED25519;
    case 'rsa': {
      const bits = details.modulusLength ?? 0;
      if (bits < RSA_BITS.min) return { problem: `RSA with ${bits} bits, which is too weak; use at least ${RSA_BITS.min} bits (or ECDSA P-256)` };
      if (bits > RSA_BITS.max) return { problem: `RSA with ${bits} bits; at most ${RSA_BITS.max} are accepted` };
      // Only for public keys: node:crypto reports the exponent of both, but checks it nowhere.
      const exponent = details.publicExponent ?? 65_537n;
      if (exponent < 65_537n || exponent % 2n === 0n) {
        return { problem: `RSA with public exponent ${exponent}; use an odd exponent of at least 65537 (the usual 65537)` };
      }
      return { label: `RSA ${bits}`, jwsAlgorithms: RSA_JWS, caSignature: RSA_PKCS1, caImport: RSA_PKCS1 };
    }
    default:
      return { problem: `${key.asymmetricKeyType ?? 'of an unknown type'}; use ${KEY_TYPES}` };
  }
}

export function isKeyType(type: KeyType | { problem: string }): type is KeyType {
  return !('problem' in type);
}

/** The JWS algorithms the key checks; empty for a key Tessera does not accept. */
export function jwsAlgorithmsFor(key: KeyObject): readonly string[] {
  const type = keyTypeOf(key);
  return isKeyType(type) ? type.jwsAlgorithms : [];
}

/** id-ecPublicKey (RFC 5480 §2.1.1): the algorithm of every EC key's SubjectPublicKeyInfo. */
export const EC_PUBLIC_KEY_OID = '1.2.840.10045.2.1';

/** Why a SubjectPublicKeyInfo is not to be read: its encoding, or an EC point that is no key. */
export interface SpkiProblem {
  kind: 'encoding' | 'point';
  /** A phrase completing "the key is …" and saying what to send instead. */
  text: string;
}

/**
 * What makes a SubjectPublicKeyInfo (DER) unfit to read as a key at all; null when node:crypto may
 * read it. To be called before it does: node:crypto reads an EC point at infinity (one zero octet)
 * as a key under which OpenSSL verifies signatures nobody made, and reading its details leaves an
 * OpenSSL error behind that fails the next TLS read on the thread. An EC point must be in one of
 * the standard forms (compressed 0x02/0x03, uncompressed 0x04); the key's bytes must be DER.
 */
export function spkiProblem(spki: Uint8Array): SpkiProblem | null {
  try {
    const [algorithm, key, ...rest] = childrenOf(spki, expectElement(spki, 0, DER.SEQUENCE));
    if (algorithm?.tag !== DER.SEQUENCE || key?.tag !== DER.BIT_STRING || rest.length > 0) return NOT_SPKI;
    const [oid] = childrenOf(spki, algorithm);
    if (oid?.tag !== DER.OID || readOid(spki, oid) !== EC_PUBLIC_KEY_OID) return null;
    const point = readBitString(spki, key);
    return point.length < 2 || (point[0] !== 0x02 && point[0] !== 0x03 && point[0] !== 0x04) ? NO_POINT : null;
  } catch (cause) {
    if (!(cause instanceof DerError)) throw cause;
    return NOT_SPKI;
  }
}

const NOT_SPKI: SpkiProblem = { kind: 'encoding', text: 'not a DER SubjectPublicKeyInfo; export the public key again (openssl pkey -pubout)' };
const NO_POINT: SpkiProblem = {
  kind: 'point',
  text: 'an EC point at infinity or in no standard form, which is no public key; send the public key of a key pair you hold',
};
