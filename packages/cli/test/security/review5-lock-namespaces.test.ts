// Review 5 (outside attacker / operator mistake): the data dir's lock across pid namespaces. Two
// containers sharing one data dir volume (a rolling update, `docker compose --scale 2`, a
// ReadWriteMany volume) each run `tessera serve` as pid 1. The lock records a pid, and a lock
// holding the starting process's own pid is taken over as "this process's from an earlier start",
// so the second server starts beside the first on one SQLite file without --shared-data-dir. (A
// pid from another namespace is no better: it does not exist here, so its lock is "stale".) FAILS
// while the second start is not refused. Needs unshare(1) with pid namespaces (root or user ns); skipped otherwise.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '@tessera/testkit/port';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'tessera.ts');
const canUnshare =
  spawnSync('unshare', ['-Upf', '--map-root-user', '--mount-proc', 'true']).status === 0 || spawnSync('unshare', ['-pf', '--mount-proc', 'true']).status === 0;

function serveInNamespace(dataDir: string, port: number): { output: () => string; exited: Promise<number | null>; stop: () => Promise<void>; pid: number } {
  const child = spawn(
    'unshare',
    [
      '-pf',
      '--mount-proc',
      '--kill-child=SIGKILL',
      process.execPath,
      BIN,
      'serve',
      '--data-dir',
      dataDir,
      '--listen',
      `https://127.0.0.1:${port}`,
      '--workers',
      '1',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Bounded: a child that ignores the signal must not hold the test open.
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  return { output: () => output, exited, stop, pid: child.pid! };
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

describe('review5: the data dir lock between two containers', { skip: !canUnshare && 'unshare with pid namespaces is not available' }, () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('a second serve, pid 1 in its own pid namespace, is refused on a data dir the first serves', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-review5-ns-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const first = serveInNamespace(dataDir, await freePort());
    cleanup.push(() => first.stop());
    assert.ok(await until(() => first.output().includes('tessera is serving'), 30_000), `the first serve did not start: ${first.output()}`);

    const second = serveInNamespace(dataDir, await freePort());
    cleanup.push(() => second.stop());
    const serving = await until(() => second.output().includes('tessera is serving') || second.output().includes('in use'), 30_000);
    assert.ok(serving, `the second serve neither served nor was refused: ${second.output()}`);
    assert.ok(
      !second.output().includes('tessera is serving'),
      'a second tessera serve (pid 1 in another pid namespace, as in a second container on the same volume) took over the lock ' +
        'of the live first one and serves the same SQLite data dir without --shared-data-dir',
    );
  });
});
