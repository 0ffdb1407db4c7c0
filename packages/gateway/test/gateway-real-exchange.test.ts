// The gateway against the real Tessera token endpoint, set up here by hand rather than through
// helpers/world.ts: token exchange, proxy_for_principal and role `actors` as the server answers
// them, with the least a deployment needs (no partner CA, no metrics, the default token endpoint).
//
// Nothing here is faked: Tessera issues the callers' tokens and API keys, exchanges tokens and
// issues tokens on behalf of callers to the gateway, and the upstream verifies the gateway's
// token against Tessera's own JWKS, requiring the gateway as the one actor.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { send, type TestRequest, type TestResponse } from '@tessera/testkit/https';
import { createTestPki, type TestPki } from '@tessera/testkit/pki';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { startUpstream, type Upstream } from './helpers/upstream.ts';
import { GATEWAY, spawnGateway, type RunningGateway } from './helpers/world.ts';

describe('gateway with the real Tessera exchange (pending the server side)', () => {
  let tessera: TestServer;
  let upstream: Upstream;
  let pki: TestPki;
  let gw: RunningGateway;
  let dir: string;
  const secrets: Record<string, string> = {};
  let apiKey: string;
  const call = (path: string, options: TestRequest = {}): Promise<TestResponse> => send(`${gw.url}${path}`, { ca: pki.ca.cert, agent: false, ...options });
  const token = async (who: string, scope: string): Promise<string> => {
    const res = await tessera.token(who, secrets[who]!, { grant_type: 'client_credentials', scope });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };

  before(async () => {
    tessera = await startTestServer();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const admin = async (method: string, path: string, body?: unknown): Promise<any> => {
      const res = await tessera.admin$(method, path, body);
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
      return res.json;
    };
    for (const name of ['orders', 'edge', 'alpha', 'carol']) await admin('POST', '/domains', { name });
    secrets[GATEWAY] = (await admin('POST', '/domains/edge/services', { name: 'gw' })).clientSecret;
    secrets['alpha.api'] = (await admin('POST', '/domains/alpha/services', { name: 'api' })).clientSecret;
    secrets['carol.api'] = (await admin('POST', '/domains/carol/services', { name: 'api' })).clientSecret;
    // Tessera lets the gateway act for a role's members only when the role lists it in `actors`; for
    // callers without a token (proxy_for_principal, Athenz's rule) the gateway must hold the role too.
    const members = (...principals: string[]) => principals.map((principal) => ({ principal }));
    await admin('PUT', '/domains/orders/roles/readers', { members: members('alpha.api', 'carol.api', GATEWAY), actors: [GATEWAY] });
    await admin('PUT', '/domains/orders/roles/writers', { members: members('carol.api', GATEWAY), actors: [GATEWAY] });
    await admin('PUT', '/domains/orders/roles/auditors', { members: [{ principal: 'alpha.api' }] });
    apiKey = (await admin('POST', '/domains/alpha/services/api/api-keys', { audience: 'orders' })).apiKey;

    upstream = await startUpstream({ issuer: tessera.url, jwksUri: `${tessera.url}/oauth2/keys`, gateway: GATEWAY, ca: tessera.ca });
    pki = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'tessera-gateway-real-'));
    const files: Record<string, string> = {
      'gw.pem': pki.server.cert,
      'gw.key': pki.server.key,
      'client-ca.pem': pki.ca.cert,
      'tessera-ca.pem': tessera.ca,
      'gw.secret': secrets[GATEWAY]!,
    };
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o600 });
    const config = {
      listen: 'https://127.0.0.1:0',
      tls: { cert: 'gw.pem', key: 'gw.key', clientCa: 'client-ca.pem' },
      tessera: { url: tessera.url, ca: 'tessera-ca.pem', clientId: GATEWAY, clientSecretFile: 'gw.secret' },
      routes: [
        { name: 'read', pathPrefix: '/orders', methods: ['GET'], upstream: upstream.url, audience: 'orders', require: { scope: ['orders:role.readers'] } },
        { name: 'write', pathPrefix: '/orders', methods: ['POST'], upstream: upstream.url, audience: 'orders', require: { scope: ['orders:role.writers'] } },
        {
          name: 'audit',
          pathPrefix: '/orders/audit',
          methods: ['GET'],
          upstream: upstream.url,
          audience: 'orders',
          require: { scope: ['orders:role.auditors'] },
        },
      ],
    };
    writeFileSync(join(dir, 'gateway.json'), JSON.stringify(config));
    gw = await spawnGateway(join(dir, 'gateway.json'));
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
    await tessera?.stop();
    pki?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("exchanges a Bearer caller's token: the upstream sees the caller as sub and the gateway as act", async () => {
    const res = await call('/orders/1', { method: 'POST', body: '{}', headers: { authorization: `Bearer ${await token('carol.api', 'orders:domain')}` } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.principal, 'carol.api');
    assert.deepEqual(res.json.actors, [GATEWAY]);
  });

  it('gets a token on behalf of a certificate caller and of an API key caller (proxy_for_principal)', async () => {
    const cert = await call('/orders/2', { ...certificateFor(pki, 'alpha', 'api') });
    assert.equal(cert.status, 200, cert.text);
    assert.equal(cert.json.principal, 'alpha.api');
    assert.deepEqual(cert.json.actors, [GATEWAY]);
    const key = await call('/orders/3', { headers: { authorization: `ApiKey ${apiKey}` } });
    assert.equal(key.status, 200, key.text);
    assert.equal(key.json.principal, 'alpha.api');
  });

  it('is refused by Tessera (403) when the role does not list the gateway among its actors, or the caller lacks the role', async () => {
    const audit = await call('/orders/audit', { headers: { authorization: `Bearer ${await token('alpha.api', 'orders:domain')}` } });
    assert.equal(audit.status, 403);
    assert.equal(audit.json.error, 'insufficient_scope');
    const write = await call('/orders/4', { ...certificateFor(pki, 'alpha', 'api'), method: 'POST', body: '{}' });
    assert.equal(write.status, 403);
  });
});

function certificateFor(pki: TestPki, domain: string, service: string): { cert: string; key: string } {
  // createTestPki's client certificates carry no SAN; this one needs the SPIFFE URI.
  const work = mkdtempSync(join(tmpdir(), 'tessera-gateway-cert-'));
  try {
    writeFileSync(join(work, 'ca.pem'), pki.ca.cert);
    writeFileSync(join(work, 'ca.key'), pki.ca.key, { mode: 0o600 });
    writeFileSync(join(work, 'ext'), `extendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://tessera.local/${domain}/${service}\n`);
    const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: work, stdio: 'pipe' });
    run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'key.pem');
    run('req', '-new', '-key', 'key.pem', '-subj', `/CN=${domain}.${service}`, '-out', 'csr.pem');
    run('x509', '-req', '-in', 'csr.pem', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '77', '-days', '1', '-extfile', 'ext', '-out', 'cert.pem');
    return { cert: execFileSync('cat', [join(work, 'cert.pem')]).toString(), key: execFileSync('cat', [join(work, 'key.pem')]).toString() };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
