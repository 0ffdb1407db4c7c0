// The one JWT a Tessera client signs itself: a private_key_jwt client assertion (RFC 7523 §2.2,
// OpenID Connect Core §9). The token client sends one per token request; the certificate
// refresher proves a first certificate with one (`zts-svccert`: audience the certificate
// endpoint); the `tessera` CLI signs both through this function.

import { randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

/** RFC 7523 §2.2: the `client_assertion_type` a token request carries with the assertion. */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Long enough for one request over a slow link, short enough to be worthless once seen; the server accepts at most 5 minutes. */
export const ASSERTION_LIFETIME_SECONDS = 60;

/** What {@link signClientAssertion} signs. */
export interface ClientAssertionClaims {
  /** `iss` and `sub`: the principal, `<domain>.<service>`. */
  clientId: string;
  /** The `kid` the public key was registered under. */
  kid: string;
  /** `aud`: the URL the assertion is sent to (the token endpoint, or the certificate endpoint). */
  audience: string;
  /** The JWS algorithm; the caller picks it from the key. */
  alg: string;
  /** Milliseconds since the epoch; `Date.now()` by default. */
  now?: number;
}

/** A fresh assertion (new `jti`, 60 s lifetime) signed with `privateKey`. */
export async function signClientAssertion(privateKey: KeyObject, claims: ClientAssertionClaims): Promise<string> {
  const iat = Math.floor((claims.now ?? Date.now()) / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: claims.alg, kid: claims.kid })
    .setIssuer(claims.clientId)
    .setSubject(claims.clientId)
    .setAudience(claims.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
    .setJti(randomUUID())
    .sign(privateKey);
}
