import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../src/lib/data-dir-lock.ts';
import { bootId, processStartTicks } from '../../src/lib/process-identity.ts';

const linux = process.platform === 'linux';

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

describe('the data dir lock', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const dir = async (): Promise<string> => {
    const path = await mkdtemp(join(tmpdir(), 'tessera-lock-'));
    dirs.push(path);
    return path;
  };

  it('refuses a second holder while the first one lives, naming its pid and URL', async () => {
    const dataDir = await dir();
    // The test process stands in for the running server.
    const first = await lockDataDir(dataDir, 'https://127.0.0.1:8443/');
    await first.serving('https://127.0.0.1:9443');
    await assert.rejects(lockDataDir(dataDir, 'https://127.0.0.1:8444/', process.pid + 1_000_000), (error: unknown) => {
      assert.ok(error instanceof DataDirInUseError);
      assert.equal(
        error.message,
        `the data dir ${dataDir} is in use by another tessera serve (pid ${process.pid}, serving at https://127.0.0.1:9443): stop it first, ` +
          'or give this one another --data-dir. To run several instances on this one SQLite file on purpose, pass --shared-data-dir (TESSERA_SHARED_DATA_DIR=1) to each',
      );
      return true;
    });
    await first.release();
    const second = await lockDataDir(dataDir, 'x', process.pid + 1_000_000);
    const { pid, url } = JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8'));
    assert.deepEqual({ pid, url }, { pid: process.pid + 1_000_000, url: 'x' });
    await first.release();
    assert.equal(JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8')).pid, process.pid + 1_000_000, 'release leaves a lock that is not its own');
    await second.release();
  });

  it('names tessera restore to a serve that starts while a restore holds the dir', async () => {
    const dataDir = await dir();
    const restore = await lockDataDir(dataDir, '', process.pid, 'tessera restore');
    await assert.rejects(lockDataDir(dataDir, 'https://127.0.0.1:8445/', process.pid + 1_000_000), (error: unknown) => {
      assert.ok(error instanceof DataDirInUseError);
      assert.match(error.message, new RegExp(`^the data dir ${dataDir} is in use by another tessera restore \\(pid ${process.pid}\\): stop it first`));
      assert.deepEqual(
        { pid: error.holder?.pid, url: error.holder?.url, command: error.holder?.command },
        { pid: process.pid, url: '', command: 'tessera restore' },
      );
      return true;
    });
    await restore.release();
    await (await lockDataDir(dataDir, 'https://127.0.0.1:8445/', process.pid + 1_000_000)).release();
  });

  it('takes over a lock whose process is gone, and an unreadable one that is not fresh', async () => {
    const dataDir = await dir();
    await writeFile(join(dataDir, LOCK_FILE), JSON.stringify({ pid: deadPid(), url: 'https://old' }));
    const lock = await lockDataDir(dataDir, 'https://new');
    assert.equal(JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8')).pid, process.pid);
    await lock.release();
    await writeFile(join(dataDir, LOCK_FILE), '');
    await assert.rejects(lockDataDir(dataDir, 'https://new'), /is being locked by another tessera serve at this moment/);
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dataDir, LOCK_FILE), old, old);
    await (await lockDataDir(dataDir, 'https://new')).release();
  });

  it('records the holder’s start time and boot id (Linux), and a fresh id each time it is written', { skip: !linux && 'no /proc' }, async () => {
    const dataDir = await dir();
    const lock = await lockDataDir(dataDir, 'https://a');
    const first = JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8'));
    assert.equal(first.pid, process.pid);
    assert.equal(first.start, await processStartTicks(process.pid));
    assert.match(first.start, /^\d+$/);
    assert.equal(first.boot, await bootId());
    await lock.serving('https://b');
    const second = JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8'));
    assert.deepEqual({ ...second, id: undefined }, { ...first, url: 'https://b', id: undefined });
    assert.notEqual(second.id, first.id);
    await lock.release();
  });

  it('takes over a lock whose pid is alive but is another process (other start time) or from another boot', { skip: !linux && 'no /proc' }, async () => {
    const dataDir = await dir();
    const file = join(dataDir, LOCK_FILE);
    const start = (await processStartTicks(process.pid))!;
    const boot = (await bootId())!;
    for (const stale of [
      { start: String(Number(start) + 1), boot },
      { start, boot: '00000000-0000-4000-8000-000000000000' },
    ]) {
      await writeFile(file, JSON.stringify({ pid: process.pid, url: 'https://old', ...stale }));
      const lock = await lockDataDir(dataDir, 'https://new', process.pid + 1_000_000);
      assert.equal(JSON.parse(await readFile(file, 'utf8')).url, 'https://new', JSON.stringify(stale));
      await lock.release();
    }
    // The same process in the same boot holds it.
    await writeFile(file, JSON.stringify({ pid: process.pid, url: 'https://old', start, boot }));
    await assert.rejects(lockDataDir(dataDir, 'https://new', process.pid + 1_000_000), DataDirInUseError);
  });

  it('an older version’s lock (pid only) holds while its pid’s process started before it was written', { skip: !linux && 'no /proc' }, async () => {
    const dataDir = await dir();
    const file = join(dataDir, LOCK_FILE);
    await writeFile(file, JSON.stringify({ pid: process.pid, url: 'https://old' }));
    await assert.rejects(lockDataDir(dataDir, 'https://new', process.pid + 1_000_000), DataDirInUseError);
    // Written an hour before this process started: the pid was another process's then.
    const old = new Date(Date.now() - process.uptime() * 1000 - 3_600_000);
    await utimes(file, old, old);
    await (await lockDataDir(dataDir, 'https://new', process.pid + 1_000_000)).release();
  });

  it('leaves a stale lock to the start that claimed it first, and passes over a claim whose claimant died', async () => {
    const dataDir = await dir();
    const file = join(dataDir, LOCK_FILE);
    const stale = JSON.stringify({ pid: deadPid(), url: 'https://old' });
    const claim = (level: number): string => `${file}.takeover-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}-${level}`;
    await writeFile(file, stale);
    // Another start (this live process) is replacing it: this one waits, then gives up.
    await writeFile(claim(0), JSON.stringify({ pid: process.pid, ...(linux ? { start: await processStartTicks(process.pid), boot: await bootId() } : {}) }));
    await assert.rejects(lockDataDir(dataDir, 'https://new', process.pid + 1_000_000), /is being locked by another tessera serve at this moment/);
    assert.equal(await readFile(file, 'utf8'), stale);
    // Its claimant died before replacing it: the next level's claim is free.
    await writeFile(claim(0), JSON.stringify({ pid: deadPid() }));
    const lock = await lockDataDir(dataDir, 'https://new', process.pid + 1_000_000);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).url, 'https://new');
    assert.deepEqual(await readdir(dataDir), [LOCK_FILE], 'the claims are removed once the lock is replaced');
    await lock.release();
  });

  it('leaves no temporary or moved-aside files behind', async () => {
    const dataDir = await dir();
    await writeFile(join(dataDir, LOCK_FILE), JSON.stringify({ pid: deadPid(), url: 'https://old' }));
    const lock = await lockDataDir(dataDir, 'https://new');
    await lock.serving('https://served');
    await assert.rejects(lockDataDir(dataDir, 'https://other', process.pid + 1_000_000), DataDirInUseError);
    assert.deepEqual(await readdir(dataDir), [LOCK_FILE]);
    await lock.release();
    assert.deepEqual(await readdir(dataDir), []);
  });
});
