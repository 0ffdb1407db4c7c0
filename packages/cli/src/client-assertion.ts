// private_key_jwt (RFC 7523 §2.2, OpenID Connect Core §9): the client proves itself with a
// short-lived JWT signed by a private key whose public half is registered on its service.

import { createPrivateKey, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

import { UsageError } from './errors.ts';
import { readInputFile } from './files.ts';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Long enough for one request over a slow link, short enough to be worthless once seen. */
const ASSERTION_LIFETIME_SECONDS = 60;

export interface SigningKey {
  key: KeyObject;
  alg: string;
}

export interface AssertionClaims {
  clientId: string;
  kid: string;
  /** The token endpoint URL the assertion is sent to (RFC 7523 §3: the `aud`). */
  audience: string;
  /** Milliseconds since the epoch. */
  now: number;
}

// The JWS algorithm follows from the key, so a user never has to name it.
const EC_ALGS: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384' };

export function signingAlgFor(key: KeyObject): string | undefined {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return EC_ALGS[key.asymmetricKeyDetails?.namedCurve ?? ''];
    case 'ed25519':
      return 'EdDSA';
    case 'rsa':
      return 'RS256';
    default:
      return undefined;
  }
}

/** Reads a PEM private key (PKCS#8, SEC1 or PKCS#1) and picks its JWS algorithm. */
export async function readSigningKey(cwd: string, file: string): Promise<SigningKey> {
  const key = parsePrivateKey(await readInputFile(cwd, file, 'key file'), file);
  const alg = signingAlgFor(key);
  if (alg === undefined) {
    const type = key.asymmetricKeyDetails?.namedCurve ?? key.asymmetricKeyType ?? 'unknown';
    throw new UsageError(`key file ${file} holds a ${type} key; use a P-256, P-384, Ed25519 or RSA key`);
  }
  return { key, alg };
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

export async function signClientAssertion(signing: SigningKey, claims: AssertionClaims): Promise<string> {
  const iat = Math.floor(claims.now / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: signing.alg, kid: claims.kid })
    .setIssuer(claims.clientId)
    .setSubject(claims.clientId)
    .setAudience(claims.audience)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
    .sign(signing.key);
}
