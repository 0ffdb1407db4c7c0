// Review 4 (outside attacker): backup and restore. The attacker can write where backups are kept
// (an object store, a backup host) but has neither the master key nor any credential. The
// manifest's SHA-256s are not keyed, so an edited database with a recomputed manifest is
// indistinguishable from a real backup. Each test FAILS while the hole it names exists.

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { ArchiveWriter, listEntries, readEntry } from '../../src/backup/archive.ts';
import { createBackup, loadConfig, restoreBackup } from '../../src/backup/index.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Rewrites `backup` into `copy` with its database passed through `edit` and the manifest's hashes recomputed. */
async function tamper(backup: string, copy: string, scratch: string, edit: (db: DatabaseSync) => void): Promise<void> {
  const handle = await open(backup, 'r');
  const entries = await listEntries(handle);
  const data = new Map<string, Buffer>();
  for (const entry of entries) data.set(entry.name, await readEntry(handle, entry));
  await handle.close();
  const dbPath = join(scratch, 'edit.db');
  await writeFile(dbPath, data.get('tessera.db')!);
  const db = new DatabaseSync(dbPath);
  edit(db);
  db.close();
  const { readFile } = await import('node:fs/promises');
  data.set('tessera.db', await readFile(dbPath));
  const manifest = JSON.parse(data.get('tessera-backup.json')!.toString('utf8')) as { files: { name: string; bytes: number; sha256: string }[] };
  for (const file of manifest.files) {
    const bytes = data.get(file.name)!;
    file.bytes = bytes.length;
    file.sha256 = createHash('sha256').update(bytes).digest('hex');
  }
  data.set('tessera-backup.json', Buffer.from(JSON.stringify(manifest, null, 2)));
  const out = await open(copy, 'w', 0o600);
  const writer = new ArchiveWriter(out);
  for (const entry of entries) await writer.addBytes(entry.name, data.get(entry.name)!, new Date());
  await writer.finish();
  await out.close();
}

describe('review4: a backup edited by someone without the master key', () => {
  let work: string;
  let source: TestServer;
  const servers: TestServer[] = [];
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tessera-review4-backup-'));
    source = await startTestServer({ dataDir: join(work, 'source') });
    servers.push(source);
  });
  after(async () => {
    for (const server of servers) await server.stop({ keepData: true });
    await rm(work, { recursive: true, force: true });
  });

  it('is refused by restore (no admin key planted in sys.auth.admin survives into the restored server)', async () => {
    const config = loadConfig({ flags: { dataDir: source.dataDir }, env: {}, cwd: work });
    const backup = join(work, 'nightly.tar');
    // An ordinary backup: no --include-master-key.
    await createBackup({ config, out: backup });

    // The attacker registers a public key of their own on the bootstrap admin, in the file only.
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = attacker.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const edited = join(work, 'nightly-edited.tar');
    await tamper(backup, edited, work, (db) => {
      db.prepare('INSERT INTO public_keys (principal, kid, pem, created_at) VALUES (?, ?, ?, ?)').run('sys.auth.admin', 'evil', pem, Date.now());
    });

    // The operator restores "last night's backup" with the real master key.
    const target = join(work, 'restored');
    const restoreConfig = loadConfig({ flags: { dataDir: target, masterKeyFile: join(source.dataDir, 'master.key') }, env: {}, cwd: work });
    let restored = true;
    try {
      await restoreBackup({ config: restoreConfig, from: edited });
    } catch (error) {
      restored = false;
      assert.equal((error as { code?: string }).code, 'BACKUP_INVALID', String(error));
    }
    if (!restored) return;

    // It was accepted: show what the attacker now holds.
    await copyFile(join(source.dataDir, 'bootstrap-admin.json'), join(target, 'bootstrap-admin.json'));
    const server = await startTestServer({ dataDir: target, flags: { masterKeyFile: join(source.dataDir, 'master.key') } });
    servers.push(server);
    const tokenEndpoint = `${server.url}/oauth2/token`;
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ iss: 'sys.auth.admin', sub: 'sys.auth.admin', aud: tokenEndpoint, iat: now, exp: now + 60, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'evil' })
      .sign(attacker.privateKey);
    const res = await server.send('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'sys.auth:role.admin',
        client_assertion_type: JWT_BEARER,
        client_assertion: assertion,
      }).toString(),
    });
    assert.fail(
      `restore accepted a backup whose database was edited without the master key (the manifest's hashes are unkeyed); ` +
        `the planted key then got an admin token: ${res.status} ${res.text.slice(0, 120)}`,
    );
  });
});
