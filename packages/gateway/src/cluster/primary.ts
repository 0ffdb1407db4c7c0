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

import type { Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { createSecureContext } from 'node:tls';
import { superviseWorkers, type Slot as SupervisedSlot } from '@tessera/cluster';
import { GatewayConfigError, loadConfig, type GatewayConfig } from '../config/config.ts';
import { changedRestartSettings, secureOptions, watchConfigFiles, type LogEntry } from '../gateway.ts';
import type { LineSink } from '../observability/log-writer.ts';
import { addSnapshots, type MetricsSnapshot } from '../observability/metrics.ts';
import { ANSWER_MS, configToWire, isMessage, type FromWorker, type ToWorker } from './messages.ts';

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
const RELOAD_REFUSED = 'config reload refused; the running configuration is kept';

interface Slot extends SupervisedSlot {
  /** The configuration version the worker was started with or last sent. */
  version: number;
  /** Its counts when last asked, added to the retired ones once it exits. */
  counts: MetricsSnapshot | null;
}

type Waiter = { pending: Set<number>; done(): void; timer: NodeJS.Timeout };

export async function startGatewayCluster(config: GatewayConfig, options: ClusterOptions): Promise<RunningCluster> {
  const { log, output } = options;
  /** What a worker starts with: the start's listeners and Tessera settings, the last reload's routes and certificates. */
  let current = config;
  let version = 0;
  let retired: MetricsSnapshot = addSnapshots([]);
  const reloads = { applied: 0, refused: 0 };
  let nextId = 0;
  /** Reloads and scrapes waiting for the workers' answers, by id. */
  const waiting = new Map<number, Waiter & { answers: Map<number, FromWorker> }>();

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

  // Run from the TypeScript sources (a checkout), the workers load the workspace packages (the SDK)
  // from theirs too, as the bin makes the primary do.
  const execArgv = WORKER_SCRIPT.endsWith('.ts') ? [...process.execArgv, '--conditions=tessera-source'] : process.execArgv;
  // Forks, the ready handshake, restarts with their backoff and stopping: @tessera/cluster.
  const supervisor = superviseWorkers<Slot, Extract<FromWorker, { type: 'ready' }>>({
    workers: config.workers,
    slot: () => ({ version: 0, counts: null }),
    exec: WORKER_SCRIPT,
    execArgv,
    logError: (msg, details) => log({ level: 'error', msg, ...details }),
    exitDetails: (worker) => ({ pid: worker.process.pid }),
    onFork: (slot, worker) => worker.on('message', (message: unknown) => onMessage(slot, worker, message)),
    onReady: (slot, worker) => {
      // A reload that happened while it started: it gets the configuration now in force.
      if (slot.version !== version) {
        slot.version = version;
        worker.send({ type: 'apply', config: configToWire(current), id: nextId++ } satisfies ToWorker);
      }
      if (supervisor.started) log({ level: 'info', msg: `worker ${slot.index} is serving again`, worker: slot.index, pid: worker.process.pid });
    },
    onExit: (slot) => {
      if (slot.counts) retired = addSnapshots([retired, slot.counts]);
      slot.counts = null;
      for (const [id, entry] of waiting) if (entry.pending.has(slot.index)) answered(slot, id, { type: 'hello' });
    },
  });
  const { slots } = supervisor;
  // A worker's own close gives its connections 5 s before it ends them, then closes its token client.
  const stopWorkers = (): Promise<void> => supervisor.stop(options.stopTimeoutMs ?? 20_000);

  let first: { url: string; metricsUrl: string | undefined };
  try {
    const all = await Promise.all(slots.map((slot) => supervisor.fork(slot)));
    first = all[0]!;
    supervisor.markStarted();
  } catch (error) {
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
        watching.close();
        await stopWorkers();
      })();
      return closing;
    },
  };
}
