// The key material behind a SigningKeyRecord: generating a key pair, sealing its private half
// under the master key, opening it again, and the public JWK the JWKS publishes. Keys are made
// and published with jose; an opened key is a node:crypto KeyObject with its JWS headers
// encoded once, which oauth2/tokens.ts signs Tessera's own tokens with.

import { createPrivateKey, type KeyObject, type webcrypto } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import type { GenerateKeyPairOptions, JWK } from 'jose';
import type { SigningAlg, SigningKeyRecord, SigningKeyState } from '../storage/records.ts';
import type { Sealer } from './master-key.ts';

/**
 * RS256 modulus. 3072 bits gives the same ~128-bit security as P-256 and Ed25519, so the choice
 * of algorithm (a compatibility choice) does not weaken tokens; NIST SP 800-131A stops
 * accepting 2048-bit (112-bit) signatures after 2030, within this code's life. The price is
 * about 2x signing time (≈0.9 ms vs 0.4 ms per token here) and longer tokens, only for
 * deployments that opt out of the ES256 default.
 */
export const RSA_MODULUS_BITS = 3072;

/** What each algorithm's key looks like in a JWK (RFC 7518 names). */
const KEY_TYPES: Record<SigningAlg, { kty: string; crv?: string; members: readonly string[] }> = {
  ES256: { kty: 'EC', crv: 'P-256', members: ['crv', 'x', 'y'] },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', members: ['crv', 'x'] },
  RS256: { kty: 'RSA', members: ['n', 'e'] },
};

export interface PublicSigningJwk extends JWK {
  kty: string;
  kid: string;
  alg: SigningAlg;
  use: 'sig';
}

/** The two kinds of token Tessera signs, by their JWS `typ`. */
export type TokenTyp = 'at+jwt' | 'JWT';

/**
 * An opened key: the private key as a non-extractable WebCrypto CryptoKey (crypto.subtle signs
 * on the thread pool with less work on the event loop than sign() with a callback: 0.012 against
 * 0.023 ms of main thread per ES256 signature) and as a KeyObject (for signing on the event
 * loop), and, per token kind, its JWS protected header, base64url-encoded.
 */
export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  signer: webcrypto.CryptoKey;
  privateKey: KeyObject;
  /**
   * True for an ES256 key opened with `onEventLoop`: oauth2/tokens.ts signs with node:crypto's
   * sign() on the event loop and rewrites the DER signature (keys/ecdsa-signature.ts). Measured
   * (2026-12-06, 2-vCPU VM, CPU per signature over 20,000 with 32 in flight): 33-40 µs against
   * 68-73 µs for WebCrypto, whose thread-pool hand-off and conversion to r || s cost as much as
   * the signature; by callgrind, Tessera's instructions per token went from 768k to 590k. Worth it
   * where every core already runs an event loop of its own (serve's default, one worker per
   * core); with fewer workers than cores the thread pool puts the idle cores to work instead.
   * EdDSA gains nothing on the loop (56-63 µs either way) and RS256 (~1 ms) would stall it.
   */
  onEventLoop: boolean;
  headers: Readonly<Record<TokenTyp, string>>;
}

/** WebCrypto's name for each algorithm's key (RFC 7518 §3.3/§3.4, RFC 8037 §3.1). */
export const WEBCRYPTO_KEY: Readonly<Record<SigningAlg, webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm>> = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  EdDSA: { name: 'Ed25519' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
};

export class SigningKeyIntegrityError extends Error {
  readonly code = 'SIGNING_KEY_INVALID';
}

// The sealed blob is bound to the kind of record as well as its kid, so a sealed CA key can
// never be opened as a signing key, whatever its id.
function sealBinding(kid: string): string {
  return `signing-key:${kid}`;
}

function generateOptions(alg: SigningAlg): GenerateKeyPairOptions {
  // Extractable only long enough to seal it; openSigningKey imports it non-extractable.
  if (alg === 'RS256') return { extractable: true, modulusLength: RSA_MODULUS_BITS };
  return { extractable: true };
}

export interface NewSigningKeyTimes {
  state: Exclude<SigningKeyState, 'retired'>;
  createdAt: number;
  activatesAt: number;
}

/** A fresh key pair as a record ready to insert; its kid is the RFC 7638 thumbprint. */
export async function generateSigningKey(alg: SigningAlg, sealer: Sealer, times: NewSigningKeyTimes): Promise<SigningKeyRecord> {
  const { publicKey, privateKey } = await generateKeyPair(alg, generateOptions(alg));
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  const publicJwk: PublicSigningJwk = { ...publicMembers(jwk, alg), kid, alg, use: 'sig' };
  const pkcs8 = Buffer.from(await exportPKCS8(privateKey), 'utf8');
  try {
    return {
      kid,
      alg,
      state: times.state,
      publicJwk: JSON.stringify(publicJwk),
      sealedPrivateKey: sealer.seal(pkcs8, sealBinding(kid)),
      createdAt: times.createdAt,
      activatesAt: times.activatesAt,
      retiredAt: null,
      removeAt: null,
    };
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * Opens the private key; MasterKeyMismatchError when another master key sealed it,
 * SigningKeyIntegrityError when what it holds is not a key of the record's algorithm.
 */
export function openSigningKey(record: SigningKeyRecord, sealer: Sealer, options: { onEventLoop?: boolean } = {}): SigningKey {
  const pkcs8 = sealer.open(record.sealedPrivateKey, sealBinding(record.kid));
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pkcs8, format: 'pem' });
  } catch {
    throw new SigningKeyIntegrityError(`signing key ${record.kid}: the sealed private key is not a PKCS #8 key`);
  } finally {
    pkcs8.fill(0);
  }
  if (!fitsAlg(privateKey, record.alg)) {
    throw new SigningKeyIntegrityError(`signing key ${record.kid}: the sealed private key is not a ${record.alg} key`);
  }
  const header = (typ: TokenTyp): string => Buffer.from(JSON.stringify({ alg: record.alg, kid: record.kid, typ })).toString('base64url');
  const signer = privateKey.toCryptoKey(WEBCRYPTO_KEY[record.alg], false, ['sign']);
  const onEventLoop = options.onEventLoop === true && record.alg === 'ES256';
  return { kid: record.kid, alg: record.alg, signer, privateKey, onEventLoop, headers: { 'at+jwt': header('at+jwt'), JWT: header('JWT') } };
}

/** The key types jose's importPKCS8 accepts for each algorithm. */
function fitsAlg(key: KeyObject, alg: SigningAlg): boolean {
  switch (alg) {
    case 'ES256':
      return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    case 'EdDSA':
      return key.asymmetricKeyType === 'ed25519';
    case 'RS256':
      return key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048;
  }
}

/**
 * The JWK to publish for a stored key. Rebuilt from the public members only, so nothing else
 * stored beside them (least of all a private member) can reach the JWKS, and checked against
 * the kid, which the sealed private key is bound to.
 */
export async function publicJwkOf(record: SigningKeyRecord): Promise<PublicSigningJwk> {
  let stored: unknown;
  try {
    stored = JSON.parse(record.publicJwk);
  } catch {
    throw new SigningKeyIntegrityError(`signing key ${record.kid}: the stored public JWK is not JSON`);
  }
  if (typeof stored !== 'object' || stored === null) {
    throw new SigningKeyIntegrityError(`signing key ${record.kid}: the stored public JWK is not an object`);
  }
  const jwk = publicMembers(stored as JWK, record.alg);
  const thumbprint = await calculateJwkThumbprint(jwk, 'sha256').catch(() => null);
  if (thumbprint !== record.kid) {
    throw new SigningKeyIntegrityError(`signing key ${record.kid}: the stored public JWK does not match its kid`);
  }
  return { ...jwk, kid: record.kid, alg: record.alg, use: 'sig' };
}

function publicMembers(jwk: JWK, alg: SigningAlg): JWK & { kty: string } {
  const type = KEY_TYPES[alg];
  if (jwk.kty !== type.kty || (type.crv !== undefined && jwk.crv !== type.crv)) {
    throw new SigningKeyIntegrityError(`a ${alg} key must be kty ${type.kty}${type.crv === undefined ? '' : `, crv ${type.crv}`}`);
  }
  const out: JWK & { kty: string } = { kty: type.kty };
  for (const member of type.members) {
    const value = (jwk as Record<string, unknown>)[member];
    if (typeof value !== 'string') throw new SigningKeyIntegrityError(`a ${alg} public JWK needs "${member}"`);
    (out as Record<string, unknown>)[member] = value;
  }
  return out;
}
