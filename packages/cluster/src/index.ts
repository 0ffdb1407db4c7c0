// The supervision of node:cluster workers that `tessera serve --workers N` (the server's
// cluster/primary.ts) and `tessera gateway --workers N` (the gateway's) share. Internal to
// Tessera: those two packages depend on it, nothing else should.
//
// A primary has one slot per worker. fork() starts the slot's worker and resolves when it says
// `ready`, rejects when it says `failed` or exits first. Once the first start is over
// (markStarted), a worker that exits is started again, at once if it ran HEALTHY_RUN_MS or more,
// otherwise after a delay that doubles while it keeps dying young (FIRST_BACKOFF_MS up to
// MAX_BACKOFF_MS). stop() tells every worker to shut down (a `shutdown` message, SIGTERM if its
// channel is gone), kills one that takes longer than the timeout, and resolves once all exited.
// What the workers do, and every other message, is the primary's own business (its hooks).

import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';

/** A worker that ran this long before exiting is restarted at once; younger ones back off. */
export const HEALTHY_RUN_MS = 10_000;
export const FIRST_BACKOFF_MS = 250;
export const MAX_BACKOFF_MS = 30_000;

/** What the supervisor keeps of one worker's place. */
export interface Slot {
  readonly index: number;
  worker: Worker | null;
  ready: boolean;
  startedAt: number;
  /** Exits in a row of a worker that died young. */
  quickExits: number;
  restartTimer: NodeJS.Timeout | null;
}

/** What the supervisor itself reads from a worker: its answer to being started. */
export type Handshake = { type: 'ready' } | { type: 'failed'; message: string };

/** What the supervisor itself sends a worker: drain and exit. */
export interface Shutdown {
  type: 'shutdown';
}

export interface SupervisorOptions<S extends Slot, R extends { type: 'ready' }> {
  /** How many workers. */
  workers: number;
  /** The rest of a slot, for a primary that keeps more of each worker. */
  slot: (index: number) => Omit<S, keyof Slot>;
  /** The worker's script, and the Node.js flags it runs with (default: this process's). */
  exec: string;
  execArgv?: string[];
  /** Logs a worker that could not start, and one that exited and is restarted. */
  logError: (msg: string, details: Record<string, unknown>) => void;
  /** Fields after `worker` on the line that says a worker exited. */
  exitDetails?: (worker: Worker) => Record<string, unknown>;
  /** A worker was forked into `slot` (a start or a restart); `after` is fork()'s. Its listeners run before the handshake's. */
  onFork?: (slot: S, worker: Worker, after: Promise<unknown>) => void;
  /** The worker said `ready` (slot.ready is already true); called before fork() resolves with the message. */
  onReady?: (slot: S, worker: Worker, message: R) => void;
  /** The slot's current worker exited (slot.worker is already null); called whether it is restarted or not. */
  onExit?: (slot: S, worker: Worker) => void;
}

export interface Supervisor<S extends Slot, R> {
  readonly slots: readonly S[];
  /** Whether markStarted() was called: workers that exit are restarted. */
  readonly started: boolean;
  /** Starts the slot's worker; resolves with its `ready` message, rejects when it fails or exits first. */
  fork(slot: S, after?: Promise<unknown>): Promise<R>;
  /** The first start is over: from now on a worker that exits is started again. */
  markStarted(): void;
  /** Restarts no more; stops every worker (killed after `timeoutMs`) and resolves when all exited. */
  stop(timeoutMs: number): Promise<void>;
}

export function isMessage<T extends { type: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

/** The delay before a restart, given the exits in a row of a worker that died young. */
export function restartDelay(quickExits: number): number {
  return quickExits === 0 ? 0 : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (quickExits - 1));
}

export function superviseWorkers<S extends Slot, R extends { type: 'ready' }>(options: SupervisorOptions<S, R>): Supervisor<S, R> {
  const { logError } = options;
  const slots = Array.from(
    { length: options.workers },
    (_, index) => ({ index, worker: null, ready: false, startedAt: 0, quickExits: 0, restartTimer: null, ...options.slot(index) }) as S,
  );
  let stopping = false;
  /** Until every worker of the first start is ready, a failure fails the start instead of being retried. */
  let started = false;

  cluster.setupPrimary({ exec: options.exec, ...(options.execArgv && { execArgv: options.execArgv }), args: [], silent: false });

  const fork = (slot: S, after: Promise<unknown> = Promise.resolve()): Promise<R> => {
    slot.startedAt = Date.now();
    const worker = cluster.fork();
    slot.worker = worker;
    slot.ready = false;
    options.onFork?.(slot, worker, after);
    const ready = new Promise<R>((resolve, reject) => {
      worker.on('message', (message: unknown) => {
        if (!isMessage<Handshake>(message)) return;
        if (message.type === 'ready') {
          slot.ready = true;
          options.onReady?.(slot, worker, message as R);
          resolve(message as R);
        } else if (message.type === 'failed') {
          logError(`worker ${slot.index} could not start`, { worker: slot.index, error: message.message });
          reject(new Error(message.message));
        }
      });
      worker.on('exit', (code, signal) => {
        reject(new Error(`worker ${slot.index} exited (${signal ?? `code ${code}`}) before it was ready`));
        onExit(slot, worker, code, signal);
      });
    });
    // A restart's failure is logged and retried by onExit; only the first start's is the caller's.
    ready.catch(() => undefined);
    return ready;
  };

  const onExit = (slot: S, worker: Worker, code: number | null, signal: string | null): void => {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    options.onExit?.(slot, worker);
    if (stopping || !started) return;
    const ranMs = Date.now() - slot.startedAt;
    slot.quickExits = ranMs >= HEALTHY_RUN_MS ? 0 : slot.quickExits + 1;
    const delayMs = restartDelay(slot.quickExits);
    logError(
      slot.quickExits > 1
        ? `worker ${slot.index} keeps exiting soon after it starts; restarting it in ${delayMs} ms`
        : `worker ${slot.index} exited; restarting it`,
      { worker: slot.index, ...options.exitDetails?.(worker), code, signal, ranMs, restartInMs: delayMs, exitsInARow: slot.quickExits },
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (!stopping) void fork(slot);
    }, delayMs);
  };

  const stop = async (timeoutMs: number): Promise<void> => {
    stopping = true;
    await Promise.all(
      slots.map(async (slot) => {
        if (slot.restartTimer) clearTimeout(slot.restartTimer);
        const worker = slot.worker;
        if (worker === null || worker.isDead()) return;
        const exited = once(worker, 'exit');
        if (worker.isConnected()) worker.send({ type: 'shutdown' } satisfies Shutdown);
        else worker.process.kill('SIGTERM');
        const timer = setTimeout(() => worker.process.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  };

  return {
    slots,
    get started() {
      return started;
    },
    fork,
    markStarted() {
      started = true;
    },
    stop,
  };
}
