// The data dir lock across pid namespaces (two containers on one volume, each serving as pid 1),
// and the read-only look a shared-data-dir serve takes at it.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataDirInUseError, LOCK_FILE, holderOf, lockDataDir } from '../../src/lib/data-dir-lock.ts';
import { bootId, pidNamespace, processStartTicks } from '../../src/lib/process-identity.ts';

const linux = process.platform === 'linux';
const OTHER_NS = 'pid:[1]';

describe('the data dir lock and pid namespaces', { skip: !linux && 'no /proc' }, () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const dir = async (): Promise<string> => {
    const path = await mkdtemp(join(tmpdir(), 'tessera-lock-ns-'));
    dirs.push(path);
    return path;
  };

  it('records this process’s pid namespace in the lock', async () => {
    const dataDir = await dir();
    const lock = await lockDataDir(dataDir, 'https://a');
    assert.equal(JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8')).ns, await pidNamespace());
    assert.match((await pidNamespace())!, /^pid:\[\d+\]$/);
    await lock.release();
  });

  it('refuses a fresh lock from another pid namespace, also one bearing this very pid and start time, saying how to clear it', async () => {
    const dataDir = await dir();
    const file = join(dataDir, LOCK_FILE);
    const [start, boot] = [(await processStartTicks(process.pid))!, (await bootId())!];
    for (const pid of [process.pid, 1, 999_999_999]) {
      await writeFile(file, JSON.stringify({ pid, url: 'https://other:8443', start, boot, ns: OTHER_NS }));
      await assert.rejects(lockDataDir(dataDir, 'https://new', process.pid), (error: unknown) => {
        assert.ok(error instanceof DataDirInUseError);
        assert.equal(
          error.message,
          `the data dir ${dataDir} is in use by a tessera serve in another pid namespace (pid ${pid} there, serving at https://other:8443), ` +
            'most likely another container on the same volume, whose process cannot be checked from here: give each container a data dir of its own. ' +
            `If no other container uses this dir, delete ${file}; a lock its holder has not touched for 60 s is taken over by itself`,
        );
        return true;
      });
    }
  });

  it('takes over a lock from another pid namespace once untouched for a minute, or from another boot', async () => {
    const dataDir = await dir();
    const file = join(dataDir, LOCK_FILE);
    const boot = (await bootId())!;
    await writeFile(file, JSON.stringify({ pid: 1, url: 'https://old', boot, ns: OTHER_NS }));
    const old = new Date(Date.now() - 61_000);
    await utimes(file, old, old);
    await (await lockDataDir(dataDir, 'https://new')).release();
    await writeFile(file, JSON.stringify({ pid: 1, url: 'https://old', boot: '00000000-0000-4000-8000-000000000000', ns: OTHER_NS }));
    await (await lockDataDir(dataDir, 'https://new')).release();
  });

  it('is touched every 15 s while held, so that another namespace sees its holder alive, and no longer once released', async (t) => {
    const dataDir = await dir();
    const file = join(dataDir, LOCK_FILE);
    t.mock.timers.enable({ apis: ['setInterval'] });
    const lock = await lockDataDir(dataDir, 'https://a');
    const old = new Date(Date.now() - 3_600_000);
    await utimes(file, old, old);
    t.mock.timers.tick(15_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(Date.now() - (await stat(file)).mtimeMs < 10_000, 'the held lock was not touched');
    await lock.release();
    t.mock.timers.reset();
  });

  it('still takes over this process’s own lock from an earlier start in this namespace', async () => {
    const dataDir = await dir();
    const file = join(dataDir, LOCK_FILE);
    await writeFile(file, JSON.stringify({ pid: process.pid, url: 'https://old', start: '1', boot: await bootId(), ns: await pidNamespace() }));
    const lock = await lockDataDir(dataDir, 'https://new');
    assert.equal(JSON.parse(await readFile(file, 'utf8')).url, 'https://new');
    await lock.release();
  });
});

describe('holderOf, the look a shared-data-dir serve takes', () => {
  it('names a live holder, and nothing for no lock, a dead holder or an unreadable lock', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-lock-holder-'));
    try {
      assert.equal(await holderOf(dataDir), null);
      const lock = await lockDataDir(dataDir, '', process.pid, 'tessera restore');
      assert.deepEqual({ ...(await holderOf(dataDir)) }.command, 'tessera restore');
      await lock.release();
      await writeFile(join(dataDir, LOCK_FILE), JSON.stringify({ pid: spawnSync(process.execPath, ['-e', '']).pid, command: 'tessera restore' }));
      assert.equal(await holderOf(dataDir), null);
      await writeFile(join(dataDir, LOCK_FILE), 'not json');
      assert.equal(await holderOf(dataDir), null);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
