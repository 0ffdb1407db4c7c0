// Review 4 (outside attacker): one `tessera serve` per SQLite data dir. After a crash the lock
// is stale, and two starts at once (systemd restarting a unit while an operator starts one by
// hand, two containers on one volume) both take it over: each reads the stale pid, the slower
// one unlinks the lock the faster one just wrote, and both serve. FAILS while that can happen.

import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lockDataDir } from '../../src/lib/data-dir-lock.ts';

/** A pid no process has now. */
function deadPid(): number {
  for (let pid = 4_000_000; ; pid -= 1) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
}

describe('review4: the data dir lock after a crash', () => {
  it('is taken over by one of two starts racing for it, never by both', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tessera-review4-lock-'));
    const stale = deadPid();
    // Two live processes' pids: this one and its parent.
    const [a, b] = [process.pid, process.ppid];
    let both = 0;
    let trials = 0;
    const deadline = Date.now() + 8000;
    try {
      for (; trials < 300 && Date.now() < deadline; trials += 1) {
        const dir = join(root, String(trials));
        const first = await lockDataDir(dir, 'https://127.0.0.1:1', stale);
        void first; // left behind: the crashed server
        const file = join(dir, 'tessera.lock');
        await writeFile(file, `${JSON.stringify({ pid: stale, url: 'https://127.0.0.1:1' })}\n`);
        const old = new Date(Date.now() - 60_000);
        await utimes(file, old, old);
        const results = await Promise.allSettled([lockDataDir(dir, 'https://127.0.0.1:2', a), lockDataDir(dir, 'https://127.0.0.1:3', b)]);
        if (results.every((r) => r.status === 'fulfilled')) both += 1;
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
    assert.equal(both, 0, `in ${both} of ${trials} races both starts took the lock over and would both serve`);
  });

  it('is taken over after a crash even when the dead server pid now belongs to another program (pid reuse after a reboot)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-review4-lock-'));
    try {
      // The lock a server left when the machine lost power; after the reboot its pid is some
      // other live program's (here: this test runner's parent, which is no tessera serve).
      const file = join(dir, 'tessera.lock');
      await writeFile(file, `${JSON.stringify({ pid: process.ppid, url: 'https://127.0.0.1:8443' })}\n`);
      const old = new Date(Date.now() - 3_600_000);
      await utimes(file, old, old);
      await assert.doesNotReject(lockDataDir(dir, 'https://127.0.0.1:8443'), 'serve refuses to start until someone deletes the lock by hand');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
