// Runs a benchmark server as one process or as several behind one port. Several means
// node:cluster with its default round-robin scheduling on Linux: the primary accepts each
// connection and hands it to the next worker, so every server under test is scaled the same
// way. Workers start one after another, so the first one alone creates a database schema.
//
// The ready line on stdout (`{"ready":true,"pids":[…]}`) lists every process whose memory
// counts: with a cluster, the primary too. On SIGUSR2 each serving process prints a report line
// (`{"report":{…}}`): how late its event loop ran since the last report (a blocked loop is what
// a p99 shows) and its memory as V8 sees it.

import cluster, { type Worker } from 'node:cluster';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface RunningServer {
  close(): Promise<void>;
}

export interface ServeOptions {
  processes: number;
  /** Starts one server in this process, listening on the shared port. */
  start: () => Promise<RunningServer>;
}

/** A worker that neither answers nor exits within this long is killed. */
const STOP_GRACE_MS = 5000;

/** Timer period of the event-loop monitor; its histogram holds whole periods, so this is subtracted. */
const LOOP_RESOLUTION_MS = 10;

export async function serve({ processes, start }: ServeOptions): Promise<void> {
  if (processes <= 1 || cluster.isWorker) {
    const server = await start();
    reportOnSignal();
    const stop = (): void => {
      // Exiting with process.exit (not by the signal) is what lets --cpu-prof write its profile.
      const deadline = setTimeout(() => process.exit(0), STOP_GRACE_MS);
      deadline.unref();
      void server.close().finally(() => process.exit(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (cluster.isWorker) process.send?.({ ready: true });
    else announce([process.pid]);
    return;
  }

  // The harness signals every pid it was given; a primary has nothing to report but must not die.
  process.on('SIGUSR2', () => {});
  const workers: Worker[] = [];
  for (let i = 0; i < processes; i += 1) {
    const worker = cluster.fork();
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (message: { ready?: boolean }) => (message.ready ? resolve() : reject(new Error('unexpected worker message'))));
      worker.once('exit', (code) => reject(new Error(`worker ${i + 1} exited with code ${code} before it was ready`)));
    });
    workers.push(worker);
  }
  let stopping = false;
  for (const worker of workers) {
    worker.on('exit', (code) => {
      if (stopping) return;
      process.stderr.write(`bench server: worker ${worker.process.pid} exited unexpectedly (code ${code})\n`);
      process.exit(1);
    });
  }
  const stop = (): void => {
    stopping = true;
    const exited = workers.map((worker) => new Promise<void>((resolve) => (worker.isDead() ? resolve() : worker.once('exit', () => resolve()))));
    for (const worker of workers) worker.process.kill('SIGTERM');
    const deadline = setTimeout(() => {
      for (const worker of workers) worker.process.kill('SIGKILL');
      process.exit(0);
    }, STOP_GRACE_MS);
    void Promise.all(exited).then(() => {
      clearTimeout(deadline);
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  announce([process.pid, ...workers.map((worker) => worker.process.pid ?? 0)]);
}

function reportOnSignal(): void {
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  process.on('SIGUSR2', () => {
    const lateMs = (ns: number): number => Math.max(0, Math.round(ns / 1e4) / 100 - LOOP_RESOLUTION_MS);
    const mb = (bytes: number): number => Math.round(bytes / 104_857.6) / 10;
    const memory = process.memoryUsage();
    const report = {
      pid: process.pid,
      loopDelayMs: { p50: lateMs(loop.percentile(50)), p99: lateMs(loop.percentile(99)), max: lateMs(loop.max) },
      memoryMb: {
        rss: mb(memory.rss),
        heapTotal: mb(memory.heapTotal),
        heapUsed: mb(memory.heapUsed),
        external: mb(memory.external),
        arrayBuffers: mb(memory.arrayBuffers),
      },
    };
    process.stdout.write(`${JSON.stringify({ report })}\n`);
    loop.reset();
  });
}

function announce(pids: number[]): void {
  process.stdout.write(`${JSON.stringify({ ready: true, pids })}\n`);
}

/** The one JSON argument every bench server takes. */
export function serverArgs<T>(): T {
  const raw = process.argv[2];
  if (!raw) throw new Error('usage: node <server>.ts \'{"port":…,"processes":…}\'');
  return JSON.parse(raw) as T;
}
