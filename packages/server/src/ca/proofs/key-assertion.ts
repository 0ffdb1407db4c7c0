// Proof `key-assertion` (SPEC §5 way 1, Athenz's `zts-svccert` flow): the CSR's public key is a
// key registered on the service, and the request carries a JWT signed by that very key. Holding
// the private key of a registered key is what proves the principal; the CSR then certifies that
// same key, never another one.
//
// The assertion follows private_key_jwt (RFC 7523 §3) with this endpoint as audience: iss = sub
// = the principal, aud = `<issuer>/ca/v1/certificates`, exp at most 5 minutes out, and a jti that
// is accepted once (shared with private_key_jwt's replay store, so it holds across instances).
// The algorithm follows the key's type, never the token's header alone; `jwk`, `jku`, `x5u` and
// `x5c` headers are ignored.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import { isPrincipalName } from '../../policy/names.ts';
import type { Store } from '../../storage/store.ts';
import { forbidden, notProven, requireActiveService, type CertificateProof } from './proof.ts';

/** An assertion proves one request; a long-lived one is a bearer credential in disguise. */
const MAX_ASSERTION_LIFETIME = 300;
const MAX_ASSERTION_BYTES = 8 * 1024;

export interface KeyAssertionDeps {
  store: Pick<Store, 'getService' | 'listPublicKeys' | 'consumeAssertionJti'>;
  /** The `aud` the assertion must carry: `<issuer>/ca/v1/certificates`. */
  audience: string;
  /** Seconds of clock difference tolerated on exp, nbf and iat. */
  clockSkew: number;
}

export function keyAssertionProof(deps: KeyAssertionDeps): CertificateProof {
  return {
    type: 'key-assertion',
    async prove({ value, csrPublicKey, now }) {
      if (value === undefined || value === '') throw notProven('proof.value must be a JWT signed by the CSR\'s key (a registered key of the service)');
      if (value.length > MAX_ASSERTION_BYTES) throw notProven(`the assertion is larger than ${MAX_ASSERTION_BYTES / 1024} KiB`);
      const principal = claimedPrincipal(value);
      const algorithms = algorithmsFor(csrPublicKey);
      if (algorithms.length === 0) throw forbidden('the CSR\'s key type cannot sign an assertion; use EC P-256 or P-384, Ed25519, or RSA');

      const csrSpki = csrPublicKey.export({ type: 'spki', format: 'der' });
      const registered = await deps.store.listPublicKeys(principal);
      // One answer for an unknown service and an unregistered key, so the endpoint does not say
      // which services exist.
      if (!registered.some((record) => sameKey(record.pem, csrSpki))) {
        throw forbidden(`the CSR's public key is not a key registered on ${principal}; make the CSR with a registered key, or register its public key first (PUT /admin/v1/domains/{d}/services/{s}/keys/{kid})`);
      }

      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(value, csrPublicKey, {
          algorithms: [...algorithms],
          issuer: principal,
          subject: principal,
          audience: deps.audience,
          requiredClaims: ['exp', 'jti'],
          clockTolerance: deps.clockSkew,
          currentDate: new Date(now),
        }));
      } catch (error) {
        if (error instanceof errors.JWSSignatureVerificationFailed) {
          throw notProven(`the assertion is not signed by the CSR's key; sign it with the private key of the CSR (${algorithms.join(' or ')})`);
        }
        if (error instanceof errors.JOSEAlgNotAllowed) {
          throw notProven(`the assertion's alg does not fit the CSR's key; sign it with ${algorithms.join(' or ')}`);
        }
        if (error instanceof errors.JOSEError) throw notProven(`the assertion was rejected: ${error.message}`, { cause: error });
        throw error;
      }

      const { exp, iat, jti } = payload as { exp: number; iat?: number; jti: unknown };
      const nowSeconds = Math.floor(now / 1000);
      const lifetime = typeof iat === 'number' ? exp - iat : exp - nowSeconds - deps.clockSkew;
      if (lifetime > MAX_ASSERTION_LIFETIME) {
        throw notProven(`the assertion is valid for ${Math.ceil(lifetime)} s, longer than the ${MAX_ASSERTION_LIFETIME} s allowed; set exp at most 5 minutes after iat`);
      }
      if (typeof jti !== 'string' || jti === '' || jti.length > 256) throw notProven('the assertion needs a jti: a unique id of at most 256 characters');
      if (!(await deps.store.consumeAssertionJti(principal, jti, (exp + deps.clockSkew) * 1000, now))) {
        throw notProven('the assertion was already used (its jti was seen before); make a new assertion, with a new jti, for every request');
      }
      await requireActiveService(deps.store, principal, now);
      return { principal };
    },
  };
}

function claimedPrincipal(assertion: string): string {
  let claims: JWTPayload;
  try {
    claims = decodeJwt(assertion);
  } catch {
    throw notProven('proof.value is not a signed JWT (three base64url parts joined by dots, with a JSON payload)');
  }
  const { iss, sub } = claims;
  if (typeof iss !== 'string' || iss !== sub) throw notProven('the assertion\'s iss and sub must both be the principal, e.g. "alpha.api"');
  if (!isPrincipalName(iss)) throw notProven(`the assertion's iss "${iss.slice(0, 80)}" is not a principal name ("<domain>.<service>")`);
  return iss;
}

function sameKey(pem: string, spki: Buffer): boolean {
  try {
    return createPublicKey({ key: pem, format: 'pem' }).export({ type: 'spki', format: 'der' }).equals(spki);
  } catch {
    return false;
  }
}

/** JWS algorithms the key's type can make; RFC 8725 §3.1: chosen by the key, not the token. */
export function algorithmsFor(key: KeyObject): readonly string[] {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'prime256v1' ? ['ES256'] : curve === 'secp384r1' ? ['ES384'] : [];
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    case 'rsa':
      return ['RS256', 'PS256'];
    default:
      return [];
  }
}
