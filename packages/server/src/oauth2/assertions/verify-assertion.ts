// A JWT bearer assertion (RFC 7523 §3) signed by a key registered on a service: the one check
// behind both `private_key_jwt` at the token endpoint and the CA's `key-assertion` proof, so the
// two can never accept different assertions.
//
// The rules, in the RFC's order: iss = sub = the caller (§3 items 1-2); aud names this endpoint
// (3); exp is required and at most 5 minutes out (4: "MAY reject … unreasonably far in the
// future"), measured from iat when given, and never beyond 5 minutes from our own clock; nbf is
// honoured (5); an iat in the future is refused (6), or a client could make one that stays good
// for a year; a jti is required and accepted once (7), remembered until the exp check would
// refuse the assertion anyway; and the signature must verify (9). The algorithm comes from the
// key's type (policy/key-types.ts), never `none`, never HMAC; header parameters that point at
// other keys (`jwk`, `jku`, `x5u`, `x5c`) are ignored, and an unknown `crit` is refused. Cheap
// checks run before any database or signature work; the jti is spent only once the signature holds.
// One signature check runs whether or not a registered key fits (stand-in-keys.ts), so an unknown
// caller or kid takes as long as a bad signature (RFC 9700 §4).

import type { KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { JWS_ALGORITHMS, jwsAlgorithmsFor } from '../../policy/key-types.ts';
import { standInKey } from './stand-in-keys.ts';

export const MAX_ASSERTION_BYTES = 8 * 1024;
/** An assertion proves one request; a long-lived one is a bearer credential in disguise. */
export const MAX_ASSERTION_LIFETIME = 300;
const MAX_JTI_LENGTH = 256;
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * Why an assertion was refused. `invalid`: its form or claims are wrong, and the message says how.
 * `unsigned`: no key the caller offered verified it (or none fits its alg): callers that must not
 * reveal which clients or keys exist answer this one alike. `replayed`: its jti was seen before.
 */
export class AssertionError extends Error {
  readonly code: 'invalid' | 'unsigned' | 'replayed';
  constructor(code: AssertionError['code'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

export interface AssertionChecks {
  /** Values `aud` may hold; the first is named in errors. */
  audiences: readonly string[];
  /** Seconds of clock difference tolerated on exp, nbf and iat. */
  clockSkew: number;
  /**
   * For messages: what iss and sub must name (`the client_id`), what aud must name (`this token
   * endpoint`) and what signs (`a key registered for the client`).
   */
  words: { caller: string; endpoint: string; key: string };
}

export interface AssertionInput {
  assertion: string;
  /** Milliseconds since the epoch. */
  now: number;
  /** A further cheap check of iss, run before any lookup; throws to refuse. */
  checkIssuer?: (issuer: string) => void;
  /** The registered keys that may have signed it (by `kid` when the header names one). */
  keysFor: (issuer: string, kid: string | undefined) => Promise<readonly KeyObject[]>;
  /** Records the jti until `keepUntil` (ms); false when it was recorded before. */
  consumeJti: (issuer: string, jti: string, keepUntil: number) => Promise<boolean>;
}

export interface VerifiedAssertion {
  /** iss (= sub): the caller. */
  issuer: string;
  jti: string;
  /** Seconds since the epoch. */
  exp: number;
  /** The key that verified it. */
  key: KeyObject;
}

export async function verifyAssertion(checks: AssertionChecks, input: AssertionInput): Promise<VerifiedAssertion> {
  const { assertion } = input;
  if (Buffer.byteLength(assertion, 'utf8') > MAX_ASSERTION_BYTES) {
    invalid(`it is larger than ${MAX_ASSERTION_BYTES / 1024} KiB`);
  }
  const header = decodeHeader(assertion);
  const alg = checkHeader(header);
  const claims = checkClaims(decodeClaims(assertion), checks, Math.floor(input.now / 1000));
  input.checkIssuer?.(claims.issuer);

  const keys = await input.keysFor(claims.issuer, header.kid);
  const fitting = keys.filter((key) => jwsAlgorithmsFor(key).includes(alg));
  const algorithms = [...new Set(keys.flatMap((key) => jwsAlgorithmsFor(key)))].join(' or ');
  if (fitting.length === 0) {
    // No registered key fits (an unknown caller or kid): the signature is still checked, against
    // a stand-in, so this costs what a bad signature costs and the time does not tell them apart.
    await signedBy(assertion, [standInKey(alg)], alg, claims.issuer, checks, input.now).catch(() => undefined);
    const why = keys.length === 0 ? `${checks.words.key} is unknown` : `its alg ${alg} does not fit ${checks.words.key}; sign it with ${algorithms}`;
    throw new AssertionError('unsigned', why);
  }
  const verifiedBy = await signedBy(assertion, fitting, alg, claims.issuer, checks, input.now);
  if (verifiedBy === undefined) {
    throw new AssertionError('unsigned', `it is not signed by ${checks.words.key}; sign it with its private key (${algorithms})`);
  }

  // Kept until the assertion could no longer pass the exp check, skew included.
  const keepUntil = (claims.exp + checks.clockSkew) * 1000;
  if (!(await input.consumeJti(claims.issuer, claims.jti, keepUntil))) {
    throw new AssertionError('replayed', 'assertion already used (its jti was seen before); make a new assertion, with a new jti, for every request');
  }
  return { ...claims, key: verifiedBy };
}

/** The first of `keys` whose signature the assertion carries; undefined when none. */
async function signedBy(
  assertion: string,
  keys: readonly KeyObject[],
  alg: string,
  issuer: string,
  checks: AssertionChecks,
  now: number,
): Promise<KeyObject | undefined> {
  for (const key of keys) {
    try {
      // The claims were checked above; jose checks them again on the parse it verifies.
      await jwtVerify(assertion, key, {
        algorithms: [alg],
        issuer,
        subject: issuer,
        audience: [...checks.audiences],
        requiredClaims: ['exp', 'jti'],
        clockTolerance: checks.clockSkew,
        currentDate: new Date(now),
      });
      return key;
    } catch (error) {
      // Without a kid several keys are tried; only a signature mismatch moves on to the next.
      if (error instanceof errors.JWSSignatureVerificationFailed) continue;
      if (error instanceof errors.JOSEError) invalid(error.message, error);
      throw error;
    }
  }
  return undefined;
}

/** Refuses an assertion as `invalid` with `message`, the sentence that says what is wrong with it. */
export function invalid(message: string, cause?: unknown): never {
  throw new AssertionError('invalid', message, cause === undefined ? undefined : { cause });
}

const NOT_A_JWS = 'it is not a signed JWT (JWS compact serialization: three base64url parts joined by dots)';

/** The protected header of a compact JWS, or `invalid`. */
export function decodeHeader(assertion: string): ProtectedHeaderParameters {
  if (assertion.split('.').length !== 3) invalid(NOT_A_JWS);
  try {
    return decodeProtectedHeader(assertion);
  } catch {
    return invalid(NOT_A_JWS);
  }
}

/** The claims of a compact JWS, unverified, or `invalid`. */
export function decodeClaims(assertion: string): JWTPayload {
  try {
    return decodeJwt(assertion);
  } catch {
    return invalid('its payload is not a JSON object of JWT claims');
  }
}

/** Returns the alg, once it is one some accepted key type signs with. */
function checkHeader(header: ProtectedHeaderParameters): string {
  const { alg } = header;
  if (typeof alg !== 'string') invalid('its header has no alg');
  if (alg.toLowerCase() === 'none') {
    invalid('alg "none" is never accepted; sign the assertion with the private key of a registered public key');
  }
  if (!JWS_ALGORITHMS.includes(alg)) {
    invalid(`alg "${alg.slice(0, 20)}" is not accepted; sign with the registered key's algorithm (${JWS_ALGORITHMS.join(', ')})`);
  }
  if (header.crit !== undefined) {
    invalid('its header marks parameters critical (crit) that Tessera does not understand; remove crit');
  }
  if (header.kid !== undefined && typeof header.kid !== 'string') invalid('kid must be a string');
  return alg;
}

function checkClaims(claims: JWTPayload, checks: AssertionChecks, now: number): Omit<VerifiedAssertion, 'key'> {
  const { iss, sub, aud, exp, nbf, iat, jti } = claims;
  if (typeof iss !== 'string' || iss === '' || iss !== sub) invalid(`iss and sub must both be ${checks.words.caller} (RFC 7523 §3)`);
  // No caller is named so, and PostgreSQL refuses NUL in text.
  if (CONTROL_CHARACTER.test(iss)) throw new AssertionError('unsigned', 'iss holds control characters');
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (!audiences.some((value) => checks.audiences.includes(value))) invalid(`aud must name ${checks.words.endpoint}, ${checks.audiences[0] ?? ''}`);

  const skew = checks.clockSkew;
  if (!isNumericDate(exp)) invalid('exp is required (a NumericDate, in seconds)');
  if (exp + skew <= now) invalid(`it expired at ${isoSeconds(exp)}; make a fresh assertion for each request`);
  if (nbf !== undefined) {
    if (!isNumericDate(nbf)) invalid('nbf must be a NumericDate, in seconds');
    if (nbf - skew > now) invalid(`it is not valid before ${isoSeconds(nbf)}`);
  }
  if (iat !== undefined) {
    if (!isNumericDate(iat)) invalid('iat must be a NumericDate, in seconds');
    if (iat - skew > now) invalid(`it was issued in the future (iat ${isoSeconds(iat)}); check the client's clock`);
  }
  // From iat when the client says when it made the assertion, else from our clock; either way
  // exp is at most MAX_ASSERTION_LIFETIME (plus skew) ahead of now, since iat is not in the future.
  const lifetime = iat !== undefined ? exp - iat : exp - now - skew;
  if (lifetime > MAX_ASSERTION_LIFETIME) {
    invalid(`it is valid for ${Math.ceil(lifetime)} s, longer than the ${MAX_ASSERTION_LIFETIME} s allowed; set exp at most 5 minutes after iat`);
  }

  if (typeof jti !== 'string' || jti === '') invalid('jti is required: a unique id for each assertion, so it cannot be replayed');
  if (jti.length > MAX_JTI_LENGTH) invalid(`jti is longer than ${MAX_JTI_LENGTH} characters`);
  if (CONTROL_CHARACTER.test(jti)) invalid('jti must not contain control characters');
  return { issuer: iss, jti, exp };
}

const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function isoSeconds(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}
