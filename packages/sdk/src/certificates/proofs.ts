// How the first certificate is proven (key assertion, join token or OIDC token; docs/certificates.md), one kind per bootstrap option.
// Renewal needs none of these: the current certificate, presented over mTLS, is the proof.

import { createPrivateKey, type KeyObject } from 'node:crypto';
import { signClientAssertion } from '../client/assertion.ts';
import type { CertificateProof } from './ca-client.ts';
import { CertificateRefresherError } from './errors.ts';
import { assertionAlgorithm, keyTypeOf } from './keys.ts';
import type { CertificateBootstrap } from './options.ts';

export interface BootstrapProof {
  /**
   * Whether it proves again later: a join token is spent by its first use; a registered key or
   * a fresh OIDC token are not. Only a repeatable proof can bring back a certificate that
   * expired (or was revoked) before it could be renewed.
   */
  repeatable: boolean;
  /** The key the CSR must carry, when the proof is bound to one (the registered key). */
  csrKey?: KeyObject;
  /** `audience` is the certificate endpoint's URL; `now` in milliseconds. */
  make(principal: string, audience: string, now: number): Promise<CertificateProof>;
}

/** The proof for the bootstrap option; throws a TypeError that says what is wrong with it. */
export function bootstrapProof(bootstrap: CertificateBootstrap): BootstrapProof {
  if (bootstrap === null || typeof bootstrap !== 'object') throw new TypeError(BOOTSTRAP_SHAPES);
  if ('joinToken' in bootstrap) {
    const token = typeof bootstrap.joinToken === 'string' ? bootstrap.joinToken.trim() : '';
    if (token === '') throw new TypeError('bootstrap.joinToken must be the token from POST /admin/v1/join-tokens (a non-empty string)');
    return { repeatable: false, make: async () => ({ type: 'join-token', value: token }) };
  }
  if ('privateKey' in bootstrap) return registeredKeyProof(bootstrap.privateKey, bootstrap.kid);
  if ('oidcToken' in bootstrap) {
    const read = bootstrap.oidcToken;
    if (typeof read !== 'function') throw new TypeError('bootstrap.oidcToken must be a function that resolves to the current OIDC token');
    return {
      repeatable: true,
      async make() {
        let token: unknown;
        try {
          token = await read();
        } catch (cause) {
          const reason = cause instanceof Error ? cause.message : String(cause);
          throw new CertificateRefresherError(`bootstrap.oidcToken() failed: ${reason}`, { code: 'ERR_PROOF_UNAVAILABLE', cause });
        }
        if (typeof token !== 'string' || token.trim().split('.').length !== 3) {
          throw new CertificateRefresherError('bootstrap.oidcToken() did not give a JWT (three base64url parts joined by dots)', {
            code: 'ERR_PROOF_UNAVAILABLE',
          });
        }
        return { type: 'oidc-token', value: token.trim() };
      },
    };
  }
  throw new TypeError(BOOTSTRAP_SHAPES);
}

const BOOTSTRAP_SHAPES = 'bootstrap must be { joinToken }, { privateKey, kid } or { oidcToken }';

/**
 * The `zts-svccert` proof: a short-lived JWT signed by the key registered on the service, with
 * the claims of a private_key_jwt assertion (iss = sub = principal, aud = the certificate
 * endpoint, a fresh jti). The CSR must carry this very key.
 */
function registeredKeyProof(privateKey: KeyObject | string, kid: string): BootstrapProof {
  if (typeof kid !== 'string' || kid === '') throw new TypeError('bootstrap.kid must name the registered key (a non-empty string)');
  let key: KeyObject;
  try {
    key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  } catch (cause) {
    throw new TypeError('bootstrap.privateKey is not a readable PEM private key', { cause });
  }
  if (key?.type !== 'private') throw new TypeError('bootstrap.privateKey must be a private key (a KeyObject of type "private" or its PEM)');
  const type = keyTypeOf(key);
  if (type === undefined)
    throw new TypeError('bootstrap.privateKey must be a P-256, P-384, Ed25519 or RSA (2048 bits or more) key: Tessera certifies only those');
  const alg = assertionAlgorithm(type);
  return {
    repeatable: true,
    csrKey: key,
    async make(principal, audience, nowMs) {
      const value = await signClientAssertion(key, { clientId: principal, kid, audience, alg, now: nowMs });
      return { type: 'key-assertion', value };
    },
  };
}
