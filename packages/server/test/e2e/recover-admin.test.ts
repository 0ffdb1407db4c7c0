// The bootstrap admin is made once per database, and `tessera recover-admin` (admin/recover.ts) is
// the way back in when every admin credential is lost: with the database and the master key, beside
// a running server, without ever generating a key or writing anything when the key is wrong.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { recoverAdmin, RecoverAdminError } from '../../src/admin/recover.ts';
import { loadConfig } from '../../src/config/load.ts';
import { MasterKeyMismatchError } from '../../src/keys/master-key.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const ADMIN_SCOPE = { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' };

function configFor(dataDir: string, env: Record<string, string> = {}): ReturnType<typeof loadConfig> {
  return loadConfig({ flags: { dataDir, issuer: 'https://tessera.test' }, env, cwd: dataDir });
}

/** Token requests until `want` is the status (the server learns of the change through the feed within 250 ms). */
async function eventually(t: TestServer, id: string, secret: string, want: number): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const res = await t.token(id, secret, ADMIN_SCOPE);
    if (res.status === want) return;
    if (Date.now() > deadline) assert.fail(`expected ${want} for ${id}, still ${res.status} ${res.text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A second system admin `ops.root` with a secret, so the bootstrap admin can be retired. */
async function addOpsAdmin(t: TestServer): Promise<string> {
  assert.equal((await t.admin$('POST', '/domains', { name: 'ops' })).status, 201);
  const created = await t.admin$('POST', '/domains/ops/services', { name: 'root' });
  assert.equal(created.status, 201, created.text);
  const added = await t.admin$('POST', '/domains/sys.auth/roles/admin/members', { members: [{ principal: 'ops.root' }] });
  assert.ok(added.status === 200 || added.status === 201, added.text);
  return created.json.clientSecret as string;
}

async function opsToken(t: TestServer, secret: string): Promise<string> {
  const res = await t.token('ops.root', secret, ADMIN_SCOPE);
  assert.equal(res.status, 200, res.text);
  return res.json.access_token as string;
}

describe('the bootstrap admin and recover-admin', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));
  const newDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-recover-'));
    dirs.push(dir);
    return dir;
  };

  it('does not make a deleted bootstrap admin again on restart', async () => {
    const dataDir = await newDir();
    const first = await startTestServer({ dataDir, flags: { issuer: 'https://tessera.test' } });
    const opsSecret = await addOpsAdmin(first);
    const deleted = await first.admin$('DELETE', '/domains/sys.auth/services/admin', undefined, await opsToken(first, opsSecret));
    assert.equal(deleted.status, 204, deleted.text);
    await first.stop();

    const second = await startTestServer({ dataDir, flags: { issuer: 'https://tessera.test' } });
    try {
      assert.equal(second.server.bootstrapCredentialFile, null);
      const admin = await second.admin$('GET', '/domains/sys.auth/services/admin', undefined, await opsToken(second, opsSecret));
      assert.equal(admin.status, 404, 'the retired bootstrap admin stays gone');
    } finally {
      await second.stop();
    }
  });

  it('does not make it again on a database from before the once-only rule, whose admin was deleted', async () => {
    const dataDir = await newDir();
    const first = await startTestServer({ dataDir, flags: { issuer: 'https://tessera.test' } });
    const opsSecret = await addOpsAdmin(first);
    assert.equal((await first.admin$('DELETE', '/domains/sys.auth/services/admin', undefined, await opsToken(first, opsSecret))).status, 204);
    await first.stop();
    // Such a database has no record that the bootstrap admin was made.
    const db = new DatabaseSync(join(dataDir, 'tessera.db'));
    db.prepare('DELETE FROM meta WHERE key = ?').run('bootstrap_admin_created');
    db.close();

    const second = await startTestServer({ dataDir, flags: { issuer: 'https://tessera.test' } });
    try {
      assert.equal(second.server.bootstrapCredentialFile, null);
      const admin = await second.admin$('GET', '/domains/sys.auth/services/admin', undefined, await opsToken(second, opsSecret));
      assert.equal(admin.status, 404);
    } finally {
      await second.stop();
    }
  });

  it('gives a running server a working admin credential and ends the lost one', async () => {
    const dataDir = await newDir();
    const t = await startTestServer({ dataDir, flags: { issuer: 'https://tessera.test' } });
    try {
      const lost = t.admin.clientSecret;
      const stolenToken = await t.adminToken();
      const out = join(dataDir, 'recovered.json');
      const result = await recoverAdmin(configFor(dataDir), { out });
      assert.equal(result.principal, 'sys.auth.admin');
      assert.equal(result.file, out);
      assert.equal((await stat(out)).mode & 0o777, 0o600);
      const credential = JSON.parse(await readFile(out, 'utf8')) as { clientId: string; clientSecret: string; tokenEndpoint: string };
      assert.equal(credential.clientId, 'sys.auth.admin');
      assert.equal(credential.tokenEndpoint, 'https://tessera.test/oauth2/token');
      assert.notEqual(credential.clientSecret, lost);
      await eventually(t, credential.clientId, credential.clientSecret, 200);
      await eventually(t, 'sys.auth.admin', lost, 401);
      const withStolen = await t.admin$('GET', '/domains', undefined, stolenToken);
      assert.equal(withStolen.status, 401, `a token got with the lost secret before the recovery ends with it: ${withStolen.text}`);
      assert.ok(result.changes.includes('ended every token it was issued until now'), result.changes.join('; '));

      const recovered = await t.token(credential.clientId, credential.clientSecret, ADMIN_SCOPE);
      const events = await t.admin$('GET', '/audit?principal=sys.auth.admin', undefined, recovered.json.access_token as string);
      assert.equal(events.status, 200, events.text);
      const actors = (events.json.events as { actor: string }[]).map((event) => event.actor);
      assert.ok(actors.includes('recover-admin'), `audited as recover-admin: ${actors.join(', ')}`);
    } finally {
      await t.stop();
    }
  });

  it('makes a deleted or disabled bootstrap admin an active system admin again', async () => {
    const dataDir = await newDir();
    const t = await startTestServer({ dataDir, flags: { issuer: 'https://tessera.test' } });
    try {
      const opsSecret = await addOpsAdmin(t);
      const ops = await opsToken(t, opsSecret);
      const disabled = await t.admin$('PATCH', '/domains/sys.auth/services/admin', { status: 'DISABLED', allowedIps: ['192.0.2.0/24'] }, ops);
      assert.equal(disabled.status, 200, disabled.text);
      const fromDisabled = await recoverAdmin(configFor(dataDir), { force: true });
      assert.ok(
        fromDisabled.changes.some((change) => change.includes('made sys.auth.admin active')),
        fromDisabled.changes.join('; '),
      );
      const first = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as { clientSecret: string };
      await eventually(t, 'sys.auth.admin', first.clientSecret, 200);

      assert.equal((await t.admin$('DELETE', '/domains/sys.auth/services/admin', undefined, ops)).status, 204);
      const fromDeleted = await recoverAdmin(configFor(dataDir), { force: true });
      assert.ok(fromDeleted.changes.includes('created sys.auth.admin'), fromDeleted.changes.join('; '));
      assert.ok(
        fromDeleted.changes.some((change) => change.includes('member of sys.auth:role.admin')),
        fromDeleted.changes.join('; '),
      );
      const second = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as { clientSecret: string };
      await eventually(t, 'sys.auth.admin', second.clientSecret, 200);
    } finally {
      await t.stop();
    }
  });

  it('refuses a wrong or missing master key, a missing database and an existing file, changing nothing', async () => {
    const dataDir = await newDir();
    const t = await startTestServer({ dataDir, flags: { issuer: 'https://tessera.test' } });
    try {
      const before = await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8');
      const otherKey = randomBytes(32).toString('base64');
      await assert.rejects(recoverAdmin(configFor(dataDir, { TESSERA_MASTER_KEY: otherKey }), { force: true }), MasterKeyMismatchError);
      await assert.rejects(recoverAdmin(configFor(dataDir)), (error: unknown) => {
        assert.ok(error instanceof RecoverAdminError);
        assert.match(error.message, /exists; pass --force/);
        return true;
      });
      assert.equal(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8'), before);
      assert.equal((await t.token(t.admin.clientId, t.admin.clientSecret, ADMIN_SCOPE)).status, 200, 'the refusals changed no secret');

      const empty = await newDir();
      await assert.rejects(recoverAdmin(configFor(empty)), /master key file .*master\.key does not exist/);
      await assert.rejects(stat(join(empty, 'master.key')), { code: 'ENOENT' }, 'no key is generated');
      await writeFile(join(empty, 'master.key'), `${otherKey}\n`, { mode: 0o600 });
      await assert.rejects(recoverAdmin(configFor(empty)), /no database at .*tessera\.db: check --data-dir/);
    } finally {
      await t.stop();
    }
  });
});
