// The shared test helpers do what the three packages' tests rely on, and stay out of what is
// published: no package's sources, bin or dependencies name the testkit.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { send } from '@tessera/testkit/https';
import { createTestPki, type TestPki } from '@tessera/testkit/pki';
import { freePort } from '@tessera/testkit/port';
import { fakeFetchServer, startFakeHttpServer, tokenAnswer, type FakeHttpServer } from '@tessera/testkit/token-server';

const PACKAGES = join(import.meta.dirname, '..', '..');

describe('testkit', () => {
  let pki: TestPki;
  let server: FakeHttpServer;
  before(async () => {
    pki = createTestPki();
    server = await startFakeHttpServer((req) => (req.path === '/empty' ? { status: 204 } : tokenAnswer(req)), {
      ...pki.server,
      ca: pki.ca.cert,
      requestCert: true,
      rejectUnauthorized: false,
    });
  });
  after(async () => {
    await server.close();
    pki.dispose();
  });

  it('is private, and no published package depends on it or imports it', () => {
    const own = JSON.parse(readFileSync(join(PACKAGES, 'testkit', 'package.json'), 'utf8')) as { private?: boolean };
    assert.equal(own.private, true);
    for (const pkg of ['server', 'cli', 'sdk']) {
      const manifest = JSON.parse(readFileSync(join(PACKAGES, pkg, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
      for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies'])
        assert.equal(manifest[field]?.['@tessera/testkit'], undefined, `${pkg} ${field}`);
      for (const part of ['src', 'bin']) {
        let files: string[];
        try {
          files = readdirSync(join(PACKAGES, pkg, part), { recursive: true, encoding: 'utf8' });
        } catch {
          continue;
        }
        for (const file of files.filter((name) => /\.[cm]?[jt]s$/.test(name))) {
          assert.doesNotMatch(readFileSync(join(PACKAGES, pkg, part, file), 'utf8'), /testkit/, `${pkg}/${part}/${file}`);
        }
      }
    }
  });

  it('freePort gives a loopback port one can listen on', async () => {
    const port = await freePort();
    const probe = createServer();
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  it('the PKI issues a server certificate for 127.0.0.1 and client certificates by CN, all from its CA', () => {
    const ca = new X509Certificate(pki.ca.cert);
    const server = new X509Certificate(pki.server.cert);
    const client = new X509Certificate(pki.client('alpha.api').cert);
    assert.ok(server.checkIssued(ca) && server.verify(ca.publicKey));
    assert.ok(client.checkIssued(ca) && client.verify(ca.publicKey));
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(client.subject, 'CN=alpha.api');
  });

  it('send trusts only the CA it is given, presents a client certificate, and reads the answer whole', async () => {
    const client = pki.client('alpha.api');
    const res = await send(`${server.url}/oauth2/token?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=beta',
      ca: pki.ca.cert,
      ...client,
      agent: false,
    });
    assert.equal(res.status, 200);
    assert.equal(res.json.access_token, 'token-1');
    assert.equal(res.body.toString('utf8'), res.text);
    const seen = server.requests[0]!;
    assert.equal(seen.path, '/oauth2/token');
    assert.equal(seen.query.get('x'), '1');
    assert.deepEqual(seen.body, { grant_type: 'client_credentials', scope: 'beta' });
    assert.equal(seen.clientCertificateCn, 'alpha.api');
    const stranger = createTestPki();
    try {
      await assert.rejects(send(`${server.url}/oauth2/token`, { ca: stranger.ca.cert, agent: false }), /unable to verify|self-signed|certificate/i);
    } finally {
      stranger.dispose();
    }
  });

  it('an answer without a body has no content type, and no JSON', async () => {
    const res = await send(`${server.url}/empty`, { ca: pki.ca.cert });
    assert.equal(res.status, 204);
    assert.equal(res.headers['content-type'], undefined);
    assert.equal(res.json, undefined);
  });

  it('the fetch fake records what the socket fake records', async () => {
    const fake = fakeFetchServer();
    const response = await fake.fetch('https://tessera.test/oauth2/token?x=1', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'scope=beta',
    });
    assert.equal(((await response.json()) as { access_token: string }).access_token, 'token-1');
    const seen = fake.requests[0]!;
    assert.deepEqual([seen.path, seen.query.get('x'), seen.body], ['/oauth2/token', '1', { scope: 'beta' }]);
  });
});
