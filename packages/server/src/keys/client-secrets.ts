// Client secrets are 256-bit random values, so they are stored as a keyed hash
// (HMAC-SHA-256 under a key derived from the master key) rather than with a slow password hash
// such as bcrypt or argon2. A slow hash protects guessable human passwords; a 256-bit random
// secret cannot be guessed however fast the hash is, and a slow hash on the token endpoint
// would cost tens of milliseconds of CPU per request — a throughput cap and a ready-made DoS
// lever. The HMAC key means a stolen database alone is not enough to test candidate secrets.

import { createHmac, createSecretKey, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

export interface SecretHasher {
  hash(secret: string): string;
  /** Constant-time comparison against every stored hash (never stops at the first match). */
  matches(secret: string, hashes: readonly string[]): boolean;
}

export function createSecretHasher(masterKey: Buffer): SecretHasher {
  // A KeyObject made once: handing createHmac a raw Buffer re-validates the key on every call,
  // which measured five times the cost of the HMAC itself on the token endpoint.
  const hmacKey = createSecretKey(Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'tessera client-secret hmac v1', 32)));
  const digest = (secret: string): Buffer => createHmac('sha256', hmacKey).update(secret, 'utf8').digest();
  return {
    hash: (secret) => digest(secret).toString('base64url'),
    matches(secret, hashes) {
      const candidate = digest(secret);
      let found = false;
      for (const stored of hashes) {
        const expected = Buffer.from(stored, 'base64url');
        if (expected.length === candidate.length && timingSafeEqual(expected, candidate)) found = true;
      }
      return found;
    },
  };
}

/** A new client secret: 32 random bytes, base64url (43 characters). */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function generateSecretId(): string {
  return `sec_${randomBytes(8).toString('hex')}`;
}
