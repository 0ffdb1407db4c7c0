// Where `tessera admin` and `tessera token` send a credential file's secret, and which CA files
// nobody named they trust: a configured server (flag, variable, profile) gets the token request,
// never the file's tokenEndpoint on another origin; without one, the file's endpoint only over
// https or to loopback. A ca.pem beside the credential file, or ./.tessera/ca.pem, only when no one
// else could have written it, and the former only for the credential file's own server.

import assert from 'node:assert/strict';
import { chmod, chown, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { credentialTarget, isLoopback } from '../src/credentials.ts';
import { makeWorkspace, runCli } from './helpers/cli.ts';
import { startFakeTessera, type FakeTessera } from './helpers/fake-tessera.ts';
import { createTestPki, type TestPki } from '@tessera/testkit/pki';

const ID = 'sys.auth.admin';
const SECRET = 'trust-secret';
const LIST = ['admin', 'domain', 'list'];

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});
let pki: TestPki;
before(async () => {
  pki = createTestPki();
  cleanup.push(async () => pki.dispose());
});

async function fake(tls = false): Promise<FakeTessera> {
  const server = await startFakeTessera({ clientId: ID, clientSecret: SECRET, ...(tls ? { tls: { ...pki.server, ca: pki.ca.cert } } : {}) });
  cleanup.push(() => server.close());
  return server;
}

/** A workspace holding `dir/admin.json` (tokenEndpoint: `endpoint`) and, with `ca`, `dir/ca.pem` with mode `caMode`. */
async function workspace(
  options: { endpoint?: string; ca?: boolean; caMode?: number; dirMode?: number } = {},
): Promise<{ cwd: string; dir: string; file: string; ca: string }> {
  const cwd = await makeWorkspace();
  cleanup.push(() => rm(cwd, { recursive: true, force: true }));
  const dir = path.join(cwd, 'data');
  await mkdir(dir);
  await chmod(dir, options.dirMode ?? 0o700);
  const file = path.join(dir, 'admin.json');
  await writeFile(file, JSON.stringify({ clientId: ID, clientSecret: SECRET, ...(options.endpoint ? { tokenEndpoint: options.endpoint } : {}) }), {
    mode: 0o600,
  });
  const ca = path.join(dir, 'ca.pem');
  if (options.ca === true) {
    await writeFile(ca, pki.ca.cert);
    await chmod(ca, options.caMode ?? 0o644);
  }
  return { cwd, dir, file, ca };
}

const secretSent = (server: FakeTessera): boolean =>
  server.requests.some((r) => r.headers.authorization === `Basic ${Buffer.from(`${ID}:${SECRET}`).toString('base64')}`);

describe('the secret goes to the configured server', () => {
  const ignored = (endpoint: string, chosen: string): string =>
    `warning: ignoring the credential file's tokenEndpoint ${endpoint}: it is not on the server given (--server, TESSERA_SERVER or the profile); asking ${chosen}/oauth2/token instead\n`;

  it("admin --server: the token request goes to that server, the file's tokenEndpoint on another origin is ignored with one warning line", async () => {
    const [chosen, other] = [await fake(), await fake()];
    const { cwd, file } = await workspace({ endpoint: `${other.url}/oauth2/token` });
    const result = await runCli([...LIST, '--credentials', file, '--server', chosen.url], { cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, ignored(`${other.url}/oauth2/token`, chosen.url));
    assert.deepEqual(
      chosen.requests.map((r) => r.path),
      ['/oauth2/token', '/admin/v1/domains'],
    );
    assert.ok(secretSent(chosen));
    assert.equal(other.requests.length, 0);
  });

  it('the same for a server from the profile, and for tessera token', async () => {
    const [chosen, other] = [await fake(), await fake()];
    const { cwd, file } = await workspace({ endpoint: `${other.url}/oauth2/token` });
    const config = path.join(cwd, 'xdg');
    await mkdir(path.join(config, 'tessera'), { recursive: true });
    await writeFile(path.join(config, 'tessera', 'cli.json'), JSON.stringify({ server: chosen.url }));
    const admin = await runCli([...LIST, '--credentials', file], { cwd, env: { XDG_CONFIG_HOME: config } });
    assert.equal(admin.code, 0, admin.stderr);
    assert.equal(admin.stderr, ignored(`${other.url}/oauth2/token`, chosen.url));
    const token = await runCli(['token', '--credentials', file, '--scope', 'x:domain'], { cwd, env: { TESSERA_SERVER: chosen.url } });
    assert.equal(token.code, 0, token.stderr);
    assert.equal(token.stderr, ignored(`${other.url}/oauth2/token`, chosen.url));
    assert.equal(chosen.requests.filter((r) => r.path === '/oauth2/token').length, 2);
    assert.equal(other.requests.length, 0);
  });

  it("says nothing when the file's tokenEndpoint is on the configured server", async () => {
    const chosen = await fake();
    const { cwd, file } = await workspace({ endpoint: `${chosen.url}/oauth2/token` });
    const result = await runCli([...LIST, '--credentials', file], { cwd, env: { TESSERA_SERVER: chosen.url } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
  });

  it('without a configured server, refuses a plain-http tokenEndpoint off the machine, before sending anything (admin and token)', async () => {
    const endpoint = 'http://192.0.2.7:8080/oauth2/token';
    const { cwd, file } = await workspace({ endpoint });
    const expected =
      `error: the credential file's tokenEndpoint ${endpoint} is plain http to a host that is not loopback: ` +
      'the secret would cross the network in clear; give the https:// server with --server (or TESSERA_SERVER)\n';
    const admin = await runCli([...LIST, '--credentials', file], { cwd });
    assert.equal(admin.code, 2);
    assert.equal(admin.stderr, expected);
    const token = await runCli(['token', '--credentials', file, '--scope', 'x:domain'], { cwd });
    assert.equal(token.code, 2);
    assert.equal(token.stderr, expected);
  });

  it("without a configured server, uses the file's tokenEndpoint over https, or plain http to loopback", () => {
    const quiet = { stderr: { write: () => assert.fail('no warning expected') } };
    const https = credentialTarget(undefined, new URL('https://tessera.example:8443/base/oauth2/token'), quiet);
    assert.equal(https.tokenEndpoint.href, 'https://tessera.example:8443/base/oauth2/token');
    assert.equal(https.server.href, 'https://tessera.example:8443/base');
    assert.equal(credentialTarget(undefined, new URL('http://127.0.0.1:8080/oauth2/token'), quiet).server.href, 'http://127.0.0.1:8080/');
    assert.equal(credentialTarget(undefined, undefined, quiet).tokenEndpoint.href, 'https://127.0.0.1:8443/oauth2/token');
    for (const host of ['127.0.0.1', '127.3.2.1', '[::1]', 'localhost', 'LOCALHOST']) assert.equal(isLoopback(host), true, host);
    for (const host of ['10.0.0.1', '128.0.0.1', '127.example.com', '[::2]', 'localhost.example.com']) assert.equal(isLoopback(host), false, host);
  });
});

describe('a ca.pem nobody named', () => {
  it("beside the credential file: trusted for the file's own server when only its owner can write it and its directory", async () => {
    const server = await fake(true);
    const { cwd, file } = await workspace({ endpoint: `${server.url}/oauth2/token`, ca: true });
    const result = await runCli([...LIST, '--credentials', file], { cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
  });

  const refused: [string, Parameters<typeof workspace>[0], (dir: string, ca: string) => string][] = [
    ['group-writable', { caMode: 0o664 }, () => 'it can be written by its group (mode 0664)'],
    ['world-writable', { caMode: 0o646 }, () => 'it can be written by anyone (mode 0646)'],
    ['in a world-writable directory', { dirMode: 0o1777 }, (dir) => `its directory ${dir} can be written by anyone (mode 1777)`],
    ['in a group-writable directory', { dirMode: 0o770 }, (dir) => `its directory ${dir} can be written by its group (mode 0770)`],
  ];
  for (const [name, options, why] of refused) {
    it(`beside the credential file, ${name}: not trusted, with a warning saying why and how to pass it`, async () => {
      const server = await fake(true);
      const { cwd, dir, file, ca } = await workspace({ endpoint: `${server.url}/oauth2/token`, ca: true, ...options });
      const result = await runCli([...LIST, '--credentials', file], { cwd });
      assert.equal(result.code, 1, 'the server certificate is not trusted');
      const [warning] = result.stderr.split('\n');
      assert.equal(warning, `warning: not trusting ${ca} (beside the credential file): ${why(dir, ca)}; if you trust it, pass it as --cacert ${ca}`);
      assert.equal(server.requests.length, 0, 'nothing reached the server');
      // As the warning says: named, it is trusted (and the only anchor).
      const named = await runCli([...LIST, '--credentials', file, '--cacert', ca], { cwd });
      assert.equal(named.code, 0, named.stderr);
      assert.equal(named.stderr, '');
    });
  }

  it('beside the credential file, owned by another user: not trusted', { skip: process.getuid?.() !== 0 && 'needs root to chown' }, async () => {
    const server = await fake(true);
    const { cwd, file, ca } = await workspace({ endpoint: `${server.url}/oauth2/token`, ca: true });
    await chown(ca, 12345, 12345);
    const result = await runCli([...LIST, '--credentials', file], { cwd });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr.split('\n')[0],
      `warning: not trusting ${ca} (beside the credential file): it is owned by uid 12345, not by you or root; if you trust it, pass it as --cacert ${ca}`,
    );
    assert.equal(server.requests.length, 0);
  });

  it('beside the credential file, a symlink to a file in a world-writable directory: not trusted', async () => {
    const server = await fake(true);
    const { cwd, file, ca } = await workspace({ endpoint: `${server.url}/oauth2/token` });
    const shared = path.join(cwd, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o1777);
    await writeFile(path.join(shared, 'real-ca.pem'), pki.ca.cert, { mode: 0o644 });
    await symlink(path.join(shared, 'real-ca.pem'), ca);
    const result = await runCli([...LIST, '--credentials', file], { cwd });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr.split('\n')[0] ?? '',
      new RegExp(`^warning: not trusting .*: its directory ${shared} can be written by anyone \\(mode 1777\\);`),
    );
    assert.equal(server.requests.length, 0);
  });

  it('beside the credential file, a symlink in a world-writable directory to a safe file: not trusted (the link can be swapped)', async () => {
    const server = await fake(true);
    const { cwd, dir, file, ca } = await workspace({ endpoint: `${server.url}/oauth2/token`, dirMode: 0o1777 });
    const safe = path.join(cwd, 'safe');
    await mkdir(safe, { mode: 0o700 });
    await writeFile(path.join(safe, 'ca.pem'), pki.ca.cert, { mode: 0o644 });
    await symlink(path.join(safe, 'ca.pem'), ca);
    const result = await runCli([...LIST, '--credentials', file], { cwd });
    assert.equal(result.code, 1);
    assert.match(result.stderr.split('\n')[0] ?? '', new RegExp(`^warning: not trusting .*: its directory ${dir} can be written by anyone \\(mode 1777\\);`));
    assert.equal(server.requests.length, 0);
  });

  it('beside the credential file: not used for another server (--server), even one its CA vouches for', async () => {
    const [own, unrelated] = [await fake(true), await fake(true)];
    const { cwd, file, ca } = await workspace({ endpoint: `${own.url}/oauth2/token`, ca: true });
    const result = await runCli([...LIST, '--credentials', file, '--server', unrelated.url], { cwd });
    assert.equal(result.code, 1, 'the unrelated server certificate is not trusted');
    assert.equal(unrelated.requests.length, 0);
    assert.equal(own.requests.length, 0);
    const named = await runCli([...LIST, '--credentials', file, '--server', unrelated.url, '--cacert', ca], { cwd });
    assert.equal(named.code, 0, named.stderr);
  });

  it('beside a credential file that names no tokenEndpoint (no server of its own): not used', async () => {
    const server = await fake(true);
    const { cwd, file } = await workspace({ ca: true });
    const result = await runCli([...LIST, '--credentials', file, '--server', server.url], { cwd });
    assert.equal(result.code, 1);
    assert.equal(server.requests.length, 0);
  });

  it('./.tessera/ca.pem: trusted when only its owner can write it; else not, with a warning', async () => {
    const server = await fake(true);
    const { cwd, file } = await workspace({ endpoint: `${server.url}/oauth2/token` });
    await mkdir(path.join(cwd, '.tessera'), { mode: 0o700 });
    const local = path.join(cwd, '.tessera', 'ca.pem');
    await writeFile(local, pki.ca.cert);
    await chmod(local, 0o644);
    const trusted = await runCli([...LIST, '--credentials', file], { cwd });
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.equal(trusted.stderr, '');
    await chmod(local, 0o666);
    const before = server.requests.length;
    const refusedRun = await runCli([...LIST, '--credentials', file], { cwd });
    assert.equal(refusedRun.code, 1);
    assert.equal(
      refusedRun.stderr.split('\n')[0],
      `warning: not trusting ./.tessera/ca.pem: it can be written by anyone (mode 0666); if you trust it, pass it as --cacert ${local}`,
    );
    assert.equal(server.requests.length, before);
    // An explicit CA (flag or variable) is not subject to these checks.
    const viaEnv = await runCli([...LIST, '--credentials', file], { cwd, env: { TESSERA_CACERT: local } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(viaEnv.stderr, '');
  });
});
