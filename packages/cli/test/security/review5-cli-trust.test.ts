// ./.tessera/ca.pem vouches only for a loopback server: for a remote one (named by --server or by
// the credential file's tokenEndpoint) it is ignored with one warning line, and a loopback server
// still gets it. The attack itself is in review5-cli.test.ts.

import '../helpers/test-hosts.ts';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { makeWorkspace, runCli } from '../helpers/cli.ts';
import { startFakeTessera, type FakeTessera } from '../helpers/fake-tessera.ts';
import { createTestPki, type TestPki } from '@tessera/testkit/pki';

const ID = 'sys.auth.admin';
const SECRET = 'review5-trust-secret';

describe('./.tessera/ca.pem and the server it is used for', () => {
  let pki: TestPki;
  let tessera: FakeTessera;
  let repo: string;
  let credentials: string;
  const cleanup: (() => Promise<void>)[] = [];
  before(async () => {
    pki = createTestPki();
    cleanup.push(async () => pki.dispose());
    tessera = await startFakeTessera({ clientId: ID, clientSecret: SECRET, tls: { ...pki.server, ca: pki.ca.cert } });
    cleanup.push(() => tessera.close());
    repo = await makeWorkspace();
    cleanup.push(() => rm(repo, { recursive: true, force: true }));
    await mkdir(path.join(repo, '.tessera'), { mode: 0o700 });
    await writeFile(path.join(repo, '.tessera', 'ca.pem'), pki.ca.cert, { mode: 0o600 });
    credentials = path.join(repo, 'admin.json');
  });
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });
  const leaked = (): boolean => tessera.requests.some((r) => JSON.stringify(r.headers).includes(Buffer.from(`${ID}:${SECRET}`).toString('base64')));

  it('is trusted for a loopback --server', async () => {
    await writeFile(credentials, JSON.stringify({ clientId: ID, clientSecret: SECRET }), { mode: 0o600 });
    const result = await runCli(['admin', 'domain', 'list', '--credentials', credentials, '--server', tessera.url], { cwd: repo, env: {} });
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /not trusting/);
  });

  it('is not trusted for a remote --server, and one line says so and what to do', async () => {
    tessera.requests.length = 0;
    const port = new URL(tessera.url).port;
    const result = await runCli(['admin', 'domain', 'list', '--credentials', credentials, '--server', `https://tessera.test:${port}`], { cwd: repo, env: {} });
    assert.notEqual(result.code, 0);
    assert.equal(leaked(), false);
    assert.match(
      result.stderr,
      new RegExp(
        `warning: not trusting \\./\\.tessera/ca\\.pem for https://tessera\\.test:${port}: it vouches only for a server on this machine; if it is this server's CA, pass it as --cacert ${path.join(repo, '.tessera', 'ca.pem').replace(/[.]/g, '\\.')}`,
      ),
    );
  });

  it("is not trusted for the credential file's remote tokenEndpoint when no --server is given", async () => {
    tessera.requests.length = 0;
    const port = new URL(tessera.url).port;
    await writeFile(credentials, JSON.stringify({ clientId: ID, clientSecret: SECRET, tokenEndpoint: `https://tessera.test:${port}/oauth2/token` }), {
      mode: 0o600,
    });
    const result = await runCli(['admin', 'domain', 'list', '--credentials', credentials], { cwd: repo, env: {} });
    assert.notEqual(result.code, 0);
    assert.equal(leaked(), false);
    assert.match(result.stderr, /warning: not trusting \.\/\.tessera\/ca\.pem for https:\/\/tessera\.test:/);
  });

  it("is not trusted by tessera token for the credential file's remote server either", async () => {
    tessera.requests.length = 0;
    const port = new URL(tessera.url).port;
    await writeFile(credentials, JSON.stringify({ clientId: ID, clientSecret: SECRET, tokenEndpoint: `https://tessera.test:${port}/oauth2/token` }), {
      mode: 0o600,
    });
    const result = await runCli(['token', '--scope', 'beta:domain', '--credentials', credentials], { cwd: repo, env: {} });
    assert.notEqual(result.code, 0);
    assert.equal(leaked(), false);
    assert.match(result.stderr, /warning: not trusting \.\/\.tessera\/ca\.pem for https:\/\/tessera\.test:/);
  });
});
