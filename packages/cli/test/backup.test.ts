// tessera backup and tessera restore against a real server's data dir: a round trip with and
// without the master key in the backup, and every refusal, each of which writes nothing.
// (backup-attacks.test.ts: crafted and edited archives, and the data dir's lock.)

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';

import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { exists, rewriteBackup } from './helpers/backup.ts';
import { runCli } from './helpers/cli.ts';

interface BackupSummary {
  file: string;
  bytes: number;
  masterKeyIncluded: boolean;
  masterKeyFingerprint: string;
  schemaVersion: number;
  files: { name: string; bytes: number }[];
  counts: Record<string, number>;
}

describe('tessera backup and restore', () => {
  let work: string;
  let source: TestServer;
  let token: string;
  const servers: TestServer[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tessera-backup-'));
    source = await startTestServer({ dataDir: join(work, 'source') });
    servers.push(source);
    assert.equal((await source.admin$('POST', '/domains', { name: 'kept' })).status, 201);
    token = await source.adminToken();
  });

  after(async () => {
    for (const server of servers) await server.stop({ keepData: true });
    await rm(work, { recursive: true, force: true });
  });

  async function startOn(dataDir: string, flags: Record<string, string> = {}): Promise<TestServer> {
    // The operator kept the bootstrap credential apart when the backup did not carry it.
    if (!(await exists(join(dataDir, 'bootstrap-admin.json'))))
      await copyFile(join(source.dataDir, 'bootstrap-admin.json'), join(dataDir, 'bootstrap-admin.json'));
    const server = await startTestServer({ dataDir, flags });
    servers.push(server);
    return server;
  }

  async function assertRestored(server: TestServer): Promise<void> {
    assert.equal((await server.admin$('GET', '/domains/kept')).status, 200, 'a write made before the backup is there');
    const jwks = (await server.send('/oauth2/keys')).json as Parameters<typeof createLocalJWKSet>[0];
    // The restored server listens elsewhere, so its issuer differs; the signature is what is checked.
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks));
    assert.equal(payload.client_id, 'sys.auth.admin');
  }

  it('backs up a running server without its master key, and restores with the key given apart', async () => {
    const out = join(work, 'plain.tar');
    const priorities: number[] = [];
    const backup = await runCli(['backup', '--data-dir', source.dataDir, '--out', out, '--json'], { cwd: work, setPriority: (p) => priorities.push(p) });
    assert.equal(backup.code, 0, backup.stderr);
    assert.equal(backup.stderr, '');
    assert.deepEqual(priorities, [19], 'the copy yields the CPU to the server');
    const summary = JSON.parse(backup.stdout) as BackupSummary;
    assert.equal(summary.masterKeyIncluded, false);
    assert.deepEqual(
      summary.files.map((file) => file.name),
      ['tessera.db'],
    );
    assert.match(summary.masterKeyFingerprint, /^[\w-]{43}$/);
    assert.ok(summary.schemaVersion >= 11);
    assert.ok((summary.counts.domains ?? 0) >= 2, 'kept and sys.auth');
    assert.equal((await stat(out)).mode & 0o777, 0o600);
    const archive = await readFile(out);
    assert.equal(archive.toString('ascii', 257, 262), 'ustar', 'a tar archive');
    assert.equal(archive.indexOf((await readFile(join(source.dataDir, 'master.key'), 'utf8')).trim()), -1, 'the key is nowhere in it');

    const human = await runCli(['backup', '--data-dir', source.dataDir, '--out', join(work, 'human.tar')], { cwd: work });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /masterKeyIncluded: +false/);
    assert.match(human.stdout, new RegExp(`masterKeyFingerprint: +${summary.masterKeyFingerprint}`));

    const target = join(work, 'restored-plain');
    const keyFile = join(source.dataDir, 'master.key');
    const restore = await runCli(['restore', '--from', out, '--data-dir', target, '--master-key-file', keyFile], { cwd: work });
    assert.equal(restore.code, 0, restore.stderr);
    assert.equal(restore.stderr, '', 'a restore checked with the operator’s own key has nothing to warn about');
    assert.match(restore.stdout, new RegExp(`next: +tessera serve --data-dir ${target} --master-key-file ${keyFile}`));
    assert.deepEqual((await readdir(target)).sort(), ['tessera.db'], 'the key stays where it was kept');
    assert.equal((await stat(join(target, 'tessera.db'))).mode & 0o777, 0o600);
    await assertRestored(await startOn(target, { masterKeyFile: keyFile }));
  });

  it('with --include-master-key, warns, and restores a data dir that serve starts on as it is', async () => {
    const out = join(work, 'with-key.tar');
    const backup = await runCli(['backup', '--data-dir', source.dataDir, '--out', out, '--include-master-key', '--json'], { cwd: work });
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stderr, /^warning: .*holds the master key: it is as secret as the key itself/);
    const summary = JSON.parse(backup.stdout) as BackupSummary;
    assert.equal(summary.masterKeyIncluded, true);
    assert.deepEqual(summary.files.map((file) => file.name).sort(), ['bootstrap-admin.json', 'master.key', 'tessera.db']);

    const target = join(work, 'restored-with-key');
    const restore = await runCli(['restore', '--from', out, '--data-dir', target, '--json'], { cwd: work });
    assert.equal(restore.code, 0, restore.stderr);
    const restoredSummary = JSON.parse(restore.stdout) as { masterKey: string; masterKeyFingerprint: string; next: string; counts: Record<string, number> };
    assert.match(restoredSummary.masterKey, /^from the backup, written to .*master\.key$/);
    assert.equal(restoredSummary.masterKeyFingerprint, summary.masterKeyFingerprint);
    assert.equal(
      restore.stderr,
      `warning: the backup's MAC was checked with the master key the backup itself carries (fingerprint ${summary.masterKeyFingerprint}): ` +
        'nothing proves the backup is yours. Compare that fingerprint with your own key’s (tessera backup prints it) before serving this data dir\n',
    );
    assert.equal(restoredSummary.next, `tessera serve --data-dir ${target}`);
    assert.deepEqual(restoredSummary.counts, summary.counts);
    assert.deepEqual((await readdir(target)).sort(), ['bootstrap-admin.json', 'master.key', 'tessera.db']);
    assert.equal((await readFile(join(target, 'master.key'), 'utf8')).trim(), (await readFile(join(source.dataDir, 'master.key'), 'utf8')).trim());
    assert.equal((await stat(join(target, 'master.key'))).mode & 0o777, 0o600);
    const restored = await startOn(target);
    assert.deepEqual(restored.admin, source.admin, 'the bootstrap credential came along');
    await assertRestored(restored);
  });

  describe('refusals', () => {
    let plain: string;
    let withKey: string;
    before(async () => {
      plain = join(work, 'refusals.tar');
      withKey = join(work, 'refusals-key.tar');
      assert.equal((await runCli(['backup', '--data-dir', source.dataDir, '--out', plain], { cwd: work })).code, 0);
      assert.equal((await runCli(['backup', '--data-dir', source.dataDir, '--out', withKey, '--include-master-key'], { cwd: work })).code, 0);
    });

    async function refused(argv: string[], pattern: RegExp, env: Record<string, string> = {}): Promise<void> {
      const result = await runCli(argv, { cwd: work, env });
      assert.equal(result.code, 2, `${result.stdout}${result.stderr}`);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, pattern);
      assert.equal(result.stderr.trim().split('\n').length, 1, 'one line');
    }

    it('backup: a missing data dir, a dir without a database, an existing --out, PostgreSQL', async () => {
      await refused(
        ['backup', '--data-dir', join(work, 'nowhere'), '--out', join(work, 'x.tar')],
        /^error: cannot read the data dir .*nowhere: no such file; give the data dir of tessera serve/,
      );
      const empty = join(work, 'empty-data');
      await mkdir(empty);
      await refused(
        ['backup', '--data-dir', empty, '--out', join(work, 'x.tar')],
        /^error: .*empty-data holds no database \(tessera\.db\): is it the data dir tessera serve uses\?/,
      );
      const before = await readFile(plain);
      await refused(
        ['backup', '--data-dir', source.dataDir, '--out', plain],
        /^error: .*refusals\.tar already exists: choose another --out, or add --force to replace it/,
      );
      assert.deepEqual(await readFile(plain), before, 'untouched');
      await refused(
        ['backup', '--data-dir', source.dataDir, '--out', join(work, 'no-such-dir', 'x.tar')],
        /^error: cannot write beside .*no-such-dir\/x\.tar: no such file/,
      );
      const forced = await runCli(['backup', '--data-dir', source.dataDir, '--out', plain, '--force'], { cwd: work });
      assert.equal(forced.code, 0, forced.stderr);
      await refused(
        ['backup', '--data-dir', source.dataDir, '--out', join(work, 'pg.tar')],
        /^error: the database is PostgreSQL, which tessera backup does not copy: back it up with pg_dump or continuous WAL archiving \(docs\/backup\.md/,
        { TESSERA_DATABASE: 'postgres://postgres@127.0.0.1:5432/postgres', TESSERA_MASTER_KEY: randomBytes(32).toString('base64') },
      );
      assert.equal(await exists(join(work, 'x.tar')), false);
      assert.equal(await exists(join(work, 'pg.tar')), false);
      assert.deepEqual(
        (await readdir(work)).filter((name) => name.startsWith('.')),
        [],
        'no temporary files left behind',
      );
    });

    it("backup --include-master-key with a key that is not the database's writes nothing", async () => {
      const wrong = join(work, 'wrong-for-backup.key');
      await writeFile(wrong, randomBytes(32).toString('base64'));
      const out = join(work, 'wrong-key.tar');
      await refused(
        ['backup', '--data-dir', source.dataDir, '--out', out, '--include-master-key', '--master-key-file', wrong],
        /^error: the master key from .*wrong-for-backup\.key is not the one this database was created with/,
      );
      assert.equal(await exists(out), false);
    });

    it('restore: an unreadable file, a file that is not a backup, a damaged or truncated backup', async () => {
      const target = join(work, 'never');
      await refused(['restore', '--from', join(work, 'missing.tar'), '--data-dir', target], /^error: cannot read the backup .*missing\.tar: no such file/);
      await refused(['restore', '--from', work, '--data-dir', target], /^error: cannot read the backup .*: it is a directory/);
      const text = join(work, 'notes.txt');
      await writeFile(text, 'not a backup at all\n'.repeat(100));
      await refused(['restore', '--from', text, '--data-dir', target], /^error: .*notes\.txt is not a usable Tessera backup: not a tar archive/);

      const archive = await readFile(plain);
      const damaged = Buffer.from(archive);
      const middle = Math.floor(damaged.length / 2) + 100; // inside the database, by far the largest entry
      damaged[middle] = (damaged[middle]! + 1) % 256;
      await writeFile(join(work, 'damaged.tar'), damaged);
      const keyFlag = ['--master-key-file', join(source.dataDir, 'master.key')];
      await refused(
        ['restore', '--from', join(work, 'damaged.tar'), '--data-dir', target, ...keyFlag],
        /is not a usable Tessera backup: tessera\.db is damaged \(its SHA-256 differs from the manifest's\)/,
      );
      await writeFile(join(work, 'truncated.tar'), archive.subarray(0, Math.floor(archive.length / 2)));
      await refused(['restore', '--from', join(work, 'truncated.tar'), '--data-dir', target, ...keyFlag], /is not a usable Tessera backup: .*truncated/);
      assert.equal(await exists(target), false, 'nothing was written');
    });

    it('restore: a tar archive of something else, and a backup from a newer Tessera', async () => {
      const target = join(work, 'never-either');
      await writeFile(join(work, 'other.txt'), 'hello');
      execFileSync('tar', ['cf', join(work, 'other.tar'), '-C', work, 'other.txt']);
      await refused(
        ['restore', '--from', join(work, 'other.tar'), '--data-dir', target],
        /other\.tar is not a usable Tessera backup: it does not begin with tessera-backup\.json/,
      );

      // Made by the key's holder (the MAC checks out), with a schema from the future.
      const key = Buffer.from((await readFile(join(source.dataDir, 'master.key'), 'utf8')).trim(), 'base64url');
      const newer = await rewriteBackup(plain, 'newer.tar', { fields: { schemaVersion: 999 }, key });
      await refused(
        ['restore', '--from', newer, '--data-dir', target, '--master-key-file', join(source.dataDir, 'master.key')],
        /newer\.tar holds a database at schema version 999, newer than this Tessera's \(\d+\): restore it with the Tessera release that made it, or a newer one/,
      );
      const future = await rewriteBackup(plain, 'future-format.tar', { fields: { formatVersion: 3 } });
      await refused(
        ['restore', '--from', future, '--data-dir', target],
        /future-format\.tar is not a usable Tessera backup: it is in backup format version 3, and this Tessera reads version 2/,
      );
      assert.equal(await exists(target), false);
    });

    it('restore: a wrong master key is refused before anything is written', async () => {
      const wrong = join(work, 'wrong.key');
      await writeFile(wrong, randomBytes(32).toString('base64'));
      const target = join(work, 'wrong-key-target');
      const pattern = /^error: the master key from .* is not the one this backup was taken with \(fingerprint [\w-]{43}\): give the original key/;
      await refused(['restore', '--from', plain, '--data-dir', target, '--master-key-file', wrong], pattern);
      assert.equal(await exists(target), false, 'the data dir was not even created');
      // The backup's own key does not override a key given for serve that differs from it.
      await refused(['restore', '--from', withKey, '--data-dir', target], pattern, { TESSERA_MASTER_KEY: randomBytes(32).toString('base64') });
      assert.equal(await exists(target), false);
      // A wrong key already in the target, where serve would read it.
      await mkdir(target);
      await writeFile(join(target, 'master.key'), randomBytes(32).toString('base64'));
      await refused(['restore', '--from', withKey, '--data-dir', target], pattern);
      assert.deepEqual(await readdir(target), ['master.key'], 'nothing was added');
      await refused(
        ['restore', '--from', plain, '--data-dir', join(work, 'no-key-target')],
        /^error: the backup does not hold the master key: give the key it was taken with \(--master-key-file FILE or TESSERA_MASTER_KEY; fingerprint/,
      );
      assert.equal(await exists(join(work, 'no-key-target')), false);
      const missingKey = join(work, 'absent.key');
      await refused(
        ['restore', '--from', plain, '--data-dir', join(work, 'no-key-target'), '--master-key-file', missingKey],
        /^error: cannot read the master key file .*absent\.key: no such file/,
      );
    });

    it('restore: a target that holds a database, or anything but master.key, is refused', async () => {
      await refused(
        ['restore', '--from', withKey, '--data-dir', source.dataDir],
        /^error: .* already holds a database \(tessera\.db.*\): restore into a new or empty data dir; a restore never replaces a database/,
      );
      const cluttered = join(work, 'cluttered');
      await mkdir(cluttered);
      await writeFile(join(cluttered, 'notes'), 'x');
      await refused(
        ['restore', '--from', withKey, '--data-dir', cluttered],
        /^error: .*cluttered is not empty \(notes\): restore into a new or empty data dir \(it may hold only master\.key\)/,
      );
      assert.deepEqual(await readdir(cluttered), ['notes']);
      await refused(['restore', '--from', withKey, '--data-dir', plain], /^error: .*refusals\.tar is not a directory: give a new or empty data dir/);
      await refused(
        ['restore', '--from', withKey, '--data-dir', join(work, 'pg-target')],
        /^error: the database is configured as PostgreSQL, and tessera restore writes an embedded SQLite data dir: restore PostgreSQL with pg_restore/,
        { TESSERA_DATABASE: 'postgres://postgres@127.0.0.1:5432/postgres', TESSERA_MASTER_KEY: randomBytes(32).toString('base64') },
      );
      assert.equal(await exists(join(work, 'pg-target')), false);
    });

    it('restore into an existing empty dir that holds the right master.key works', async () => {
      const target = join(work, 'prepared');
      await mkdir(target);
      await writeFile(join(target, 'master.key'), await readFile(join(source.dataDir, 'master.key')));
      await chmod(join(target, 'master.key'), 0o600);
      const restore = await runCli(['restore', '--from', plain, '--data-dir', target], { cwd: work });
      assert.equal(restore.code, 0, restore.stderr);
      assert.match(restore.stdout, /next: +tessera serve --data-dir \S+prepared\n/);
      await assertRestored(await startOn(target));
    });
  });
});
