// Review 5 (outside attacker): the data dir's lock between `tessera restore` and `tessera serve`.
// Restore takes the lock so that no serve starts on the dir it writes; a serve started with
// --shared-data-dir takes no lock and so does not look at it either. FAILS while such a serve
// starts on a dir a live restore holds (it creates a fresh database the restore then renames over,
// under the running server).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { lockDataDir } from '../../src/lib/data-dir-lock.ts';
import { startServer } from '../../src/serve.ts';
import { freePort } from '@tessera/testkit/port';

describe('review5: serve --shared-data-dir and a restore holding the dir', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('a shared-data-dir serve refuses a dir a live tessera restore has locked', async () => {
    const target = await mkdtemp(join(tmpdir(), 'tessera-review5-lock-'));
    cleanup.push(() => rm(target, { recursive: true, force: true }));
    // A live process stands in for the restore (its lock names it `tessera restore`).
    const restore = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanup.push(() => void restore.kill());
    await new Promise((resolve) => restore.once('spawn', resolve));
    await lockDataDir(target, '', restore.pid!, 'tessera restore');

    const port = await freePort();
    const config = loadConfig({
      flags: { dataDir: target, listen: `https://127.0.0.1:${port}`, logLevel: 'silent', workers: '1', sharedDataDir: 'true' },
      env: {},
      cwd: target,
    });
    let running: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      running = await startServer(config, { logStream: { write: () => undefined } });
    } catch (error) {
      assert.match(String(error), /restore|in use|locked/i);
      return;
    }
    const files = await readdir(target);
    await running.close();
    assert.fail(`serve --shared-data-dir started on a dir a live restore holds, and wrote ${files.join(', ')} into it`);
  });
});
