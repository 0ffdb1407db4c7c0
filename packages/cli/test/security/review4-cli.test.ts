// Review 4 (outside attacker): where the CLI sends a credential and whom it trusts, across the new
// defaults (TESSERA_SERVER, profile) and the ca.pem trusted beside a credential file.
// Each test FAILS while the hole it names exists.

import assert from 'node:assert/strict';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { makeWorkspace, runCli } from '../helpers/cli.ts';
import { startFakeTessera, type FakeTessera } from '../helpers/fake-tessera.ts';
import { createTestPki } from '@tessera/testkit/pki';

const ID = 'sys.auth.admin';
const SECRET = 'review4-admin-secret';

describe('review4: the CLI sends a credential only to the server the user chose', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });
  async function fake(tls?: { cert: string; key: string; ca: string }): Promise<FakeTessera> {
    const server = await startFakeTessera({ clientId: ID, clientSecret: SECRET, ...(tls ? { tls } : {}) });
    cleanup.push(() => server.close());
    return server;
  }
  const leaked = (server: FakeTessera): boolean =>
    server.requests.some((r) => JSON.stringify(r.headers).includes(Buffer.from(`${ID}:${SECRET}`).toString('base64')) || r.rawBody.includes(SECRET));

  for (const how of ['--server flag', 'TESSERA_SERVER']) {
    it(`admin: with the server given by ${how}, the secret does not go to the credential file's tokenEndpoint`, async () => {
      const chosen = await fake();
      // The file's tokenEndpoint: another server (here plain http), e.g. a file written by a
      // server at another address, or edited by someone who can write it but not read the secret.
      const other = await fake();
      const cwd = await makeWorkspace();
      cleanup.push(() => rm(cwd, { recursive: true, force: true }));
      const credentials = path.join(cwd, 'admin.json');
      await writeFile(credentials, JSON.stringify({ clientId: ID, clientSecret: SECRET, tokenEndpoint: `${other.url}/oauth2/token` }));
      const argv = ['admin', 'domain', 'list', '--credentials', credentials, ...(how === '--server flag' ? ['--server', chosen.url] : [])];
      const env = how === 'TESSERA_SERVER' ? { TESSERA_SERVER: chosen.url } : {};
      await runCli(argv, { cwd, env });
      assert.equal(leaked(other), false, `the admin secret was sent to ${other.url} (the file's tokenEndpoint), not to the chosen server ${chosen.url}`);
    });
  }
});

describe('review4: a ca.pem beside the credential file', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('is not trusted when anyone else could have planted it (a world-writable directory)', async () => {
    // An attacker with a CA of their own (the PKI) runs the "server" the victim dials; the victim
    // keeps a credential file in a shared directory (say /tmp/handoff) where the attacker drops ca.pem.
    const attacker = createTestPki();
    cleanup.push(async () => attacker.dispose());
    const mitm = await startFakeTessera({ clientId: ID, clientSecret: SECRET, tls: { ...attacker.server, ca: attacker.ca.cert } });
    cleanup.push(() => mitm.close());
    const cwd = await makeWorkspace();
    cleanup.push(() => rm(cwd, { recursive: true, force: true }));
    const shared = path.join(cwd, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o1777);
    const credentials = path.join(shared, 'svc.json');
    await writeFile(credentials, JSON.stringify({ clientId: ID, clientSecret: SECRET }), { mode: 0o600 });
    await writeFile(path.join(shared, 'ca.pem'), attacker.ca.cert, { mode: 0o666 });
    await chmod(path.join(shared, 'ca.pem'), 0o666);
    const result = await runCli(['token', '--credentials', credentials, '--server', mitm.url, '--scope', 'x'], { cwd, env: {} });
    assert.equal(
      mitm.requests.length,
      0,
      `the CLI trusted a world-writable ca.pem beside the credential file and sent the credential to ${mitm.url} (exit ${result.code})`,
    );
  });
});
