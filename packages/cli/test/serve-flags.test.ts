// `tessera serve` re-executes itself with a small V8 young generation (src/serve-flags.ts); no
// other command does, and a flag the operator gave wins.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from '@tessera/testkit/port';
import { SERVE_NODE_FLAGS, restartWithServeFlags, serveEnvToAdd, serveFlagsToAdd, type ExecveProcess } from '../src/serve-flags.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'tessera.ts');

void describe('serveFlagsToAdd', () => {
  void it('adds the young-generation and old-generation flags to serve, also after global options', () => {
    const both = ['--max-semi-space-size=2', '--heap-growing-percent=50'];
    assert.deepEqual(serveFlagsToAdd(['serve', '--data-dir', 'x'], [], undefined), both);
    assert.deepEqual(serveFlagsToAdd(['--verbose', 'serve'], ['--enable-source-maps'], ''), both);
  });

  void it('adds nothing to other commands, nor to no command', () => {
    for (const args of [['token', 'serve'], ['admin', 'domains', 'list'], ['--help'], []]) assert.deepEqual(serveFlagsToAdd(args, [], undefined), []);
  });

  void it('leaves a flag the operator set, on the command line or in NODE_OPTIONS, in either spelling', () => {
    assert.deepEqual(serveFlagsToAdd(['serve'], ['--max-semi-space-size=16'], undefined), ['--heap-growing-percent=50']);
    assert.deepEqual(serveFlagsToAdd(['serve'], ['--max_semi_space_size=16'], undefined), ['--heap-growing-percent=50']);
    assert.deepEqual(serveFlagsToAdd(['serve'], [], '--enable-source-maps --max-semi-space-size=8'), ['--heap-growing-percent=50']);
    assert.deepEqual(serveFlagsToAdd(['serve'], ['--heap_growing_percent=80'], '--max-semi-space-size=8'), []);
  });
});

void describe('serveEnvToAdd', () => {
  void it('sets two malloc arenas for serve unless MALLOC_ARENA_MAX is set, and nothing for other commands', () => {
    assert.deepEqual(serveEnvToAdd(['serve'], { PATH: '/bin' }), { MALLOC_ARENA_MAX: '2' });
    assert.deepEqual(serveEnvToAdd(['serve'], { MALLOC_ARENA_MAX: '8' }), {});
    assert.deepEqual(serveEnvToAdd(['token'], {}), {});
  });
});

void describe('restartWithServeFlags', () => {
  const proc = (argv: string[], execve?: ExecveProcess['execve']): ExecveProcess => ({
    argv,
    execArgv: ['--no-warnings'],
    execPath: '/usr/bin/node',
    env: { PATH: '/bin' },
    ...(execve ? { execve } : {}),
  });

  void it('execs node again with its own flags, the added ones, the script and the arguments, in the same environment', () => {
    const calls: unknown[][] = [];
    const execve = ((...call: unknown[]) => void calls.push(call)) as unknown as ExecveProcess['execve'];
    restartWithServeFlags(proc(['/usr/bin/node', '/opt/tessera.ts', 'serve', '--listen', 'http://127.0.0.1:1'], execve));
    assert.deepEqual(calls, [
      [
        '/usr/bin/node',
        ['/usr/bin/node', '--no-warnings', ...SERVE_NODE_FLAGS, '/opt/tessera.ts', 'serve', '--listen', 'http://127.0.0.1:1'],
        { PATH: '/bin', MALLOC_ARENA_MAX: '2' },
      ],
    ]);
  });

  void it('re-executes for what is missing only, and not at all once nothing is', () => {
    const calls: unknown[][] = [];
    const execve = ((...call: unknown[]) => void calls.push(call)) as unknown as ExecveProcess['execve'];
    const flagged = { ...proc(['/usr/bin/node', '/opt/tessera.ts', 'serve'], execve), execArgv: [...SERVE_NODE_FLAGS] };
    restartWithServeFlags(flagged);
    assert.deepEqual(calls, [['/usr/bin/node', ['/usr/bin/node', ...SERVE_NODE_FLAGS, '/opt/tessera.ts', 'serve'], { PATH: '/bin', MALLOC_ARENA_MAX: '2' }]]);
    restartWithServeFlags({ ...flagged, env: { MALLOC_ARENA_MAX: '2' } });
    assert.equal(calls.length, 1);
  });

  void it('returns without exec for other commands, and where execve does not exist', () => {
    const execve = (() => assert.fail('no exec expected')) as unknown as ExecveProcess['execve'];
    restartWithServeFlags(proc(['/usr/bin/node', '/opt/tessera.ts', 'token'], execve));
    restartWithServeFlags(proc(['/usr/bin/node', '/opt/tessera.ts', 'serve']));
  });
});

/** Starts `tessera serve --workers 2` (plain HTTP), waits for /healthz, returns the serving process's command line and environment, and its workers' command lines. */
async function served(env: NodeJS.ProcessEnv): Promise<{ commandLine: string[]; environment: string[]; workers: string[][] }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-serve-flags-'));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--workers', '2', '--data-dir', dataDir, '--listen', `http://127.0.0.1:${port}`, '--log-level', 'warn'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env,
    },
  );
  try {
    const started = Date.now();
    for (;;) {
      const up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (res) => res.ok,
        () => false,
      );
      if (up) break;
      if (Date.now() - started > 30_000) throw new Error('tessera serve did not answer /healthz within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The PID spawned is the PID serving: execve replaced the process rather than starting another.
    const read = async (file: string): Promise<string[]> => (await readFile(`/proc/${child.pid}/${file}`, 'utf8')).split('\0').filter(Boolean);
    const children = (await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')).split(' ').filter(Boolean);
    const workers = await Promise.all(children.map(async (pid) => (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean)));
    return { commandLine: await read('cmdline'), environment: await read('environ'), workers };
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
  }
}

void describe('tessera serve, as its own process', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  const inherited = { ...process.env };
  delete inherited['MALLOC_ARENA_MAX'];

  void it('serves from the process it was started as, now running with the heap flags and two arenas, as do its workers', async () => {
    const { commandLine, environment, workers } = await served({ ...inherited, NODE_OPTIONS: '' });
    for (const flag of SERVE_NODE_FLAGS) assert.ok(commandLine.includes(flag), commandLine.join(' '));
    assert.equal(workers.length, 2, 'serve --workers 2 runs two worker processes');
    for (const worker of workers) for (const flag of SERVE_NODE_FLAGS) assert.ok(worker.includes(flag), worker.join(' '));
    assert.equal(commandLine.filter((arg) => arg === 'serve').length, 1);
    assert.ok(environment.includes('MALLOC_ARENA_MAX=2'));
  });

  void it('keeps the semi-space size and arena count the operator set', async () => {
    const { commandLine, environment } = await served({ ...inherited, NODE_OPTIONS: '--max-semi-space-size=4', MALLOC_ARENA_MAX: '4' });
    assert.ok(!commandLine.some((arg) => arg.startsWith('--max-semi-space-size')), commandLine.join(' '));
    assert.ok(environment.includes('MALLOC_ARENA_MAX=4'));
    assert.ok(!environment.includes('MALLOC_ARENA_MAX=2'));
  });
});
