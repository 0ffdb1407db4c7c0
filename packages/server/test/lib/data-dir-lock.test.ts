import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../src/lib/data-dir-lock.ts';

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
    assert.deepEqual(JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8')), { pid: process.pid + 1_000_000, url: 'x' });
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
      assert.deepEqual(error.holder, { pid: process.pid, url: '', command: 'tessera restore' });
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
});
