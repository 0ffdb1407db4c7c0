// The operator's guide's two reverse-proxy setups, with a real nginx running the shipped files
// (deploy/nginx/terminate.conf and passthrough.conf, only their addresses and paths replaced):
// certificate-bound tokens work through either, an empty certificate header means "no
// certificate", and a client cannot pass a certificate it does not hold in the proxy's header,
// neither through nginx (which overwrites it) nor straight to Tessera (which believes it only from
// the proxy's address). The caller's address Tessera sees is the client's, not nginx's, and
// after a CA rotation nginx must be reloaded to verify Tessera's renewed certificate. nginx
// connects to Tessera from 127.0.0.2, the only trusted proxy, so the test's own connections from
// 127.0.0.1 are an untrusted client's.

import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { x509 } from '../../src/ca/x509.ts';
import type { Config } from '../../src/config/config.ts';
import { findNginx, nginxConf, nginxDir, startNginx, substituteOnce, type NginxBinary, type RunningNginx } from '@tessera/testkit/nginx';
import { startTestServer, tokenRequest, type TestServer } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';
import type { TestResponse } from '@tessera/testkit/https';
import { assertRejected, escapedPem, makeCa, makeLeaf, postForm, sendMtls, tesseraCertificate, type ClientCertificate } from './mtls-support.ts';

const DEPLOY = join(import.meta.dirname, '..', '..', '..', '..', 'deploy', 'nginx');
const TOKEN = { grant_type: 'client_credentials', scope: 'beta:domain' };
const PROXY_ADDRESS = '127.0.0.2';
const HEADER = 'x-ssl-client-cert';

const found = await findNginx();
const skip = 'skip' in found ? found.skip : false;

/** Domains alpha (services api, worker) and beta (role readers holding both). */
async function registerServices(t: TestServer): Promise<void> {
  for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
  for (const name of ['api', 'worker']) assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
  const members = ['api', 'worker'].map((name) => ({ principal: `alpha.${name}` }));
  assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members })).status, 201);
}

/** The access token of a 200, verified against Tessera's JWKS (fetched from Tessera itself). */
async function verifiedClaims(t: TestServer, res: TestResponse, at = new Date()): Promise<JWTPayload & { cnf?: { 'x5t#S256'?: string } }> {
  assert.equal(res.status, 200, res.text);
  const jwks = createLocalJWKSet((await t.send('/oauth2/keys')).json as JSONWebKeySet);
  const { payload } = await jwtVerify(res.json.access_token as string, jwks, { issuer: t.url, typ: 'at+jwt', algorithms: ['ES256'], currentDate: at });
  return payload;
}

/** base64url SHA-256 of the DER certificate, computed here rather than taken from the helper. */
function thumbprintOf(client: ClientCertificate): string {
  return createHash('sha256').update(new X509Certificate(client.certPem).raw).digest('base64url');
}

describe('TLS termination in nginx (deploy/nginx/terminate.conf)', { skip }, () => {
  // Moved ahead to the CA rotation's activation below: with a 30 s pre-publication the
  // certificates Tessera then issues (backdated 60 s) are already valid at the real time nginx uses.
  let ahead = 0;
  let t: TestServer;
  let nginx: RunningNginx;
  let proxy: { url: string; ca: string };
  let api: ClientCertificate;
  let worker: ClientCertificate;

  before(async () => {
    t = await startTestServer({
      now: () => Date.now() + ahead,
      env: { TESSERA_TRUSTED_PROXIES: `${PROXY_ADDRESS}/32`, TESSERA_MTLS_PROXY_CERT_HEADER: HEADER },
      edit: (config: Config) => {
        config.ca.prePublication = 30;
      },
    });
    await registerServices(t);
    api = await tesseraCertificate(t, 'alpha.api');
    worker = await tesseraCertificate(t, 'alpha.worker');

    // nginx's own server certificate, from a CA that only the test's clients trust.
    const dir = await nginxDir();
    const ca = await makeCa('nginx test CA');
    const server = await makeLeaf(ca, { subject: 'CN=localhost', dns: ['localhost'], ips: ['127.0.0.1'], eku: [x509.ExtendedKeyUsage.serverAuth] });
    await writeFile(join(dir, 'tessera.crt'), server.certPem);
    await writeFile(join(dir, 'tessera.key'), server.keyPem, { mode: 0o600 });

    const port = await freePort();
    let conf = readFileSync(join(DEPLOY, 'terminate.conf'), 'utf8');
    conf = substituteOnce(conf, 'listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`);
    conf = substituteOnce(conf, '/etc/nginx/tls/tessera.crt', join(dir, 'tessera.crt'));
    conf = substituteOnce(conf, '/etc/nginx/tls/tessera.key', join(dir, 'tessera.key'));
    conf = substituteOnce(conf, 'https://127.0.0.1:8443', t.url);
    conf = substituteOnce(conf, '/var/lib/tessera/ca.pem', join(t.dataDir, 'ca.pem'));
    // The one addition: the proxy's own address, the only one Tessera trusts.
    conf = substituteOnce(conf, 'location / {', `location / {\n        proxy_bind ${PROXY_ADDRESS};`);
    nginx = await startNginx((found as { nginx: NginxBinary }).nginx, dir, nginxConf(dir, { http: conf }), [port]);
    proxy = { url: `https://127.0.0.1:${port}`, ca: ca.certPem };
  });
  after(async () => {
    await nginx?.stop();
    await t?.stop();
  });

  it("tls_client_auth: the token names the certificate's service and is bound to the certificate nginx received", async () => {
    for (const [client, principal] of [
      [api, 'alpha.api'],
      [worker, 'alpha.worker'],
    ] as const) {
      const claims = await verifiedClaims(t, await postForm(proxy, TOKEN, { client }));
      assert.equal(claims.sub, principal);
      assert.deepEqual(claims.cnf, { 'x5t#S256': thumbprintOf(client) });
    }
  });

  it('client_secret_basic without a certificate gets an unbound token: the empty header is no certificate', async () => {
    const res = await sendMtls(
      proxy,
      '/oauth2/token',
      tokenRequest(t.admin.clientId, t.admin.clientSecret, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' }),
    );
    const claims = await verifiedClaims(t, res);
    assert.equal(claims.sub, t.admin.clientId);
    assert.equal(claims.cnf, undefined);
    assertRejected(await postForm(proxy, { ...TOKEN, client_id: 'alpha.api' }), /no client authentication: use one of/);
  });

  it("a client cannot pass another service's certificate in the header through nginx: nginx overwrites it", async () => {
    const forged = { [HEADER]: escapedPem(api.certPem) };
    assertRejected(await postForm(proxy, { ...TOKEN, client_id: 'alpha.api' }, { headers: forged }), /no client authentication: use one of/);
    const claims = await verifiedClaims(t, await postForm(proxy, TOKEN, { client: worker, headers: forged }));
    assert.equal(claims.sub, 'alpha.worker');
    assert.deepEqual(claims.cnf, { 'x5t#S256': thumbprintOf(worker) });
    const log = await nginx.errorLog();
    assert.doesNotMatch(log, /\[(error|crit|alert|emerg)\]/, log);
  });

  it("the same header sent straight to Tessera is ignored unless it comes from the proxy's address", async () => {
    const forged = { [HEADER]: escapedPem(api.certPem) };
    assertRejected(await postForm(t, { ...TOKEN, client_id: 'alpha.api' }, { headers: forged }), /no client authentication: use one of/);
    const claims = await verifiedClaims(t, await postForm(t, TOKEN, { client: worker, headers: forged }));
    assert.equal(claims.sub, 'alpha.worker');
    assert.deepEqual(claims.cnf, { 'x5t#S256': thumbprintOf(worker) });
    // From the proxy's address the header is believed: what nginx's overwrite protects.
    const fromProxy = await verifiedClaims(t, await postForm(t, TOKEN, { headers: forged, localAddress: PROXY_ADDRESS }));
    assert.equal(fromProxy.sub, 'alpha.api');
  });

  it("the caller's address is the client's, from nginx's X-Forwarded-For, and a client cannot forge it", async () => {
    const allow = async (ranges: string[]): Promise<void> => {
      const res = await t.admin$('PATCH', '/domains/alpha/services/api', { allowedIps: ranges });
      assert.equal(res.status, 200, res.text);
    };
    const refused = (res: TestResponse): void => {
      assert.equal(res.status, 403, res.text);
      assert.equal(res.json.error_code, 'AUTH_104', res.text);
    };
    try {
      await allow(['127.0.0.1/32']);
      assert.equal((await postForm(proxy, TOKEN, { client: api })).status, 200);
      const forged = { 'x-forwarded-for': '127.0.0.1' };
      refused(await postForm(proxy, TOKEN, { client: api, localAddress: '127.0.0.3', headers: forged }));
      await allow([`${PROXY_ADDRESS}/32`]);
      refused(await postForm(proxy, TOKEN, { client: api }));
    } finally {
      await allow([]);
    }
  });

  it("after a CA rotation, nginx verifies Tessera's renewed server certificate only once reloaded", async () => {
    const rotate = await t.admin$('POST', '/ca/rotate');
    assert.equal(rotate.status, 202, rotate.text);
    ahead = Date.parse(rotate.json.activatesAt as string) - Date.now();
    await t.server.ca.refresh();
    const bundleFile = join(t.dataDir, 'ca.pem');
    const deadline = Date.now() + 5_000;
    while ((await readFile(bundleFile, 'utf8')) !== t.ca && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await readFile(bundleFile, 'utf8'), t.ca, 'ca.pem holds the new generation');

    // nginx read proxy_ssl_trusted_certificate when it started: the new generation is not in it.
    const stale = await postForm(proxy, TOKEN, { client: api });
    assert.equal(stale.status, 502, stale.text);
    assert.match(await nginx.errorLog(), /upstream SSL certificate verify error/);

    await nginx.reload();
    const fresh = await postForm(proxy, TOKEN, { client: api });
    assert.equal(fresh.status, 200, await nginx.errorLog());
    const claims = await verifiedClaims(t, fresh, new Date(Date.now() + ahead));
    assert.equal(claims.sub, 'alpha.api');
    assert.deepEqual(claims.cnf, { 'x5t#S256': thumbprintOf(api) });
  });
});

describe('TLS passthrough in nginx (deploy/nginx/passthrough.conf)', { skip }, () => {
  let t: TestServer;
  let nginx: RunningNginx;
  let passthrough: { url: string; ca: string };
  let api: ClientCertificate;

  before(async () => {
    t = await startTestServer();
    await registerServices(t);
    api = await tesseraCertificate(t, 'alpha.api');
    const dir = await nginxDir();
    const port = await freePort();
    let conf = readFileSync(join(DEPLOY, 'passthrough.conf'), 'utf8');
    conf = substituteOnce(conf, /server 10\.0\.0\.11:8443;\s*server 10\.0\.0\.12:8443;/, `server ${new URL(t.url).host};`);
    conf = substituteOnce(conf, 'listen 443;', `listen 127.0.0.1:${port};`);
    const binary = (found as { nginx: NginxBinary }).nginx;
    nginx = await startNginx(binary, dir, nginxConf(dir, { top: binary.loadStream, stream: conf }), [port]);
    passthrough = { url: `https://127.0.0.1:${port}`, ca: t.ca };
  });
  after(async () => {
    await nginx?.stop();
    await t?.stop();
  });

  it("tls_client_auth end to end: Tessera sees the client's certificate and binds the token to it", async () => {
    const claims = await verifiedClaims(t, await postForm(passthrough, TOKEN, { client: api }));
    assert.equal(claims.sub, 'alpha.api');
    assert.deepEqual(claims.cnf, { 'x5t#S256': thumbprintOf(api) });
    assertRejected(await postForm(passthrough, { ...TOKEN, client_id: 'alpha.api' }), /no client authentication: use one of/);
  });
});
