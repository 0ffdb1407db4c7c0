// The caller: a service that calls `beta.store` (examples/callee) with an access token from
// Tessera, using one of the three kinds of credential a service can hold:
//
//   secret       CLIENT_ID + CLIENT_SECRET               client_secret_basic
//   private key  CLIENT_ID + PRIVATE_KEY_FILE + KID      private_key_jwt: a fresh signed assertion per request
//   certificate  CLIENT_ID + JOIN_TOKEN                  a certificate from Tessera's CA (certificate refresher),
//                                                        tls_client_auth, and a token bound to that certificate
//
// It asks for SCOPE (default `beta:domain`: every role it holds in beta), calls CALLEE_URL once
// through the authenticated fetch, and prints one JSON line: the credential kind, the callee's
// status and its answer. The exit code is 0 when the callee said 2xx.
//
//   CLIENT_ID=alpha.api CLIENT_SECRET=… node --conditions=tessera-source examples/caller/client.ts
//
// Environment: TESSERA (https://127.0.0.1:8443), TESSERA_CA (.tessera/ca.pem), CALLEE_URL
// (https://127.0.0.1:9443/hello), CALLEE_ID (spiffe://tessera.local/beta/store: the identity the
// callee's certificate must carry), SCOPE (beta:domain).

import { readFileSync } from 'node:fs';
import { Agent, type AgentOptions } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import {
  createAuthenticatedFetch,
  createCertificateRefresher,
  createTokenClient,
  TokenClientError,
  type CertificateRefresher,
  type Credentials,
} from '@tessera/sdk';
import { httpsFetch } from './https-fetch.ts';

const env = (name: string): string | undefined => process.env[name] || undefined;
const tessera = env('TESSERA') ?? 'https://127.0.0.1:8443';
const ca = readFileSync(env('TESSERA_CA') ?? '.tessera/ca.pem', 'utf8');
const calleeUrl = env('CALLEE_URL') ?? 'https://127.0.0.1:9443/hello';
const calleeId = env('CALLEE_ID') ?? 'spiffe://tessera.local/beta/store';
const scope = env('SCOPE') ?? 'beta:domain';
const clientId = env('CLIENT_ID');
if (clientId === undefined) {
  console.error('set CLIENT_ID (e.g. alpha.api) and one credential: CLIENT_SECRET, PRIVATE_KEY_FILE + KID, or JOIN_TOKEN');
  process.exit(2);
}

// Service certificates name services by SPIFFE ID, not by host name, so the callee is checked
// the SPIFFE way: its certificate must chain to Tessera's CA and carry the expected ID.
const tlsToCallee: AgentOptions = {
  checkServerIdentity: (_host: string, certificate: PeerCertificate) => {
    const ids = (certificate.subjectaltname ?? '')
      .split(', ')
      .filter((name) => name.startsWith('URI:'))
      .map((name) => name.slice(4));
    return ids.includes(calleeId) ? undefined : new Error(`the callee presented ${ids.join(', ') || 'no SPIFFE ID'}, not ${calleeId}`);
  },
};

let kind: 'secret' | 'private key' | 'certificate';
let credentials: Credentials;
let refresher: CertificateRefresher | undefined;
let agent: Agent;
const secret = env('CLIENT_SECRET');
const keyFile = env('PRIVATE_KEY_FILE');
const joinToken = env('JOIN_TOKEN');
if (secret !== undefined) {
  kind = 'secret';
  credentials = { clientId, clientSecret: secret };
  agent = new Agent({ ...tlsToCallee, ca });
} else if (keyFile !== undefined) {
  kind = 'private key';
  credentials = { clientId, privateKey: readFileSync(keyFile, 'utf8'), kid: env('KID') ?? 'k1' };
  agent = new Agent({ ...tlsToCallee, ca });
} else if (joinToken !== undefined) {
  kind = 'certificate';
  refresher = await createCertificateRefresher({ server: tessera, ca, principal: clientId, bootstrap: { joinToken } });
  // Tokens are then bound to the certificate (tls_client_auth), and re-fetched when it is renewed…
  credentials = { certificate: refresher };
  // …and the calls present that same certificate, so the callee can check the binding.
  agent = refresher.createAgent(tlsToCallee);
} else {
  console.error('give a credential: CLIENT_SECRET, PRIVATE_KEY_FILE (+ KID), or JOIN_TOKEN');
  process.exit(2);
}

const client = createTokenClient({ issuer: tessera, ca, credentials });
const callBeta = createAuthenticatedFetch(client, { scope, fetch: httpsFetch(agent) });
try {
  const res = await callBeta(calleeUrl);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: printed as it came.
  }
  console.log(JSON.stringify({ credential: kind, principal: clientId, status: res.status, body }));
  process.exitCode = res.ok ? 0 : 1;
} catch (error) {
  // Tessera itself may refuse the token (no role held in beta at all, a wrong secret…).
  const detail =
    error instanceof TokenClientError ? { code: error.code, status: error.status, error: error.error, message: error.message } : { message: String(error) };
  console.log(JSON.stringify({ credential: kind, principal: clientId, failed: detail }));
  process.exitCode = 1;
} finally {
  await client.close();
  await refresher?.close();
  agent.destroy();
}
