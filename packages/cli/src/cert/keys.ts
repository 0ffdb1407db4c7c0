// The key of a service certificate. Key types, key generation and the CSR are the SDK's (the
// certificate refresher's): the CLI refuses here first, with the file's name, what the CA would.

import type { KeyObject } from 'node:crypto';
import { keyTypeOf } from '../sdk.ts';
import type { KeyType } from '@tessera/sdk';

import { UsageError } from '../errors.ts';
import { keyKind } from '../private-key.ts';

export const DEFAULT_KEY_TYPE: KeyType = 'p256';

/** The CA takes P-256, P-384, Ed25519 and RSA of 2048 to 8192 bits (docs/certificates.md). */
export function requireCertificateKey(key: KeyObject, file: string): void {
  if (keyTypeOf(key) !== undefined) return;
  throw new UsageError(`key file ${file} holds a ${keyKind(key)} key; certificates need a P-256, P-384, Ed25519 or RSA (2048 bits or more) key`);
}
