// API keys (docs/http-api.md, API keys), for callers that cannot do OAuth. The format, fixed-length so that a
// secret scanner can match it exactly, is 70 characters:
//
//   tsk_<id>_<secret><checksum>
//   tsk_          the prefix: says "Tessera secret key" to people and to scanners
//   <id>          16 lower-case hex characters (8 random bytes): the public lookup key, also the
//                 `id` the admin API lists, so a leaked key can be traced and revoked
//   _             a separator
//   <secret>      43 base64url characters (32 random bytes, 256 bits)
//   <checksum>    6 base62 characters: CRC-32 (zlib's) of everything before it, left-padded
//                 with '0'. As in GitHub's tokens, it lets a scanner tell a real key from a
//                 look-alike offline, and lets the server drop a mistyped key without a lookup.
//                 It is not a secret and proves nothing: only the stored hash does.
//
// Stored: the keyed HMAC of the whole key (the client-secret hasher, keys/client-secrets.ts).
// Hashing the whole key rather than its secret part binds the id to the secret and keeps the
// hashes apart from client secrets, whose format is the same 43 characters.

import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const API_KEY_PREFIX = 'tsk_';
const ID_LENGTH = 16;
const SECRET_LENGTH = 43;
const CHECKSUM_LENGTH = 6;
export const API_KEY_LENGTH = API_KEY_PREFIX.length + ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH;

/**
 * What a secret scanner should look for (add the `g` flag to find every key in a text); the
 * lookarounds keep it from matching inside a longer word. A match still needs parseApiKey's
 * checksum check to count as a real key.
 */
export const API_KEY_PATTERN = /(?<![A-Za-z0-9_-])tsk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}[0-9A-Za-z]{6}(?![A-Za-z0-9_-])/;

const SHAPE = /^tsk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}[0-9A-Za-z]{6}$/;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** The `id` part alone, as the admin API's path parameter (a JSON-schema pattern). */
export const API_KEY_ID_PATTERN = '^[0-9a-f]{16}$';

export interface NewApiKey {
  /** The whole key: shown once, never stored. */
  key: string;
  id: string;
}

export function generateApiKey(): NewApiKey {
  const id = randomBytes(ID_LENGTH / 2).toString('hex');
  const body = `${API_KEY_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
  return { key: body + checksum(body), id };
}

/** The key's id when `text` has the exact shape and a matching checksum; null otherwise. */
export function parseApiKey(text: string): { id: string } | null {
  if (text.length !== API_KEY_LENGTH) return null;
  const match = SHAPE.exec(text);
  if (!match?.[1]) return null;
  const body = text.slice(0, -CHECKSUM_LENGTH);
  if (checksum(body) !== text.slice(-CHECKSUM_LENGTH)) return null;
  return { id: match[1] };
}

/** CRC-32 of `body` as 6 base62 digits (62^6 > 2^32, so every value fits). */
export function checksum(body: string): string {
  let value = crc32(body);
  let digits = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    digits = BASE62.charAt(value % 62) + digits;
    value = Math.floor(value / 62);
  }
  return digits;
}
