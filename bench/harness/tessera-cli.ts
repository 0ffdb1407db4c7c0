// Tessera as its users start it: `tessera serve`, with `--workers <n>` when this build has the
// flag (node:cluster inside Tessera, all cores by default). A build without it is started the
// way the benchmark always did (servers/tessera.ts, several processes through the bench's own
// node:cluster wrapper), and says so, so the same harness measures old and new builds.

import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { descendants, freePort, lastWords, waitUntilReady, type Child, type Children } from './processes.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SOURCE_CLI = join(ROOT, 'packages', 'cli', 'bin', 'tessera.ts');
const BUILT_CLI = join(ROOT, 'packages', 'cli', 'dist', 'bin', 'tessera.js');
const BENCH_SERVER = join(import.meta.dirname, '..', 'servers', 'tessera.ts');

/** The command the Tessera rows start: its TypeScript sources until useBuiltCli() is called. */
let cli = SOURCE_CLI;

/**
 * Production runs the JavaScript that `npm run build` puts in dist/ (what the packages install),
 * not the sources through type stripping, which hold more memory: builds it (incrementally, a few
 * seconds) and starts that from then on. Returns how the rows run, for the report.
 */
export async function useBuiltCli(options: { build?: boolean } = {}): Promise<string> {
  // Without the build: dist/ as it is (to compare builds kept aside, swapped in between runs).
  if (options.build !== false) await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT, timeout: 300_000 });
  cli = BUILT_CLI;
  return 'built JavaScript (`npm run build`, packages/cli/dist/bin/tessera.js), as the installed packages run';
}

let workersFlag: Promise<boolean> | undefined;

/** Whether `tessera serve` in this checkout accepts `--workers` (asked once, from its help). */
export function serveHasWorkers(): Promise<boolean> {
  workersFlag ??= promisify(execFile)(process.execPath, [cli, 'serve', '--help'], { timeout: 30_000 }).then(
    ({ stdout }) => /--workers\b/.test(stdout),
    () => false,
  );
  return workersFlag;
}

export interface TesseraStart {
  children: Children;
  dataDir: string;
  /** A postgres:// URL; the data dir's SQLite file when absent. */
  database?: string;
  /** `tessera serve --workers`: a count, or 'auto' for the flag left out (every core). */
  workers: number | 'auto';
  env: NodeJS.ProcessEnv;
  nodeFlags: string[];
  timeoutMs: number;
  /** Only through the bench server, which answers SIGUSR2 with a report (see servers/cluster.ts). */
  benchServer?: boolean;
}

export interface TesseraInstance {
  child: Child;
  origin: string;
  /** Every process whose memory and CPU count: the primary and its workers. */
  pids: number[];
  /** Whether the processes answer SIGUSR2 with a report line (the bench server does; `tessera serve` would die of it). */
  reportable: boolean;
  /** How it was started, when that is not `tessera serve --workers`. */
  note?: string;
  /** Milliseconds from spawn to ready (every process up and /readyz answering 200). */
  readyMs: number;
}

/** Starts one Tessera instance on a free loopback port and waits until it is ready. */
export async function startTessera(start: TesseraStart): Promise<TesseraInstance> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const processes = start.workers === 'auto' ? availableParallelism() : start.workers;
  const began = performance.now();
  if (!start.benchServer && (await serveHasWorkers())) {
    const args = ['serve', '--data-dir', start.dataDir, '--listen', origin, '--log-level', 'warn'];
    if (start.database) args.push('--database', start.database);
    if (start.workers !== 'auto') args.push('--workers', String(start.workers));
    const child = start.children.spawn(cli, args, { env: start.env, nodeFlags: start.nodeFlags });
    drain(child);
    try {
      await waitForReadyz(child, origin, start.timeoutMs);
      const pids = await waitForWorkers(child, processes, start.timeoutMs);
      return { child, origin, pids, reportable: false, readyMs: performance.now() - began };
    } catch (error) {
      await start.children.stop(child);
      throw error;
    }
  }
  const child = start.children.spawn(BENCH_SERVER, [JSON.stringify({ port, processes, dataDir: start.dataDir, database: start.database })], {
    env: start.env,
    nodeFlags: start.nodeFlags,
  });
  try {
    const { pids } = await waitUntilReady(child, start.timeoutMs);
    await waitForReadyz(child, origin, start.timeoutMs);
    const note =
      start.benchServer || processes === 1 ? undefined : `${processes} processes through the bench's node:cluster wrapper: this build's serve has no --workers`;
    return { child, origin, pids, reportable: true, note, readyMs: performance.now() - began };
  } catch (error) {
    await start.children.stop(child);
    throw error;
  }
}

/** Reads what `tessera serve` prints, so that a full pipe never stalls it. */
function drain(child: Child): void {
  void (async () => {
    try {
      const lines = child.lines[Symbol.asyncIterator]();
      while (!(await lines.next()).done);
    } catch {
      // A log line that is not JSON: the rest does not matter.
    }
  })();
}

async function waitForReadyz(child: Child, origin: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true));
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (exited) throw new Error(`exited with code ${await child.exited} before it was ready: ${lastWords(child.stderr())}`);
    try {
      const res = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `/readyz answered ${res.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`not ready within ${timeoutMs / 1000} s (${last}): ${lastWords(child.stderr())}`);
}

/** A cluster's workers are up within this after /readyz answers, or never will be. */
const WORKERS_WAIT_MS = 15_000;

/** The primary and, with more than one worker, its workers once all of them are up. */
async function waitForWorkers(child: Child, workers: number, timeoutMs: number): Promise<number[]> {
  const primary = child.process.pid ?? 0;
  const deadline = Date.now() + Math.min(timeoutMs, WORKERS_WAIT_MS);
  for (;;) {
    const pids = [primary, ...descendants(primary)];
    if (workers <= 1 || pids.length > workers || Date.now() > deadline) return pids;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
