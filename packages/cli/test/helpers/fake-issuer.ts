// A stand-in for the verifying side of Tessera: discovery document and JWKS over HTTP or HTTPS
// (on the testkit's fake server), plus a signer for tokens under the published key.

import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWTPayload } from 'jose';
import { startFakeHttpServer } from '@tessera/testkit/token-server';

export interface FakeIssuer {
  url: string;
  /** Paths requested, in order. */
  requests: string[];
  /** Signs `claims` with the published key; header defaults to `{alg: ES256, kid, typ: at+jwt}`. */
  sign(claims: JWTPayload, header?: Record<string, unknown>, key?: CryptoKey | Uint8Array): Promise<string>;
  /** Replaces the discovery document, or (with `null`) answers 404 for it. */
  discovery: Record<string, unknown> | null;
  close(): Promise<void>;
}

export const KID = 'key-1';

export async function startFakeIssuer(options: { tls?: { cert: string; key: string } } = {}): Promise<FakeIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: KID, alg: 'ES256', use: 'sig' }] };
  const requests: string[] = [];
  const state: { discovery: Record<string, unknown> | null } = { discovery: null };

  const server = await startFakeHttpServer((req) => {
    requests.push(req.path);
    const body = req.path === '/.well-known/openid-configuration' ? state.discovery : req.path === '/oauth2/keys' ? jwks : null;
    return { status: body === null ? 404 : 200, body: body ?? { error: 'not_found', message: 'no such route' } };
  }, options.tls);
  const url = server.url;
  state.discovery = { issuer: url, jwks_uri: `${url}/oauth2/keys`, token_endpoint: `${url}/oauth2/token` };

  return {
    url,
    requests,
    get discovery() {
      return state.discovery;
    },
    set discovery(value) {
      state.discovery = value;
    },
    sign: (claims, header = {}, key = privateKey) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: KID, typ: 'at+jwt', ...header } as { alg: string }).sign(key),
    close: () => server.close(),
  };
}
