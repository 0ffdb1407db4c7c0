// The service's key pair and its certificate signing request (PKCS#10). The private key is
// made here and never leaves the machine: only the CSR, signed with it, goes to Tessera.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPublicKey, generateKeyPair, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

import { UsageError } from '../errors.ts';

export const KEY_TYPES = ['p256', 'p384', 'ed25519', 'rsa2048'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = 'p256';

const generate = promisify(generateKeyPair);

/** A fresh private key; only the private half is kept, the public one is derived when needed. */
export async function generateKey(type: KeyType): Promise<KeyObject> {
  switch (type) {
    case 'p256':
      return (await generate('ec', { namedCurve: 'P-256' })).privateKey;
    case 'p384':
      return (await generate('ec', { namedCurve: 'P-384' })).privateKey;
    case 'ed25519':
      return (await generate('ed25519')).privateKey;
    case 'rsa2048':
      return (await generate('rsa', { modulusLength: 2048 })).privateKey;
  }
}

/** The --key-type of an existing key, so a rotated key is of the same kind by default. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    if (details?.namedCurve === 'prime256v1') return 'p256';
    if (details?.namedCurve === 'secp384r1') return 'p384';
    return undefined;
  }
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= 2048) return 'rsa2048';
  return undefined;
}

/** The CA takes P-256, P-384, Ed25519 and RSA of 2048 bits or more (docs/certificates.md); refused here first. */
export function requireCertificateKey(key: KeyObject, file: string): void {
  if (keyTypeOf(key) !== undefined) return;
  const details = key.asymmetricKeyDetails;
  const kind =
    key.asymmetricKeyType === 'rsa'
      ? `${details?.modulusLength ?? 0}-bit RSA`
      : (details?.namedCurve ?? key.asymmetricKeyType ?? 'unknown');
  throw new UsageError(`key file ${file} holds a ${kind} key; certificates need a P-256, P-384, Ed25519 or RSA (2048 bits or more) key`);
}

export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

// One object serves both WebCrypto calls: importing the key and signing the CSR.
type SigningAlgorithm = (webcrypto.EcKeyImportParams & webcrypto.EcdsaParams) | webcrypto.RsaHashedImportParams | webcrypto.Algorithm;

function csrAlgorithm(key: KeyObject): SigningAlgorithm {
  switch (keyTypeOf(key)) {
    case 'p256':
      return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    case 'p384':
      return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
    case 'ed25519':
      return { name: 'Ed25519' };
    case 'rsa2048':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    case undefined:
      throw new UsageError('certificates need a P-256, P-384, Ed25519 or RSA (2048 bits or more) key');
  }
}

/**
 * A PEM CSR whose subject is `CN=<principal>`. No SANs: the CA derives every name from the
 * proven identity (docs/certificates.md, Service certificate profile) and would ignore or refuse requested ones.
 */
export async function buildCsr(key: KeyObject, principal: string): Promise<string> {
  const algorithm = csrAlgorithm(key);
  const keys = {
    privateKey: key.toCryptoKey(algorithm, false, ['sign']),
    publicKey: createPublicKey(key).toCryptoKey(algorithm, true, ['verify']),
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: [{ CN: [principal] }], keys, signingAlgorithm: algorithm },
    webcrypto,
  );
  return `${csr.toString('pem')}\n`;
}
