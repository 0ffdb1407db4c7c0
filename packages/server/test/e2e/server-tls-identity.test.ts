// Who the HTTPS listener says it is. The self-issued certificate covers the issuer's host and the
// operator's extra names (tls.names), so a client that follows the issuer passes its host-name
// check; or the operator's own certificate is served, reloaded when its files change: new
// connections get the new one, open connections keep theirs, a bad pair leaves the old in place.
// Every client here connects to 127.0.0.1 and names the host it means in SNI and its check.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkServerIdentity, connect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { x509 } from '../../src/ca/x509.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { makeCa, makeLeaf, type ClientCertificate, type TestCa } from './mtls-support.ts';

const DAY = 86_400_000;

/** A handshake with 127.0.0.1 that asks for `name` (SNI) and checks the certificate against it. */
function handshake(url: string, name: string, ca: string): Promise<PeerCertificate> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(
      {
        host: '127.0.0.1',
        port: Number(port),
        ca,
        // SNI carries DNS names only; an IP address is checked as a client that dialled it would.
        ...(/^[\d.]+$|:/.test(name) ? {} : { servername: name }),
        checkServerIdentity: (_host, certificate) => checkServerIdentity(name, certificate),
      },
      () => {
        const certificate = socket.getPeerCertificate();
        socket.end();
        resolve(certificate);
      },
    );
    socket.setTimeout(10_000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

/** GET /healthz over `agent`: the status, whether it reused an open connection, and that connection's certificate. */
function get(url: string, agent: Agent): Promise<{ status: number; reused: boolean; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/healthz`, { agent, timeout: 10_000 }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, fingerprint }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Polls `check` every 50 ms until it returns true; fails after `ms`. */
async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** As PeerCertificate.fingerprint256 shows it. */
function fingerprintOf(leaf: ClientCertificate): string {
  return leaf.fingerprintHex.toUpperCase().match(/../g)!.join(':');
}

describe('the self-issued server certificate', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ flags: { issuer: 'https://auth.example.internal:8446', tlsName: 'tessera.example.net,10.9.8.7' } });
  });
  after(() => t.stop());

  it('passes the host-name check of a client that follows the issuer', async () => {
    const certificate = await handshake(t.url, 'auth.example.internal', t.ca);
    assert.match(certificate.subjectaltname ?? '', /DNS:auth\.example\.internal/);
  });

  it('passes the host-name check for every --tls-name, DNS name or IP address', async () => {
    await handshake(t.url, 'tessera.example.net', t.ca);
    await handshake(t.url, '10.9.8.7', t.ca);
    await handshake(t.url, '127.0.0.1', t.ca);
  });

  it('fails it for a name it was not given', async () => {
    await assert.rejects(handshake(t.url, 'other.example.internal', t.ca), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });
});

describe('the operator’s own server certificate', () => {
  const lines: string[] = [];
  let dir: string;
  let root: TestCa;
  let issuing: TestCa;
  let t: TestServer;
  let certFile: string;
  let keyFile: string;
  const leaf = (options: { notAfter?: Date } = {}) =>
    makeLeaf(issuing, { subject: 'CN=byo.example.internal', dns: ['byo.example.internal'], eku: [x509.ExtendedKeyUsage.serverAuth], ...options });
  /** The leaf then its issuing CA, as a chain file holds them; the clients trust the root only. */
  const install = async (cert: ClientCertificate, keyPem = cert.keyPem): Promise<void> => {
    await writeFile(keyFile, keyPem);
    await writeFile(certFile, cert.certPem + issuing.certPem);
  };
  const logged = (text: string): boolean => lines.some((line) => line.includes(text));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-own-tls-'));
    certFile = join(dir, 'server.pem');
    keyFile = join(dir, 'server.key');
    root = await makeCa('Operator Root');
    issuing = await makeCa('Operator Issuing', { issuer: root });
  });
  after(async () => {
    await t?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the certificate from the files, with its chain', async () => {
    const first = await leaf();
    await install(first);
    t = await startTestServer({
      flags: { issuer: 'https://byo.example.internal:8446', tlsCert: certFile, tlsKey: keyFile, logLevel: 'info' },
      tlsFilePollMs: 100,
      logStream: { write: (line: string) => void lines.push(line) },
    });
    const presented = await handshake(t.url, 'byo.example.internal', root.certPem);
    assert.equal(presented.fingerprint256, fingerprintOf(first));
    assert.ok(!logged('does not cover'), 'no warning: the certificate covers the issuer host');
    await assert.rejects(t.send('/healthz'), /certificate/, "a client trusting only Tessera's CA does not verify it");
  });

  it('serves a rewritten pair to new connections, while open connections keep theirs', async () => {
    const agent = new Agent({
      keepAlive: true,
      maxSockets: 1,
      ca: root.certPem,
      servername: 'byo.example.internal',
      checkServerIdentity: (_h, c) => checkServerIdentity('byo.example.internal', c),
    });
    try {
      const before = await get(t.url, agent);
      assert.equal(before.status, 200);
      const second = await leaf();
      await install(second);
      await eventually(
        'a new connection gets the rewritten certificate',
        async () => (await handshake(t.url, 'byo.example.internal', root.certPem)).fingerprint256 === fingerprintOf(second),
      );
      assert.ok(logged('server certificate reloaded'), 'the reload is logged');
      assert.deepEqual(await get(t.url, agent), { status: 200, reused: true, fingerprint: before.fingerprint });
    } finally {
      agent.destroy();
    }
  });

  it('keeps the certificate in use when the new pair does not match, and logs why', async () => {
    const current = (await handshake(t.url, 'byo.example.internal', root.certPem)).fingerprint256;
    const [other, stranger] = [await leaf(), await leaf()];
    await install(other, stranger.keyPem);
    await eventually('the failed reload is logged', () => logged('does not match the certificate'));
    assert.ok(logged('the listener keeps its current certificate'));
    assert.equal((await handshake(t.url, 'byo.example.internal', root.certPem)).fingerprint256, current);
  });

  it('reloads at once when asked (SIGHUP)', async () => {
    const next = await leaf();
    await install(next);
    await t.server.reloadTls();
    assert.equal((await handshake(t.url, 'byo.example.internal', root.certPem)).fingerprint256, fingerprintOf(next));
  });

  it('warns, and still starts, when the certificate does not cover the issuer host', async () => {
    const warnings: string[] = [];
    const other = await startTestServer({
      flags: { issuer: 'https://elsewhere.example.internal:8446', tlsCert: certFile, tlsKey: keyFile, logLevel: 'warn' },
      logStream: { write: (line: string) => void warnings.push(line) },
    });
    try {
      const warning = warnings.find((line) => line.includes('does not cover'));
      assert.ok(warning, 'a warning names the uncovered issuer host');
      assert.match(warning, /elsewhere\.example\.internal/);
      assert.equal(JSON.parse(warning).level, 40);
    } finally {
      await other.stop();
    }
  });
});

describe('the operator’s own server certificate: refused at start', () => {
  let dir: string;
  let issuing: TestCa;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-own-tls-bad-'));
    issuing = await makeCa('Operator Issuing');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const startWith = async (cert: string, key: string): Promise<unknown> => {
    const certFile = join(dir, `${Math.random()}.pem`);
    const keyFile = join(dir, `${Math.random()}.key`);
    await writeFile(certFile, cert);
    await writeFile(keyFile, key);
    return startTestServer({ flags: { issuer: 'https://byo.example.internal:8446', tlsCert: certFile, tlsKey: keyFile } }).then(
      async (t) => {
        await t.stop();
        assert.fail('expected the start to fail');
      },
      (error: unknown) => error,
    );
  };
  const serverLeaf = (options: { notBefore?: Date; notAfter?: Date } = {}) =>
    makeLeaf(issuing, { dns: ['byo.example.internal'], eku: [x509.ExtendedKeyUsage.serverAuth], ...options });

  it('a key that does not match the certificate', async () => {
    const [a, b] = [await serverLeaf(), await serverLeaf()];
    const error = await startWith(a.certPem, b.keyPem);
    assert.match(String(error), /the private key in .*\.key does not match the certificate in .*\.pem/);
  });

  it('an expired certificate', async () => {
    const old = await serverLeaf({ notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) });
    assert.match(String(await startWith(old.certPem, old.keyPem)), /the certificate in .*\.pem expired on \d{4}-\d\d-\d\dT.*; put a current certificate there/);
  });

  it('a certificate not valid yet', async () => {
    const early = await serverLeaf({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 3 * DAY) });
    assert.match(String(await startWith(early.certPem, early.keyPem)), /is not valid before \d{4}-/);
  });

  it('a file that cannot be read', async () => {
    const good = await serverLeaf();
    const keyFile = join(dir, 'good.key');
    await writeFile(keyFile, good.keyPem);
    const error = await startTestServer({ flags: { issuer: 'https://byo.example.internal:8446', tlsCert: join(dir, 'missing.pem'), tlsKey: keyFile } }).catch(
      (e: unknown) => e,
    );
    assert.match(String(error), /cannot read the server certificate file .*missing\.pem \(--tls-cert, tls\.certFile\): no such file/);
    const directory = await startTestServer({ flags: { issuer: 'https://byo.example.internal:8446', tlsCert: keyFile, tlsKey: dir } }).catch((e: unknown) => e);
    assert.match(String(directory), /cannot read the server certificate file .* \(--tls-key, tls\.keyFile\): it is a directory/);
  });

  it('a file without a certificate, and one without a key', async () => {
    const good = await serverLeaf();
    assert.match(String(await startWith('not a certificate', good.keyPem)), /holds no PEM certificate/);
    assert.match(String(await startWith(good.certPem, good.certPem)), /holds no PEM private key/);
  });
});
