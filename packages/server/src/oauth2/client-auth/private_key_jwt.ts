// private_key_jwt (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OpenID Connect Core §9): the client
// signs a short-lived JWT with a private key whose public half is registered on its service.
//
// Only what Tessera already knows decides: the key comes from the service's registered keys
// (chosen by `kid`), the algorithm from that key's type (never `none`, never HMAC: RFC 8725
// §3.1), and header parameters that point at other keys (`jwk`, `jku`, `x5u`, `x5c`) are
// ignored, never fetched or trusted. Cheap checks on the claims run before any database or
// signature work, so junk costs little; the jti is recorded only once the signature holds.

import type { KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { parsePublicKeyPem } from '../../policy/public-keys.ts';
import type { PublicKeyRecord } from '../../storage/records.ts';
import type { Store } from '../../storage/store.ts';
import { OAuthError, invalidRequest } from '../errors.ts';
import type { ClientAuthMethod } from './method.ts';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What discovery advertises as token_endpoint_auth_signing_alg_values_supported. */
export const PRIVATE_KEY_JWT_ALGORITHMS: readonly string[] = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256'];

const MAX_ASSERTION_BYTES = 8 * 1024;
/** An assertion proves one request; a long-lived one is a bearer credential in disguise. */
const MAX_ASSERTION_LIFETIME = 300;
const MAX_JTI_LENGTH = 256;
const KEY_CACHE_SIZE = 1024;
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

export interface PrivateKeyJwtDeps {
  store: Pick<Store, 'getClientForAuth' | 'listPublicKeys' | 'consumeAssertionJti'>;
  /** Values `aud` may hold: the token endpoint URLs and the issuer. The first is named in errors. */
  audiences: readonly string[];
  /** Seconds of clock difference tolerated on exp, nbf and iat. */
  clockSkew: number;
}

interface UsableKey {
  pem: string;
  key: KeyObject;
  algorithms: readonly string[];
}

interface CheckedClaims {
  clientId: string;
  jti: string;
  exp: number;
}

/**
 * One answer for an unknown client, an unknown kid and a bad signature alike, so the endpoint
 * does not reveal which client ids or key ids exist.
 */
const NOT_PROVEN = 'unknown client, or the assertion is not signed by a key registered for it; check iss, sub, kid, alg and the signing key';

function rejected(why: string): OAuthError {
  return new OAuthError(401, 'invalid_client', `client assertion rejected: ${why}`, { errorCode: 'AUTH_101' });
}

export function privateKeyJwt(deps: PrivateKeyJwtDeps): ClientAuthMethod {
  const keys = new Map<string, UsableKey>();

  /** Registered keys of `principal` that can check `alg`, imported once per (principal, kid, pem). */
  const usableKeys = async (principal: string, kid: string | undefined, alg: string): Promise<UsableKey[]> => {
    const records = await deps.store.listPublicKeys(principal);
    const chosen = kid === undefined ? records : records.filter((record) => record.kid === kid);
    return chosen.map((record) => importKey(keys, record)).filter((key): key is UsableKey => key !== null && key.algorithms.includes(alg));
  };

  return {
    name: 'private_key_jwt',
    present: (request) => request.form['client_assertion'] !== undefined || request.form['client_assertion_type'] !== undefined,
    async authenticate(request) {
      const assertion = readAssertion(request.form['client_assertion_type'], request.form['client_assertion']);
      const header = decodeHeader(assertion);
      const alg = checkHeader(header);
      const nowSeconds = Math.floor(request.now / 1000);
      const claims = checkClaims(decodeClaims(assertion), request.form['client_id'], nowSeconds, deps);

      const client = await deps.store.getClientForAuth(claims.clientId, request.now);
      if (!client) throw rejected(NOT_PROVEN);
      const candidates = await usableKeys(client.service.principal, header.kid, alg);
      let verified = false;
      for (const candidate of candidates) {
        try {
          await jwtVerify(assertion, candidate.key, {
            algorithms: [...candidate.algorithms],
            issuer: claims.clientId,
            subject: claims.clientId,
            audience: [...deps.audiences],
            requiredClaims: ['exp', 'jti'],
            clockTolerance: deps.clockSkew,
            currentDate: new Date(request.now),
          });
          verified = true;
          break;
        } catch (error) {
          // Without a kid several keys are tried; only a signature mismatch moves on to the next.
          if (error instanceof errors.JWSSignatureVerificationFailed || !(error instanceof errors.JOSEError)) continue;
          throw rejected(error.message);
        }
      }
      if (!verified) throw rejected(NOT_PROVEN);

      // Kept until the assertion could no longer pass the exp check, skew included.
      const keepUntil = (claims.exp + deps.clockSkew) * 1000;
      if (!(await deps.store.consumeAssertionJti(client.service.clientId, claims.jti, keepUntil, request.now))) {
        throw rejected('assertion already used (its jti was seen before); make a new assertion, with a new jti, for every request');
      }
      return { service: client.service, method: 'private_key_jwt' };
    },
  };
}

function readAssertion(type: string | undefined, assertion: string | undefined): string {
  if (type === undefined) throw invalidRequest(`client_assertion was sent without client_assertion_type; send client_assertion_type=${JWT_BEARER_ASSERTION_TYPE}`);
  if (type !== JWT_BEARER_ASSERTION_TYPE) {
    throw invalidRequest(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE} (RFC 7523 §2.2), not "${type.slice(0, 80)}"`);
  }
  if (assertion === undefined || assertion === '') throw invalidRequest('client_assertion_type was sent without client_assertion; send the signed JWT as client_assertion');
  if (Buffer.byteLength(assertion, 'utf8') > MAX_ASSERTION_BYTES) throw rejected(`it is larger than ${MAX_ASSERTION_BYTES / 1024} KiB`);
  return assertion;
}

const NOT_A_JWS = 'it is not a signed JWT (JWS compact serialization: three base64url parts joined by dots)';

function decodeHeader(assertion: string): ProtectedHeaderParameters {
  if (assertion.split('.').length !== 3) throw rejected(NOT_A_JWS);
  try {
    return decodeProtectedHeader(assertion);
  } catch {
    throw rejected(NOT_A_JWS);
  }
}

function decodeClaims(assertion: string): JWTPayload {
  try {
    return decodeJwt(assertion);
  } catch {
    throw rejected('its payload is not a JSON object of JWT claims');
  }
}

/** Returns the alg, once it is one Tessera accepts for client assertions. */
function checkHeader(header: ProtectedHeaderParameters): string {
  const { alg } = header;
  if (typeof alg !== 'string') throw rejected('its header has no alg');
  if (alg.toLowerCase() === 'none') throw rejected('alg "none" is never accepted; sign the assertion with the private key of a registered public key');
  if (!PRIVATE_KEY_JWT_ALGORITHMS.includes(alg)) {
    throw rejected(`alg "${alg.slice(0, 20)}" is not accepted; sign with the registered key's algorithm (${PRIVATE_KEY_JWT_ALGORITHMS.join(', ')})`);
  }
  if (header.crit !== undefined) throw rejected('its header marks parameters critical (crit) that Tessera does not understand; remove crit');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw rejected('kid must be a string');
  return alg;
}

function checkClaims(claims: JWTPayload, formClientId: string | undefined, now: number, deps: PrivateKeyJwtDeps): CheckedClaims {
  const { iss, sub, aud, exp, nbf, iat, jti } = claims;
  if (typeof iss !== 'string' || iss === '' || iss !== sub) throw rejected('iss and sub must both be the client_id (RFC 7523 §3)');
  // No client id holds one, and PostgreSQL refuses NUL in text: answered as an unknown client.
  if (CONTROL_CHARACTER.test(iss)) throw rejected(NOT_PROVEN);
  if (formClientId !== undefined && formClientId !== iss) {
    throw rejected(`iss and sub ("${iss.slice(0, 80)}") differ from the client_id parameter ("${formClientId.slice(0, 80)}")`);
  }
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (!audiences.some((value) => deps.audiences.includes(value))) throw rejected(`aud must name this token endpoint, ${deps.audiences[0] ?? ''}`);

  if (!isNumericDate(exp)) throw rejected('exp is required (a NumericDate, in seconds)');
  if (exp + deps.clockSkew <= now) throw rejected(`it expired at ${isoSeconds(exp)}; make a fresh assertion for each request`);
  if (nbf !== undefined) {
    if (!isNumericDate(nbf)) throw rejected('nbf must be a NumericDate, in seconds');
    if (nbf - deps.clockSkew > now) throw rejected(`it is not valid before ${isoSeconds(nbf)}`);
  }
  if (iat !== undefined) {
    if (!isNumericDate(iat)) throw rejected('iat must be a NumericDate, in seconds');
    if (iat - deps.clockSkew > now) throw rejected(`it was issued in the future (iat ${isoSeconds(iat)}); check the client's clock`);
  }
  // Measured from iat when the client says when it made the assertion, else from our clock.
  const lifetime = iat !== undefined ? exp - iat : exp - now - deps.clockSkew;
  if (lifetime > MAX_ASSERTION_LIFETIME) {
    throw rejected(`it is valid for ${Math.ceil(lifetime)} s, longer than the ${MAX_ASSERTION_LIFETIME} s allowed; set exp at most 5 minutes after iat`);
  }

  if (typeof jti !== 'string' || jti === '') throw rejected('jti is required: a unique id for each assertion, so it cannot be replayed');
  if (jti.length > MAX_JTI_LENGTH) throw rejected(`jti is longer than ${MAX_JTI_LENGTH} characters`);
  if (CONTROL_CHARACTER.test(jti)) throw rejected('jti must not contain control characters');
  return { clientId: iss, jti, exp };
}

const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function isoSeconds(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}

/** The key and the algorithms its type allows; null for a key Tessera cannot use. */
function importKey(cache: Map<string, UsableKey>, record: PublicKeyRecord): UsableKey | null {
  const id = `${record.principal}\n${record.kid}`;
  const cached = cache.get(id);
  if (cached?.pem === record.pem) return cached;
  let key: KeyObject;
  try {
    key = parsePublicKeyPem(record.pem);
  } catch {
    return null;
  }
  const usable: UsableKey = { pem: record.pem, key, algorithms: algorithmsFor(key) };
  cache.delete(id);
  if (cache.size >= KEY_CACHE_SIZE) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(id, usable);
  return usable;
}

function algorithmsFor(key: KeyObject): readonly string[] {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? ['ES256'] : key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? ['ES384'] : [];
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    case 'rsa':
      return ['RS256', 'PS256'];
    default:
      return [];
  }
}
