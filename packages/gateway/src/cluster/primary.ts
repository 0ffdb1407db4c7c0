// `tessera gateway --workers N` (N > 1): this process forks N workers (cluster/worker.ts), each
// running the whole gateway, and serves nothing itself. The listeners are node:cluster's: the
// workers listen, the primary holds the sockets and deals the connections out round robin (what
// node:cluster does on Linux), so every worker is used whatever the callers' addresses.
//
// The primary owns what must happen once:
// - the configuration: loaded and checked here at start and on each reload (SIGHUP, a change of
//   the file), then sent to every worker; a file that does not pass the checks is refused here
//   with one log line, and no worker hears of it. A worker started later gets the current one.
// - the log: workers send their lines (batched) and the primary writes them, so lines of two
//   workers never interleave, whatever their length and whatever stdout is.
// - the metrics total: a scrape reaches one worker, which asks the primary; the primary asks every
//   worker for its counts and answers their sum, plus the counts last seen from workers that
//   exited (so that the totals never go down), plus the reloads it counted itself.
//
// Failures: a worker that exits is started again, after a delay that doubles while it keeps
// dying young. close() (SIGTERM, SIGINT) tells each worker to stop: it stops listening, lets its
// connections drain, hands its last log lines over and exits; close() resolves once all exited.

import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createSecureContext } from 'node:tls';
import { GatewayConfigError, loadConfig, type GatewayConfig } from '../config/config.ts';
import { changedRestartSettings, secureOptions, watchConfigFiles, type LogEntry } from '../gateway.ts';
import type { LineSink } from '../observability/log-writer.ts';
import { addSnapshots, type MetricsSnapshot } from '../observability/metrics.ts';
import { configToWire, isMessage, type FromWorker, type ToWorker } from './messages.ts';

export interface ClusterOptions {
  /** The primary's own log lines (start, reloads, workers that exit). */
  log: (entry: LogEntry) => void;
  /** Where the workers' lines are written, as they come (stdout). */
  output: LineSink;
  /** Environment overrides applied to the file at start and on each reload. */
  env?: Readonly<Record<string, string | undefined>>;
  /** How long a worker may take to drain and stop before it is killed (ms; default 20 s). */
  stopTimeoutMs?: number;
}

export interface RunningCluster {
  readonly url: string;
  readonly metricsUrl: string | undefined;
  readonly workers: number;
  /** Reads the config file again and sends it to every worker; refused (one log line) when it does not pass the checks. */
  reload(): Promise<boolean>;
  close(): Promise<void>;
}

// worker.ts beside this file in the repository, worker.js once built into dist/.
const WORKER_SCRIPT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url));
/** A worker that ran this long before exiting is restarted at once; younger ones back off. */
const HEALTHY_RUN_MS = 10_000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;
/** How long a reload or a metrics scrape waits for the workers' answers. */
const ANSWER_MS = 2000;
const RELOAD_REFUSED = 'config reload refused; the running configuration is kept';

interface Slot {
  readonly index: number;
  worker: Worker | null;
  ready: boolean;
  startedAt: number;
  /** Exits in a row of a worker that died young. */
  quickExits: number;
  restartTimer: NodeJS.Timeout | null;
  /** The configuration version the worker was started with or last sent. */
  version: number;
  /** Its counts when last asked, added to the retired ones once it exits. */
  counts: MetricsSnapshot | null;
}

type Waiter = { pending: Set<number>; done(): void; timer: NodeJS.Timeout };

export async function startGatewayCluster(config: GatewayConfig, options: ClusterOptions): Promise<RunningCluster> {
  const { log, output } = options;
  const slots: Slot[] = Array.from({ length: config.workers }, (_, index) => ({
    index,
    worker: null,
    ready: false,
    startedAt: 0,
    quickExits: 0,
    restartTimer: null,
    version: 0,
    counts: null,
  }));
  /** What a worker starts with: the start's listeners and Tessera settings, the last reload's routes and certificates. */
  let current = config;
  let version = 0;
  let stopping = false;
  let started = false;
  let retired: MetricsSnapshot = addSnapshots([]);
  const reloads = { applied: 0, refused: 0 };
  let nextId = 0;
  /** Reloads and scrapes waiting for the workers' answers, by id. */
  const waiting = new Map<number, Waiter & { answers: Map<number, FromWorker> }>();

  // Run from the TypeScript sources (a checkout), the workers load the workspace packages (the SDK)
  // from theirs too, as the bin makes the primary do.
  const execArgv = WORKER_SCRIPT.endsWith('.ts') ? [...process.execArgv, '--conditions=tessera-source'] : process.execArgv;
  cluster.setupPrimary({ exec: WORKER_SCRIPT, execArgv, args: [], silent: false });

  const live = (): Slot[] => slots.filter((slot) => slot.ready && slot.worker !== null && slot.worker.isConnected());

  /** Sends `make(id)` to every ready worker; resolves with their answers once all answered, or after ANSWER_MS. */
  const ask = (make: (id: number) => ToWorker): Promise<Map<number, FromWorker>> => {
    const id = nextId++;
    const targets = live();
    return new Promise((resolve) => {
      const answers = new Map<number, FromWorker>();
      const done = (): void => {
        clearTimeout(entry.timer);
        waiting.delete(id);
        resolve(answers);
      };
      const entry = { pending: new Set(targets.map((slot) => slot.index)), answers, done, timer: setTimeout(() => done(), ANSWER_MS) };
      waiting.set(id, entry);
      if (targets.length === 0) done();
      for (const slot of targets) slot.worker!.send(make(id));
    });
  };
  const answered = (slot: Slot, id: number, message: FromWorker): void => {
    const entry = waiting.get(id);
    if (!entry || !entry.pending.delete(slot.index)) return;
    entry.answers.set(slot.index, message);
    if (entry.pending.size === 0) entry.done();
  };

  const total = async (): Promise<MetricsSnapshot> => {
    await ask((id) => ({ type: 'collect-metrics', id }));
    const own: MetricsSnapshot = { requests: [], durations: [], failures: [], reloads: Object.entries(reloads) };
    return addSnapshots([retired, ...slots.flatMap((slot) => (slot.counts ? [slot.counts] : [])), own]);
  };

  const onMessage = (slot: Slot, worker: Worker, message: unknown): void => {
    if (!isMessage<FromWorker>(message) || slot.worker !== worker) return;
    switch (message.type) {
      case 'hello':
        slot.version = version;
        worker.send({ type: 'start', config: configToWire(current), worker: slot.index } satisfies ToWorker);
        break;
      case 'log':
        if (message.text !== '') output.write(message.text);
        break;
      case 'snapshot':
        slot.counts = message.snapshot;
        answered(slot, message.id, message);
        break;
      case 'applied':
        answered(slot, message.id, message);
        break;
      case 'metrics-request':
        total().then(
          (snapshot) => worker.isConnected() && worker.send({ type: 'metrics-total', id: message.id, snapshot } satisfies ToWorker),
          (error: unknown) => worker.isConnected() && worker.send({ type: 'metrics-total', id: message.id, error: String(error) } satisfies ToWorker),
        );
        break;
      default:
        break;
    }
  };

  /** Starts the slot's worker; resolves with its URLs when it is ready, rejects when it fails or exits first. */
  const fork = (slot: Slot): Promise<{ url: string; metricsUrl: string | undefined }> => {
    slot.startedAt = Date.now();
    const worker = cluster.fork();
    slot.worker = worker;
    slot.ready = false;
    worker.on('message', (message: unknown) => onMessage(slot, worker, message));
    const ready = new Promise<{ url: string; metricsUrl: string | undefined }>((resolve, reject) => {
      worker.on('message', (message: unknown) => {
        if (!isMessage<FromWorker>(message)) return;
        if (message.type === 'ready') {
          slot.ready = true;
          // A reload that happened while it started: it gets the configuration now in force.
          if (slot.version !== version) {
            slot.version = version;
            worker.send({ type: 'apply', config: configToWire(current), id: nextId++ } satisfies ToWorker);
          }
          if (started) log({ level: 'info', msg: `worker ${slot.index} is serving again`, worker: slot.index, pid: worker.process.pid });
          resolve({ url: message.url, metricsUrl: message.metricsUrl });
        } else if (message.type === 'failed') {
          log({ level: 'error', msg: `worker ${slot.index} could not start`, worker: slot.index, error: message.message });
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

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null): void => {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    if (slot.counts) retired = addSnapshots([retired, slot.counts]);
    slot.counts = null;
    for (const [id, entry] of waiting) if (entry.pending.has(slot.index)) answered(slot, id, { type: 'hello' });
    if (stopping || !started) return;
    const ranMs = Date.now() - slot.startedAt;
    slot.quickExits = ranMs >= HEALTHY_RUN_MS ? 0 : slot.quickExits + 1;
    const delayMs = slot.quickExits === 0 ? 0 : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (slot.quickExits - 1));
    log({
      level: 'error',
      msg:
        slot.quickExits > 1
          ? `worker ${slot.index} keeps exiting soon after it starts; restarting it in ${delayMs} ms`
          : `worker ${slot.index} exited; restarting it`,
      worker: slot.index,
      pid: worker.process.pid,
      code,
      signal,
      ranMs,
      restartInMs: delayMs,
      exitsInARow: slot.quickExits,
    });
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (!stopping) void fork(slot);
    }, delayMs);
  };

  const stopWorkers = async (): Promise<void> => {
    // A worker's own close gives its connections 5 s before it ends them, then closes its token client.
    const timeoutMs = options.stopTimeoutMs ?? 20_000;
    await Promise.all(
      slots.map(async (slot) => {
        if (slot.restartTimer) clearTimeout(slot.restartTimer);
        const worker = slot.worker;
        if (worker === null || worker.isDead()) return;
        const exited = once(worker, 'exit');
        if (worker.isConnected()) worker.send({ type: 'shutdown' } satisfies ToWorker);
        else worker.process.kill('SIGTERM');
        const timer = setTimeout(() => worker.process.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  };

  let first: { url: string; metricsUrl: string | undefined };
  try {
    const all = await Promise.all(slots.map((slot) => fork(slot)));
    first = all[0]!;
    started = true;
  } catch (error) {
    stopping = true;
    await stopWorkers();
    throw error;
  }
  const reload = async (): Promise<boolean> => {
    let next: GatewayConfig;
    try {
      next = loadConfig(config.file, options.env ?? {});
      if (next.tls && config.tls) createSecureContext(secureOptions(next.tls));
    } catch (error) {
      reloads.refused += 1;
      const why = error instanceof GatewayConfigError ? error.message : `tls: ${(error as Error).message}`;
      log({ level: 'error', msg: RELOAD_REFUSED, file: config.file, error: why });
      return false;
    }
    const restartOnly = changedRestartSettings(config, next);
    current = {
      ...current,
      tls: current.tls && next.tls ? next.tls : current.tls,
      routes: next.routes,
      certificateMappings: next.certificateMappings,
      accessLog: next.accessLog,
      stripHeaders: next.stripHeaders,
      authz: next.authz,
    };
    version += 1;
    const wire = configToWire(current);
    for (const slot of live()) slot.version = version;
    const answers = await ask((id) => ({ type: 'apply', config: wire, id }));
    const refusals = [...answers].flatMap(([index, answer]) => (answer.type === 'applied' && answer.error ? [{ worker: index, error: answer.error }] : []));
    if (refusals.length > 0) {
      reloads.refused += 1;
      log({ level: 'error', msg: RELOAD_REFUSED, file: config.file, error: refusals[0]!.error, workers: refusals.map((r) => r.worker) });
      return false;
    }
    reloads.applied += 1;
    const pending = restartOnly.length > 0 && { notApplied: restartOnly, note: 'these settings take effect at the next start' };
    log({ level: 'info', msg: 'config reloaded', routes: next.routes.length, workers: answers.size, ...pending });
    return true;
  };
  const watching = watchConfigFiles(config, () => void reload());

  log({
    level: 'info',
    msg: 'gateway listening',
    url: first.url,
    routes: config.routes.length,
    ...(first.metricsUrl && { metrics: first.metricsUrl }),
    workers: slots.length,
  });

  let closing: Promise<void> | null = null;
  return {
    url: first.url,
    metricsUrl: first.metricsUrl,
    workers: slots.length,
    reload,
    close() {
      closing ??= (async () => {
        stopping = true;
        watching.close();
        await stopWorkers();
      })();
      return closing;
    },
  };
}
