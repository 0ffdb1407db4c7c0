// How a request for a first certificate proves the principal (docs/certificates.md): one kind per flag.
// Renewal needs none of these: the current certificate, presented over mTLS, is the proof.

import type { KeyObject } from 'node:crypto';

import { assertionAlgorithm, keyTypeOf, signClientAssertion } from '../sdk.ts';
import type { CertificateBootstrap, CertificateProof } from '@tessera/sdk';

import { UsageError } from '../errors.ts';
import { readInputFile } from '../files.ts';

export type ProofType = CertificateProof['type'];

export interface ProofSource {
  type: ProofType;
  /** The flag it came from, for messages. */
  flag: string;
  /** The key the CSR must carry, when the proof is bound to one (the registered key). */
  csrKey?: KeyObject;
  /** `audience` is the certificate endpoint URL; `now` in milliseconds. */
  make(audience: string, now: number): Promise<CertificateProof>;
  /** The same proof for the SDK's certificate refresher (`--watch`). */
  bootstrap: CertificateBootstrap;
}

/**
 * The `zts-svccert` proof: a short-lived JWT signed by the key registered on the service, with
 * the same claims as a private_key_jwt client assertion (iss = sub = principal, aud = the
 * certificate endpoint, exp 60 s, a fresh jti). The CSR must carry this very key.
 */
export function keyAssertionProof(principal: string, kid: string, key: KeyObject, file: string): ProofSource {
  const type = keyTypeOf(key);
  if (type === undefined) throw new UsageError(`key file ${file} holds a key that cannot sign; use a P-256, P-384, Ed25519 or RSA key`);
  const alg = assertionAlgorithm(type);
  return {
    type: 'key-assertion',
    flag: '--key/--kid',
    csrKey: key,
    bootstrap: { privateKey: key, kid },
    make: async (audience, now) => ({
      type: 'key-assertion',
      value: await signClientAssertion(key, { clientId: principal, kid, audience, alg, now }),
    }),
  };
}

export function joinTokenProof(token: string, flag: string): ProofSource {
  const value = token.trim();
  if (value === '') throw new UsageError(`${flag} is empty; pass the token from POST /admin/v1/join-tokens`);
  return {
    type: 'join-token',
    flag,
    bootstrap: { joinToken: value },
    make: () => Promise.resolve({ type: 'join-token', value }),
  };
}

export async function readJoinTokenFile(cwd: string, file: string): Promise<ProofSource> {
  return joinTokenProof(await readInputFile(cwd, file, 'join token file'), '--join-token-file');
}

/**
 * Read at every use, not once: platforms such as Kubernetes rewrite a projected
 * service-account token file before the token in it expires.
 */
export async function oidcTokenProof(cwd: string, file: string): Promise<ProofSource> {
  await readOidcToken(cwd, file);
  return {
    type: 'oidc-token',
    flag: '--oidc-token-file',
    bootstrap: { oidcToken: () => readOidcToken(cwd, file) },
    make: async () => ({ type: 'oidc-token', value: await readOidcToken(cwd, file) }),
  };
}

async function readOidcToken(cwd: string, file: string): Promise<string> {
  const token = (await readInputFile(cwd, file, 'OIDC token file')).trim();
  if (token === '') throw new UsageError(`OIDC token file ${file} is empty`);
  if (token.split('.').length !== 3) {
    throw new UsageError(`OIDC token file ${file} does not hold a JWT (expected three base64url parts separated by dots)`);
  }
  return token;
}
