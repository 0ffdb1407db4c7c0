// Join tokens (docs/certificates.md; the Athenz "Copper Argos" / SPIRE `join_token` bootstrap): a one-time,
// short-lived credential an operator hands a new instance so it can get its first certificate.
// The format, fixed-length so that a secret scanner can match it exactly, is 64 characters:
//
//   tsj_<id>_<secret>
//   tsj_          the prefix: says "Tessera join token" to people and to scanners
//   <id>          16 lower-case hex characters (8 random bytes): the public lookup key, also
//                 what the audit trail names, so a token can be traced without revealing it
//   _             a separator
//   <secret>      43 base64url characters (32 random bytes, 256 bits)
//
// Stored: the keyed HMAC of the whole token (the client-secret hasher, keys/client-secrets.ts),
// never the token. Hashing the whole token binds the id to the secret. A token is used at most
// once (the store marks it used atomically, so two instances sharing one database cannot both
// accept it) and is bound to the one principal it was made for.
//
// Unlike API keys there is no checksum: a join token lives for minutes, is used once, and is
// pasted by tooling rather than typed.

import { randomBytes } from 'node:crypto';

export const JOIN_TOKEN_PREFIX = 'tsj_';
const ID_LENGTH = 16;
const SECRET_LENGTH = 43;
export const JOIN_TOKEN_LENGTH = JOIN_TOKEN_PREFIX.length + ID_LENGTH + 1 + SECRET_LENGTH;

/** What a secret scanner should look for (add the `g` flag to find every token in a text). */
export const JOIN_TOKEN_PATTERN = /(?<![A-Za-z0-9_-])tsj_[0-9a-f]{16}_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/;

const SHAPE = /^tsj_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;

export interface NewJoinToken {
  /** The whole token: shown once, never stored. */
  token: string;
  id: string;
}

export function generateJoinToken(): NewJoinToken {
  const id = randomBytes(ID_LENGTH / 2).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  if (secret.length !== SECRET_LENGTH) throw new Error('unreachable: 32 bytes are 43 base64url characters');
  return { token: `${JOIN_TOKEN_PREFIX}${id}_${secret}`, id };
}

/** The token's id when `text` has the exact shape; null otherwise. */
export function parseJoinToken(text: string): { id: string } | null {
  if (text.length !== JOIN_TOKEN_LENGTH) return null;
  const match = SHAPE.exec(text);
  return match?.[1] ? { id: match[1] } : null;
}
