// The one place the CA touches @peculiar/x509. It needs reflect-metadata loaded before it
// (its ASN.1 schemas use decorators), and ES modules evaluate imports in order, so every CA
// file imports the library from here rather than directly.
//
// Node's own WebCrypto is passed to each library call instead of being installed with
// `x509.cryptoProvider.set`, so nothing here depends on library-global state.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CA_KEY_TYPES, isKeyType, keyTypeOf } from '../policy/key-types.ts';

export { x509 };

// Without the DOM lib the WebCrypto types live under node:crypto's `webcrypto` namespace.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

export { webcrypto };

const P256: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };

/** A fresh P-256 key pair; `extractable` only when the private key has to be sealed or handed out. */
export async function generateP256KeyPair(extractable: boolean): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(P256, extractable, ['sign', 'verify']);
}

/** A CA's private key ready to sign, with the signature algorithm its certificates get. */
export interface SigningKeyMaterial {
  privateKey: CryptoKey;
  /** The same key for node:crypto's sign(), which the service-certificate encoder uses. */
  signingKey: KeyObject;
  signingAlgorithm: webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams | webcrypto.Algorithm;
}

export { CA_KEY_TYPES };

/**
 * Opens a CA's PKCS#8 key for signing. Generated CAs are P-256; an imported CA may also be
 * P-384 (signing with SHA-384, its natural pair) or RSA (PKCS#1 v1.5 with SHA-256, which every
 * TLS stack verifies): the key-type table's `caSignature`. Returns null for any other key type.
 */
export async function importSigningKey(pkcs8: Uint8Array): Promise<SigningKeyMaterial | null> {
  const key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  const type = keyTypeOf(key);
  if (!isKeyType(type) || type.caSignature === null || type.caImport === null) return null;
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, type.caImport, false, ['sign']);
  return { privateKey, signingKey: key, signingAlgorithm: type.caSignature };
}

export async function exportPkcs8Pem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/**
 * A random serial as hex: 16 CSPRNG bytes with the top bit cleared (a positive INTEGER, so no
 * 0x00 sign octet) and the next bit set (no leading zero octet for the encoder to drop). Every
 * serial is thus exactly 16 octets with 126 random bits: above the CA/Browser Forum's 64, below
 * RFC 5280's 20-octet ceiling.
 */
export function randomSerialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return Buffer.from(bytes).toString('hex');
}

/** Certificates carry whole seconds; truncating here keeps reported times equal to encoded ones. */
export function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/** Splits a PEM bundle into its certificates, in order. */
export function certificatesFromPem(pem: string): x509.X509Certificate[] {
  return x509.PemConverter.decode(pem).map((der) => new x509.X509Certificate(der));
}

export function toPem(certificate: x509.X509Certificate): string {
  return `${certificate.toString('pem')}\n`;
}

/** RFC 8705 §3.1 `x5t#S256`: base64url SHA-256 of the DER certificate. */
export function thumbprintOf(certificate: x509.X509Certificate): string {
  return createHash('sha256').update(Buffer.from(certificate.rawData)).digest('base64url');
}
