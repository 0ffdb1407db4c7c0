// The master key seals every private key Tessera stores (token-signing keys, the CA key) with
// AES-256-GCM. The record's id is bound in as additional data, so a sealed key copied onto
// another record does not open.
//
// Sealed format: `v1.<iv>.<ciphertext>.<tag>`, each part base64url.

import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export interface Sealer {
  seal(plaintext: Uint8Array, boundTo: string): string;
  open(sealed: string, boundTo: string): Buffer;
  /** A fingerprint of the key, stored once so a later start with another key fails clearly. */
  readonly fingerprint: string;
}

export class MasterKeyMismatchError extends Error {
  readonly code = 'MASTER_KEY_MISMATCH';
}

export const MASTER_KEY_BYTES = 32;

export function generateMasterKey(): Buffer {
  return randomBytes(MASTER_KEY_BYTES);
}

/** Reads a master key written as base64 or base64url (44 or 43 characters, 32 bytes). */
export function parseMasterKey(text: string, source: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== MASTER_KEY_BYTES) {
    throw new Error(`${source}: the master key must be ${MASTER_KEY_BYTES} bytes, base64-encoded (got ${key.length} bytes)`);
  }
  return key;
}

export function createSealer(key: Buffer): Sealer {
  if (key.length !== MASTER_KEY_BYTES) throw new Error(`master key must be ${MASTER_KEY_BYTES} bytes`);
  const fingerprint = createHash('sha256').update('tessera master key fingerprint\0').update(key).digest('base64url');
  return {
    fingerprint,
    seal(plaintext, boundTo) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(boundTo, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      const tag = cipher.getAuthTag();
      return ['v1', iv.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
    },
    open(sealed, boundTo) {
      const [version, iv, ciphertext, tag] = sealed.split('.');
      if (version !== 'v1' || iv === undefined || ciphertext === undefined || tag === undefined) {
        throw new MasterKeyMismatchError(`sealed key for ${boundTo} is not in the v1 format`);
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(boundTo, 'utf8'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
      } catch {
        throw new MasterKeyMismatchError(`cannot open the sealed key for ${boundTo}: the master key differs from the one that sealed it`);
      }
    },
  };
}
