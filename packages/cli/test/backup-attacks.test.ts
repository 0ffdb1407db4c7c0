// tessera restore against backups someone changed where they are kept: with or without the
// master key, edited databases, missing or forged MACs, oversized entries, a manifest that lies
// about the schema, and a data dir another process holds. Each refusal writes nothing.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';

import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { exists, rewriteBackup } from './helpers/backup.ts';
import { runCli } from './helpers/cli.ts';

describe('tessera restore of a backup changed after it was written', () => {
  let work: string;
  let source: TestServer;
  let keyFile: string;
  let key: Buffer;
  let plain: string;
  let withKey: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tessera-backup-attacks-'));
    source = await startTestServer({ dataDir: join(work, 'source') });
    keyFile = join(source.dataDir, 'master.key');
    key = Buffer.from((await readFile(keyFile, 'utf8')).trim(), 'base64url');
    plain = join(work, 'plain.tar');
    withKey = join(work, 'with-key.tar');
    assert.equal((await runCli(['backup', '--data-dir', source.dataDir, '--out', plain], { cwd: work })).code, 0);
    assert.equal((await runCli(['backup', '--data-dir', source.dataDir, '--out', withKey, '--include-master-key'], { cwd: work })).code, 0);
  });

  after(async () => {
    await source.stop({ keepData: true });
    await rm(work, { recursive: true, force: true });
  });

  async function refused(argv: string[], pattern: RegExp, env: Record<string, string> = {}): Promise<void> {
    const result = await runCli(argv, { cwd: work, env });
    assert.equal(result.code, 2, `${result.stdout}${result.stderr}`);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, pattern);
    assert.equal(result.stderr.trim().split('\n').length, 1, 'one line');
  }

  /** The backup's database with a row added, as an attacker would plant one. */
  async function editedDatabase(backup: string): Promise<Buffer> {
    const scratch = join(work, `edit-${randomBytes(4).toString('hex')}`);
    await mkdir(scratch);
    execTar(backup, scratch);
    const db = new DatabaseSync(join(scratch, 'tessera.db'));
    db.prepare("INSERT INTO meta (key, value) VALUES ('planted', 'by someone without the key')").run();
    db.close();
    return readFile(join(scratch, 'tessera.db'));
  }

  function execTar(archive: string, into: string): void {
    const result = spawnSync('tar', ['xf', archive, '-C', into]);
    assert.equal(result.status, 0, String(result.stderr));
  }

  it('an edited database with its SHA-256 recomputed fails the MAC, with the key given or carried', async () => {
    const target = join(work, 'never-edited');
    const mac = /^error: .*\.tar is not a usable Tessera backup: its manifest fails its MAC check: the backup was altered after it was written \(or damaged\)/;
    const edited = await rewriteBackup(plain, 'edited.tar', { entries: { 'tessera.db': await editedDatabase(plain) } });
    await refused(['restore', '--from', edited, '--data-dir', target, '--master-key-file', keyFile], mac);
    const editedWithKey = await rewriteBackup(withKey, 'edited-with-key.tar', { entries: { 'tessera.db': await editedDatabase(withKey) } });
    await refused(['restore', '--from', editedWithKey, '--data-dir', target], mac);
    // A MAC under a key of the attacker's own does not pass for the operator's.
    const forged = await rewriteBackup(plain, 'forged.tar', { entries: { 'tessera.db': await editedDatabase(plain) }, key: randomBytes(32) });
    await refused(['restore', '--from', forged, '--data-dir', target, '--master-key-file', keyFile], mac);
    // A MAC that is not even hex, and one far too large to be a MAC.
    const garbled = await rewriteBackup(plain, 'garbled.tar', { entries: { 'tessera-backup.mac': Buffer.from('not a mac\n') } });
    await refused(['restore', '--from', garbled, '--data-dir', target, '--master-key-file', keyFile], mac);
    const huge = await rewriteBackup(plain, 'huge-mac.tar', { entries: { 'tessera-backup.mac': Buffer.alloc(257, 'a') } });
    await refused(
      ['restore', '--from', huge, '--data-dir', target, '--master-key-file', keyFile],
      /huge-mac\.tar is not a usable Tessera backup: its tessera-backup\.mac is implausibly large/,
    );
    assert.equal(await exists(target), false, 'nothing was written');
  });

  it('a backup without a MAC, or in the format before MACs, is refused', async () => {
    const target = join(work, 'never-unsigned');
    const unsigned = await rewriteBackup(plain, 'unsigned.tar', { drop: ['tessera-backup.mac'] });
    await refused(
      ['restore', '--from', unsigned, '--data-dir', target, '--master-key-file', keyFile],
      /unsigned\.tar is not a usable Tessera backup: its second entry is not tessera-backup\.mac, the MAC that shows the backup was not altered/,
    );
    const old = await rewriteBackup(plain, 'format-1.tar', { fields: { formatVersion: 1 }, drop: ['tessera-backup.mac'] });
    await refused(
      ['restore', '--from', old, '--data-dir', target, '--master-key-file', keyFile],
      /format-1\.tar is not a usable Tessera backup: it is in backup format version 1, which carries no MAC to show it was not altered, and this Tessera restores only version 2: take a new backup with this Tessera/,
    );
    assert.equal(await exists(target), false);
  });

  it('backup needs the master key even without --include-master-key, and refuses another key', async () => {
    // A data dir whose key is kept apart, as after a restore with --master-key-file.
    const dataDir = join(work, 'key-apart');
    const restored = await runCli(['restore', '--from', plain, '--data-dir', dataDir, '--master-key-file', keyFile], { cwd: work });
    assert.equal(restored.code, 0, restored.stderr);
    const out = join(work, 'key-apart.tar');
    await refused(
      ['backup', '--data-dir', dataDir, '--out', out],
      /^error: there is no master key file at .*key-apart\/master\.key, and a backup needs the key to authenticate its manifest: give the key tessera serve uses \(--master-key-file FILE or TESSERA_MASTER_KEY\); it goes into the backup only with --include-master-key$/m,
    );
    const wrong = join(work, 'wrong.key');
    await writeFile(wrong, randomBytes(32).toString('base64'));
    await refused(
      ['backup', '--data-dir', dataDir, '--out', out, '--master-key-file', wrong],
      /^error: the master key from .*wrong\.key is not the one this database was created with/,
    );
    assert.equal(await exists(out), false);

    const byFile = await runCli(['backup', '--data-dir', dataDir, '--out', out, '--master-key-file', keyFile], { cwd: work });
    assert.equal(byFile.code, 0, byFile.stderr);
    assert.equal((await readFile(out)).indexOf((await readFile(keyFile, 'utf8')).trim()), -1, 'the key is not in it');
    const byEnv = await runCli(['backup', '--data-dir', dataDir, '--out', join(work, 'key-env.tar')], {
      cwd: work,
      env: { TESSERA_MASTER_KEY: key.toString('base64') },
    });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    const again = await runCli(['restore', '--from', join(work, 'key-env.tar'), '--data-dir', join(work, 'key-env-restored'), '--master-key-file', keyFile], {
      cwd: work,
    });
    assert.equal(again.code, 0, again.stderr);
  });

  it('master.key and bootstrap-admin.json larger than 64 KiB are refused before they are read', async () => {
    const target = join(work, 'never-large');
    const bigKey = await rewriteBackup(withKey, 'big-key.tar', { entries: { 'master.key': Buffer.alloc(64 * 1024 + 1, 'A') }, key });
    await refused(
      ['restore', '--from', bigKey, '--data-dir', target],
      /big-key\.tar is not a usable Tessera backup: its master\.key is 65537 bytes, more than the 65536 this Tessera reads for it \(a real one is under 1 KiB\)/,
    );
    // At the limit it is read, and found not to be a key.
    const atLimit = await rewriteBackup(withKey, 'limit-key.tar', { entries: { 'master.key': Buffer.alloc(64 * 1024, 'A') }, key });
    await refused(
      ['restore', '--from', atLimit, '--data-dir', target],
      /limit-key\.tar is not a usable Tessera backup: master\.key: the master key must be 32 bytes/,
    );
    const bigBootstrap = await rewriteBackup(plain, 'big-bootstrap.tar', { entries: { 'bootstrap-admin.json': Buffer.alloc(64 * 1024 + 1, ' ') }, key });
    await refused(
      ['restore', '--from', bigBootstrap, '--data-dir', target, '--master-key-file', keyFile],
      /big-bootstrap\.tar is not a usable Tessera backup: its bootstrap-admin\.json is 65537 bytes, more than the 65536/,
    );
    assert.equal(await exists(target), false);
  });

  it("a manifest whose schema version is not the database's is refused, even under a valid MAC", async () => {
    const target = join(work, 'never-schema');
    const manifest = JSON.parse(execTarEntry(plain, 'tessera-backup.json')) as { schemaVersion: number };
    const lying = await rewriteBackup(plain, 'lying-schema.tar', { fields: { schemaVersion: manifest.schemaVersion - 1 }, key });
    await refused(
      ['restore', '--from', lying, '--data-dir', target, '--master-key-file', keyFile],
      new RegExp(
        `lying-schema\\.tar is not a consistent backup: its database is at schema version ${manifest.schemaVersion}, and its manifest says ${manifest.schemaVersion - 1}`,
      ),
    );
    assert.equal(await exists(target), false, 'the data dir made for it is gone again');
  });

  function execTarEntry(archive: string, name: string): string {
    const result = spawnSync('tar', ['xOf', archive, name]);
    assert.equal(result.status, 0, String(result.stderr));
    return result.stdout.toString('utf8');
  }

  describe('the data dir lock', () => {
    it('is refused while a live process holds the target, and leaves the target as it was', async () => {
      const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
      try {
        const target = join(work, 'held');
        await mkdir(target);
        await writeFile(join(target, 'tessera.lock'), `${JSON.stringify({ pid: holder.pid, url: 'https://127.0.0.1:9/' })}\n`);
        await refused(
          ['restore', '--from', plain, '--data-dir', target, '--master-key-file', keyFile],
          new RegExp(`^error: .*held is locked by tessera serve \\(pid ${holder.pid}\\): stop it first, or restore into another data dir`),
        );
        assert.deepEqual(await readdir(target), ['tessera.lock']);
        assert.equal(JSON.parse(await readFile(join(target, 'tessera.lock'), 'utf8')).pid, holder.pid, 'the holder keeps its lock');
      } finally {
        holder.kill();
      }
    });

    it('takes over a stale lock, and leaves none behind', async () => {
      const target = join(work, 'stale');
      await mkdir(target);
      const dead = spawnSync(process.execPath, ['-e', '']).pid;
      await writeFile(join(target, 'tessera.lock'), `${JSON.stringify({ pid: dead })}\n`);
      const result = await runCli(['restore', '--from', plain, '--data-dir', target, '--master-key-file', keyFile], { cwd: work });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await readdir(target), ['tessera.db']);
    });

    it('a lock that cannot be taken or read is refused', async () => {
      const target = join(work, 'odd-lock');
      await mkdir(join(target, 'tessera.lock'), { recursive: true });
      // A lock that is a directory can be neither read nor replaced, new or old.
      await refused(['restore', '--from', plain, '--data-dir', target, '--master-key-file', keyFile], /^error: cannot lock the data dir .*odd-lock: /);
      const old = new Date(Date.now() - 60_000);
      await utimes(join(target, 'tessera.lock'), old, old);
      await refused(['restore', '--from', plain, '--data-dir', target, '--master-key-file', keyFile], /^error: cannot lock the data dir .*odd-lock: /);
      assert.deepEqual(await readdir(target), ['tessera.lock']);
    });
  });
});
