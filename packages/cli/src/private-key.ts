// Private keys read from files named on the command line: for private_key_jwt (`tessera token
// --key`), for key assertions and CSRs (`tessera cert --key`). Which keys are usable, and the JWS
// algorithm each signs with, is the SDK's table (the keys Tessera registers); what is checked here
// is the file, with errors that name it.

import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { assertionAlgorithm, keyTypeOf } from './sdk.ts';

import { UsageError } from './errors.ts';
import { readInputFile } from './files.ts';

export interface SigningKey {
  key: KeyObject;
  alg: string;
}

/** Reads a PEM private key (PKCS#8, SEC1 or PKCS#1) and picks its JWS algorithm. */
export async function readSigningKey(cwd: string, file: string): Promise<SigningKey> {
  const key = parsePrivateKey(await readInputFile(cwd, file, 'key file'), file);
  const type = keyTypeOf(key);
  if (type === undefined) {
    // An RSA key is refused for its size or exponent: say which are taken.
    const use =
      key.asymmetricKeyType === 'rsa'
        ? 'an RSA key of 2048 to 8192 bits with public exponent 65537, or a P-256, P-384 or Ed25519 key'
        : 'a P-256, P-384, Ed25519 or RSA key';
    throw new UsageError(`key file ${file} holds a ${keyKind(key)} key; use ${use}`);
  }
  return { key, alg: assertionAlgorithm(type) };
}

export function parsePrivateKey(pem: string, file: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    if (/ENCRYPTED/.test(pem)) {
      throw new UsageError(`key file ${file} is encrypted; decrypt it first (openssl pkey -in ${file} -out plain.pem)`);
    }
    throw new UsageError(`key file ${file} holds no PEM private key`);
  }
}

/** `secp521r1`, `1024-bit RSA`, `x448`: what a refused key is, for the message that refuses it. */
export function keyKind(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') {
    // The exponent only when it is why the key is refused (Tessera takes an odd one ≥ 65537).
    const exponent = details?.publicExponent ?? 65_537n;
    const odd = exponent < 65_537n || exponent % 2n === 0n ? ` (public exponent ${exponent})` : '';
    return `${details?.modulusLength ?? 0}-bit RSA${odd}`;
  }
  return details?.namedCurve ?? key.asymmetricKeyType ?? 'unknown';
}
