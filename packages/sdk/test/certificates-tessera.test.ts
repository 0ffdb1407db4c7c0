// The certificate refresher against a real Tessera over HTTPS: join-token and registered-key
// bootstrap, renewal over mutual TLS, the files in outDir, TLS servers and agents that follow the
// renewals, a token client whose certificate-bound tokens follow them too, the CA's refusals
// arriving with its error and message, and close() letting a process exit.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate, createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type Agent, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { opensslVerify } from '../../server/test/helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { httpsCaClient } from '../src/certificates/ca-client.ts';
import { tesseraTrust } from '../src/http/anchors.ts';
import { createTestPki } from '@tessera/testkit/pki';
import {
  createCertificateRefresher,
  createTokenClient,
  type CertificateRefresher,
  type CertificateRefresherError,
  type CertificateRefresherEvents,
  type CertificateRefresherOptions,
  type TokenClient,
} from '../src/index.ts';

const SDK = fileURLToPath(new URL('../src/index.ts', import.meta.url));

function next<E extends keyof CertificateRefresherEvents>(refresher: CertificateRefresher, event: E): Promise<CertificateRefresherEvents[E]> {
  return new Promise((resolve) => refresher.once(event, resolve));
}

function certificatesIn(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN (?:TRUSTED )?CERTIFICATE-----[\s\S]+?-----END (?:TRUSTED )?CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block),
  );
}

function assertRefused(status: number, error: string, description: RegExp) {
  return (thrown: CertificateRefresherError): boolean => {
    assert.equal(thrown.name, 'CertificateRefresherError', String(thrown));
    assert.equal(thrown.code, 'ERR_CA_REFUSED', thrown.message);
    assert.equal(thrown.status, status, thrown.message);
    assert.equal(thrown.error, error, thrown.message);
    assert.match(thrown.errorDescription ?? '', description);
    assert.match(thrown.message, /certificate request to .* was refused/);
    return true;
  };
}

/** GET over `agent`: what the server saw of our certificate, and the certificate it presented. */
async function call(url: string, agent: Agent): Promise<{ body: string; serverSerial: string }> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      const serverSerial = (res.socket as TLSSocket).getPeerX509Certificate()?.serialNumber.toLowerCase() ?? '';
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ body, serverSerial }));
    })
      .on('error', reject)
      .end();
  });
}

describe('certificate refresher against a real Tessera', () => {
  let t: TestServer;
  const registered = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cleanups: (() => Promise<unknown>)[] = [];

  const joinToken = async (principal = 'alpha.api'): Promise<string> => {
    const res = await t.admin$('POST', '/join-tokens', { principal });
    assert.equal(res.status, 201, res.text);
    return res.json.token as string;
  };
  const start = async (options: Partial<CertificateRefresherOptions> = {}): Promise<CertificateRefresher> => {
    const refresher = await createCertificateRefresher({
      server: t.url,
      ca: t.ca,
      principal: 'alpha.api',
      bootstrap: options.bootstrap ?? { joinToken: await joinToken(options.principal) },
      ...options,
    });
    cleanups.push(() => refresher.close());
    return refresher;
  };
  const scratch = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-refresher-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };

  before(async () => {
    t = await startTestServer();
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const pem = registered.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'api', publicKeys: [{ kid: 'k1', pem }] })).status, 201);
    for (const name of ['web', 'parked']) assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'alpha.api' }] })).status, 201);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await t.stop();
  });

  describe('the first certificate', () => {
    it('comes from a join token, for the principal and its SPIFFE ID, and openssl verifies it against the bundle for client and server use', async () => {
      const r = await start();
      const info = r.info();
      assert.equal(info.principal, 'alpha.api');
      assert.equal(info.spiffeId, 'spiffe://tessera.local/alpha/api');
      const [leaf, ...intermediates] = certificatesIn(r.current().cert);
      assert.equal(leaf!.subject, 'CN=alpha.api');
      assert.equal(leaf!.serialNumber.toLowerCase(), info.serial);
      assert.equal(info.thumbprint, createHash('sha256').update(leaf!.raw).digest('base64url'));
      assert.equal(info.notAfter.getTime(), Date.parse(leaf!.validTo));
      assert.equal(intermediates.length, 1, 'cert holds the leaf and its intermediate');
      assert.ok(leaf!.checkPrivateKey(createPrivateKey(r.current().key)), "the key is the certificate's");
      const { ca, cert, allowPartialTrustChain } = r.tlsOptions();
      const issuing = certificatesIn(t.ca).filter((certificate) => !certificate.checkIssued(certificate));
      assert.deepEqual(
        certificatesIn(ca).map((held) => held.fingerprint256),
        issuing.map((certificate) => certificate.fingerprint256),
        "TLS anchors on the bundle's issuing CA",
      );
      assert.equal(allowPartialTrustChain, true);
      for (const purpose of ['sslclient', 'sslserver'] as const) {
        assert.match(await opensslVerify(t.ca, cert, leaf!.toString(), purpose), /: OK/);
      }
    });

    it('comes from a registered key (key assertion), and certifies that very key', async () => {
      const r = await start({ bootstrap: { privateKey: registered.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), kid: 'k1' } });
      assert.ok(new X509Certificate(r.current().cert).publicKey.equals(registered.publicKey));
      assert.equal(r.info().principal, 'alpha.api');
    });

    it('is written to outDir: key.pem (0600), cert.pem, chain.pem and ca.pem, and no temp file is left', async () => {
      const dir = await scratch();
      const r = await start({ outDir: join(dir, 'certs') });
      const out = join(dir, 'certs');
      assert.deepEqual((await readdir(out)).sort(), ['ca.pem', 'cert.pem', 'chain.pem', 'key.pem']);
      assert.equal((await stat(out)).mode & 0o777, 0o700);
      assert.equal((await stat(join(out, 'key.pem'))).mode & 0o777, 0o600);
      assert.equal(await readFile(join(out, 'key.pem'), 'utf8'), r.current().key);
      assert.equal(await readFile(join(out, 'cert.pem'), 'utf8'), r.current().cert);
      assert.equal(await readFile(join(out, 'ca.pem'), 'utf8'), t.ca, "ca.pem is Tessera's bundle, roots included");
      assert.equal(certificatesIn(await readFile(join(out, 'chain.pem'), 'utf8')).length, 2, 'intermediate and root');
    });

    it('is taken from outDir when a valid one is there, so a restart does not spend a join token again', async () => {
      const dir = await scratch();
      const token = await joinToken();
      const first = await start({ outDir: dir, bootstrap: { joinToken: token } });
      const serial = first.info().serial;
      await first.close();
      const again = await start({ outDir: dir, bootstrap: { joinToken: token } });
      assert.equal(again.info().serial, serial);
      const renewed = await again.renew();
      assert.notEqual(renewed.serial, serial, 'and renews it over mTLS as usual');
    });

    it('is obtained afresh when outDir holds a certificate for another principal', async () => {
      const dir = await scratch();
      const web = await start({ principal: 'alpha.web', outDir: dir });
      const api = await start({ outDir: dir });
      assert.equal(api.info().principal, 'alpha.api');
      assert.notEqual(api.info().serial, web.info().serial);
    });
  });

  describe('renewal over mutual TLS', () => {
    it('keeps the identity, changes serial and key, tells renewed listeners and replaces the files', async () => {
      const dir = await scratch();
      const r = await start({ outDir: dir });
      const before = r.info();
      const oldKey = r.current().key;
      const renewed = next(r, 'renewed');
      const after = await r.renew();
      assert.deepEqual(await renewed, { certificate: after, previous: before });
      assert.equal(after.principal, before.principal);
      assert.equal(after.spiffeId, before.spiffeId);
      assert.notEqual(after.serial, before.serial);
      assert.notEqual(r.current().key, oldKey, 'a new key for every renewal');
      assert.ok(after.renewAt > new Date());
      assert.equal(await readFile(join(dir, 'cert.pem'), 'utf8'), r.current().cert);
      assert.equal(await readFile(join(dir, 'key.pem'), 'utf8'), r.current().key);
    });

    it('keeps the key when rotateKey is false', async () => {
      const r = await start({ rotateKey: false });
      const key = r.current().key;
      const serial = r.info().serial;
      await r.renew();
      assert.equal(r.current().key, key);
      assert.notEqual(r.info().serial, serial);
    });

    it("is refused once the certificate is revoked: renew() fails with the CA's answer and failed tells when it tries again", async () => {
      const r = await start();
      const revoked = await t.admin$('POST', `/certificates/${r.info().serial}/revoke`, { reason: 'keyCompromise' });
      assert.equal(revoked.status, 200, revoked.text);
      const failed = next(r, 'failed');
      await assert.rejects(r.renew(), (error: CertificateRefresherError) => {
        assert.equal(error.code, 'ERR_CA_REFUSED', error.message);
        assert.equal(error.status, 401);
        assert.match(`${error.error} ${error.errorDescription}`, /revoked/);
        return true;
      });
      const event = await failed;
      assert.equal(event.attempt, 1);
      assert.ok(event.retryAt! > new Date(), 'tried again until the certificate expires');
    });

    it('is refused for a disabled service', async () => {
      const r = await start({ principal: 'alpha.parked' });
      assert.equal((await t.admin$('PATCH', '/domains/alpha/services/parked', { status: 'DISABLED' })).status, 200);
      await assert.rejects(r.renew(), (error: CertificateRefresherError) => {
        assert.equal(error.code, 'ERR_CA_REFUSED', error.message);
        assert.ok(error.status === 401 || error.status === 403, String(error.status));
        assert.match(error.errorDescription ?? '', /disabled/);
        return true;
      });
    });
  });

  it('feeds a token client: certificate-bound tokens for the current certificate, and new ones after each renewal', async () => {
    const r = await start();
    const client: TokenClient = createTokenClient({ issuer: t.url, ca: t.ca, credentials: { certificate: r } });
    cleanups.push(() => client.close());
    const first = decodeJwt(await client.getAccessToken({ scope: 'beta:domain' }));
    assert.deepEqual(first['cnf'], { 'x5t#S256': r.info().thumbprint });
    assert.equal(first.sub, 'alpha.api');
    assert.deepEqual(first['scp'], ['readers']);
    for (let renewal = 0; renewal < 2; renewal++) {
      const { thumbprint } = await r.renew();
      const claims = decodeJwt(await client.getAccessToken({ scope: 'beta:domain' }));
      assert.deepEqual(claims['cnf'], { 'x5t#S256': thumbprint });
    }
  });

  it('keeps a TLS server and an agent on the current certificates, on both sides, across renewals', async () => {
    const serverSide = await start({ principal: 'alpha.web' });
    const clientSide = await start();
    const server: Server = createServer({ ...serverSide.tlsOptions(), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      res.end((req.socket as TLSSocket).getPeerX509Certificate()?.serialNumber.toLowerCase() ?? 'none');
    });
    serverSide.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      server.closeAllConnections();
      server.close();
    });
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    // Service certificates name services, not hosts: the test checks the SPIFFE ID instead.
    const agent = clientSide.createAgent({
      checkServerIdentity: (_host, certificate) =>
        certificate.subjectaltname?.includes('URI:spiffe://tessera.local/alpha/web') ? undefined : new Error('not alpha.web'),
    });

    let seen = await call(url, agent);
    assert.deepEqual(seen, { body: clientSide.info().serial, serverSerial: serverSide.info().serial });
    seen = await call(url, agent);
    assert.equal(seen.body, clientSide.info().serial, 'a pooled connection while nothing changed');

    await clientSide.renew();
    await serverSide.renew();
    seen = await call(url, agent);
    assert.deepEqual(seen, { body: clientSide.info().serial, serverSerial: serverSide.info().serial }, 'both sides present their renewed certificates');

    const context = clientSide.secureContext();
    assert.equal(clientSide.secureContext(), context, 'one context per certificate');
    await clientSide.renew();
    assert.notEqual(clientSide.secureContext(), context);
  });

  describe('refusals and mistakes', () => {
    it("fails to start with the CA's answer when the join token was already used", async () => {
      const token = await joinToken();
      await start({ bootstrap: { joinToken: token } });
      await assert.rejects(start({ bootstrap: { joinToken: token } }), assertRefused(401, 'invalid_proof', /unknown, already used or expired/));
    });

    it('fails to start when the key is not registered on the service (403)', async () => {
      const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      await assert.rejects(start({ bootstrap: { privateKey: stranger, kid: 'k1' } }), assertRefused(403, 'forbidden', /not a key registered on alpha\.api/));
    });

    it('fails before spending the join token when outDir cannot be used', async () => {
      const dir = await scratch();
      const blocker = join(dir, 'a-file');
      await writeFile(blocker, 'not a directory');
      const token = await joinToken();
      await assert.rejects(start({ outDir: join(blocker, 'certs'), bootstrap: { joinToken: token } }), (error: CertificateRefresherError) => {
        assert.equal(error.code, 'ERR_FILES');
        assert.match(error.message, /cannot use outDir/);
        return true;
      });
      const r = await start({ bootstrap: { joinToken: token } });
      assert.equal(r.info().principal, 'alpha.api', 'the token still works');
    });

    it('says there was no answer when Tessera cannot be reached or its certificate is not trusted', async () => {
      const aborter = new AbortController();
      const stranger = createTestPki();
      cleanups.push(async () => stranger.dispose());
      for (const [server, ca] of [
        ['https://127.0.0.1:1', t.ca],
        [t.url, stranger.ca.cert],
      ] as const) {
        const client = httpsCaClient({ server, trust: () => tesseraTrust(ca), timeoutMs: 5000, signal: aborter.signal });
        await assert.rejects(client.bundle(), (error: CertificateRefresherError) => {
          assert.equal(error.code, 'ERR_CA_UNAVAILABLE');
          assert.match(error.message, /got no answer .*check the server URL and that ca holds Tessera's CA/);
          return true;
        });
        client.close();
      }
    });

    const invalid: [string, Partial<CertificateRefresherOptions>, RegExp][] = [
      ['an http: server', { server: 'http://127.0.0.1:8443' }, /server must be an https: URL/],
      ['a server that is no URL', { server: 'tessera' }, /server must be Tessera's URL/],
      ['a ca without a certificate', { ca: 'nothing' }, /ca must be PEM text/],
      ['a principal without a domain', { principal: 'api' }, /principal must be a service name "<domain>\.<service>"/],
      ['an unknown key type', { keyType: 'p521' as never }, /keyType must be one of p256, p384, ed25519, rsa2048/],
      ['renewAt of 1', { renewAt: 1 }, /renewAt must be a share of the lifetime between 0 and 1/],
      ['a jitter past the end', { renewAt: 0.9, jitter: 0.2 }, /renewAt × \(1 \+ jitter\) must stay below 1/],
      ['an empty join token', { bootstrap: { joinToken: ' ' } }, /bootstrap\.joinToken must be the token/],
      [
        'a bootstrap of no known kind',
        { bootstrap: { password: 'x' } as never },
        /bootstrap must be \{ joinToken \}, \{ privateKey, kid \} or \{ oidcToken \}/,
      ],
      ['a registered key without kid', { bootstrap: { privateKey: registered.privateKey, kid: '' } }, /bootstrap\.kid must name the registered key/],
      [
        'a weak registered key',
        { bootstrap: { privateKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey, kid: 'k1' } },
        /P-256, P-384, Ed25519 or RSA \(2048 bits or more\)/,
      ],
    ];
    for (const [name, options, message] of invalid) {
      it(`refuses ${name} with a TypeError that says what to fix`, async () => {
        await assert.rejects(
          createCertificateRefresher({ server: t.url, ca: t.ca, principal: 'alpha.api', bootstrap: { joinToken: 'tsj_unused' }, ...options }),
          (error: Error) => error instanceof TypeError && message.test(error.message),
        );
      });
    }
  });

  it('lets a process that used it exit by itself once closed', async () => {
    const child = `
      import { request } from 'node:https';
      import { createCertificateRefresher } from ${JSON.stringify(SDK)};
      const { SERVER, CA, TOKEN } = process.env;
      const refresher = await createCertificateRefresher({ server: SERVER, ca: CA, principal: 'alpha.api', bootstrap: { joinToken: TOKEN } });
      await refresher.renew();
      const agent = refresher.createAgent();
      await new Promise((resolve, reject) => request(SERVER + '/healthz', { agent }, (res) => res.resume().on('end', resolve)).on('error', reject).end());
      refresher.secureContext();
      await refresher.close();
      await new Promise((resolve) => setImmediate(resolve));
      console.log(JSON.stringify(process.getActiveResourcesInfo().filter((name) => name !== 'PipeWrap' && name !== 'TTYWrap')));
    `;
    const proc = spawn(process.execPath, ['--input-type=module', '-e', child], {
      env: { ...process.env, SERVER: t.url, CA: t.ca, TOKEN: await joinToken() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(proc, 'exit');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    const [code, signal] = (await exited) as [number | null, string | null];
    clearTimeout(timer);
    assert.equal(signal, null, 'it exited on its own');
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').at(-1)!), []);
  });
});
