// A stand-in for the verifying side of Tessera: discovery document and JWKS over
// HTTP or HTTPS, plus a signer for tokens under the published key.

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWTPayload } from 'jose';

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

  const handler: http.RequestListener = (req, res) => {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    requests.push(path);
    const body =
      path === '/.well-known/openid-configuration' ? state.discovery : path === '/oauth2/keys' ? jwks : null;
    res.writeHead(body === null ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { error: 'not_found', message: 'no such route' }));
  };
  const server = options.tls === undefined ? http.createServer(handler) : https.createServer(options.tls, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
