// tessera recover-admin against a running server's data dir: the new credential works there, and
// the refusals (existing file, wrong master key, no database) exit 2 with one line and change nothing.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { runCli } from './helpers/cli.ts';

describe('tessera recover-admin', () => {
  let work: string;
  let t: TestServer;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tessera-recover-cli-'));
    t = await startTestServer({ dataDir: join(work, 'data') });
  });
  after(async () => {
    await t.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('writes a working credential for sys.auth.admin and says what it changed', async () => {
    const out = join(work, 'admin.json');
    const result = await runCli(['recover-admin', '--data-dir', t.dataDir, '--out', 'admin.json', '--json'], { cwd: work });
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as { principal: string; credentialFile: string; changes: string[] };
    assert.equal(summary.principal, 'sys.auth.admin');
    assert.equal(summary.credentialFile, out);
    assert.ok(
      summary.changes.some((change) => change.includes('new secret')),
      summary.changes.join('; '),
    );
    const credential = JSON.parse(await readFile(out, 'utf8')) as { clientId: string; clientSecret: string };
    const deadline = Date.now() + 3000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await t.token(credential.clientId, credential.clientSecret, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' })).status;
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(status, 200);
  });

  it('refuses an existing file, a wrong master key and a missing database with exit 2 and one line', async () => {
    const existing = await runCli(['recover-admin', '--data-dir', t.dataDir], { cwd: work });
    assert.equal(existing.code, 2);
    assert.match(existing.stderr, /bootstrap-admin\.json exists; pass --force/);
    assert.equal(existing.stderr.trim().split('\n').length, 1);

    const wrongKey = await runCli(['recover-admin', '--data-dir', t.dataDir, '--out', join(work, 'never.json')], {
      cwd: work,
      env: { TESSERA_MASTER_KEY: randomBytes(32).toString('base64') },
    });
    assert.equal(wrongKey.code, 2);
    assert.match(wrongKey.stderr, /master key differs/);
    await assert.rejects(readFile(join(work, 'never.json')), { code: 'ENOENT' });

    const empty = await mkdtemp(join(work, 'empty-'));
    const missing = await runCli(['recover-admin', '--data-dir', empty], { cwd: work });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /master key file .* does not exist/);
  });
});
