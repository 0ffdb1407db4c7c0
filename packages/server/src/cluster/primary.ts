// `tessera serve --workers N` (N > 1): this process accepts the connections and hands each one to
// a worker process (cluster/worker.ts) that runs the whole server. It loads neither fastify nor
// the storage drivers, so it stays small and has little that can crash it.
//
// Start: worker 0 first. It initializes the data dir (master key, migrations, CA, signing keys,
// bootstrap admin) and owns what must run once: signing-key and CA rotation, `ca.pem`, audit
// pruning. The others are forked with it and load their modules meanwhile, but start when it is
// ready, and only load what it stores.
//
// Connections (`workerDistribution`): by default they are dealt round robin, so every worker is
// used whatever the callers' addresses (a NAT, a Kubernetes Service that SNATs, an L4 load
// balancer or a benchmark all come from one address). The rate limits and the auth-failure
// counters live in each worker's memory, so each worker enforces its share of them
// (guards/worker-share.ts): rate and burst of the per-address and per-client buckets split
// between the workers, adding up to the configured ones, and the auth-failure alert threshold
// divided, rounded up. A caller whose connections are dealt to every worker gets about its
// configured budget in all and never more; one on a single keep-alive connection gets one
// worker's share (stricter, never looser). Alerts are counted per claimed client id and per
// address, each worker counting the failures it saw: one is raised by the worker whose own count
// reaches its share (failures spread evenly raise one by the time they reach the threshold in
// all; several workers may each raise one per window). With `by-address`, every connection from
// one address goes to one worker, picked by a hash of the address as the limits count it
// (policy/ip-ranges.ts addressKey): the per-address budgets and alerts are then whole and exact,
// but one busy address uses one core; a client's own budget and its alerts per client id stay per
// worker there (each against the whole configured value), since a client may call from several
// addresses. `by-address` is refused with trustedProxies (every connection would come from a
// proxy's address). The connection caps (`connections.max*`) and the refusal summaries stay per
// worker in both cases: they bound one process's descriptors and audit rows.
//
// SQLite: the primary runs the database's WAL checkpoints (cluster/sqlite-checkpoints.ts), whose
// fsyncs would otherwise stop a worker's event loop from inside one of its commits.
//
// Failures: a worker that exits is started again (worker 0 owns the timers again), after a
// delay that doubles while it keeps dying young. close() (SIGTERM, SIGINT) stops accepting, lets
// each worker drain its connections and write its buffered audit, and resolves when all exited.

import { once } from 'node:events';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { superviseWorkers, type Slot } from '@tessera/cluster';
import { listenPort } from '../config/values.ts';
import type { Config } from '../config/config.ts';
import { databaseConnections, databasePoolShare } from '../guards/worker-share.ts';
import { addressKey } from '../policy/ip-ranges.ts';
import { adminCredentialLine, servingLine, stoppedLine } from '../startup-lines.ts';
import { primaryLog } from './log.ts';
import { configToWire, type FromWorker, type ToWorker } from './messages.ts';
import { startSqliteCheckpoints, type SqliteCheckpointer } from './sqlite-checkpoints.ts';

export interface ClusterOptions {
  logStream?: { write(line: string): void };
  /** How long a worker may take to drain and stop before it is killed (ms; default connections.requestTimeout + 15 s). */
  stopTimeoutMs?: number;
}

export interface RunningCluster {
  url: string;
  /** Drains and stops the workers; `signal` (what asked for it) goes on the line that says it stopped. */
  close(signal?: string): Promise<void>;
  /** Tells every worker to read the server certificate files again (each also polls them). */
  reloadTls(): Promise<void>;
}

// worker.ts beside this file in the repository, worker.js once built into dist/ (tsc rewrites
// import specifiers, not this string).
const WORKER_SCRIPT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url));

export async function startCluster(config: Config, options: ClusterOptions = {}): Promise<RunningCluster> {
  const log = primaryLog(config.logLevel, options.logStream, config.logFormat);
  for (const warning of config.warnings ?? []) log.warn({}, warning);
  const wire = configToWire(config);
  /** Whether worker 0's first start created the bootstrap admin (it then logged where the credential is). */
  let wroteBootstrapCredential = false;
  let checkpoints: SqliteCheckpointer | null = null;

  // Restarts, their backoff and stopping: @tessera/cluster. A fork's process loads its modules at
  // once (most of a start's time), but is told to start only once `after` resolved: the others
  // wait for worker 0 to set up the data dir.
  const supervisor = superviseWorkers<Slot, Extract<FromWorker, { type: 'ready' }>>({
    workers: config.workers,
    slot: () => ({}),
    exec: WORKER_SCRIPT,
    logError: (message, details) => log.error(details, message),
    onFork: (slot, worker, after) => {
      void after.then(
        () => {
          if (slot.worker === worker && worker.isConnected()) {
            worker.send({ type: 'start', config: wire, worker: slot.index, ownsTimers: slot.index === 0 } satisfies ToWorker);
          }
        },
        () => undefined,
      );
    },
    onReady: (slot, _worker, message) => {
      if (!supervisor.started && message.wroteBootstrapCredential) wroteBootstrapCredential = true;
      if (supervisor.started && slot.index === 0) log.info({ worker: 0 }, 'worker 0 is back and owns key and CA rotation again');
    },
  });
  const { slots, fork } = supervisor;

  const byAddress = config.workerDistribution === 'by-address';
  let next = 0;
  const route = (socket: Socket): void => {
    const first = byAddress ? slotOf(addressKey(socket.remoteAddress ?? ''), slots.length) : next++ % slots.length;
    // While the chosen worker restarts, its addresses go to the next ready one.
    for (let offset = 0; offset < slots.length; offset += 1) {
      const { ready, worker } = slots[(first + offset) % slots.length]!;
      if (!ready || worker === null || !worker.isConnected()) continue;
      const message: ToWorker = { type: 'connection' };
      worker.send(message, socket, { keepOpen: false }, (error) => {
        if (error) socket.destroy();
      });
      return;
    }
    socket.destroy();
  };
  const listener: NetServer = createNetServer({ pauseOnConnect: true }, route);
  // An accepted socket that errors before it is handed over must not end the primary.
  listener.on('connection', (socket: Socket) => socket.on('error', () => socket.destroy()));

  // A worker waits up to connections.requestTimeout for requests in flight, then writes its audit.
  const stopWorkers = (): Promise<void> => supervisor.stop(options.stopTimeoutMs ?? (config.connections.requestTimeout + 15) * 1000);

  try {
    const first = fork(slots[0]!);
    const others = slots.slice(1).map((slot) => fork(slot, first));
    await first;
    // Worker 0 has migrated the database: from now on its log is checkpointed here, off the
    // workers' event loops (cluster/sqlite-checkpoints.ts).
    if (config.database.kind === 'sqlite') checkpoints = startSqliteCheckpoints(config.database.path, log);
    await Promise.all(others);
    supervisor.markStarted();
    const host = config.listen.hostname.replace(/^\[|\]$/g, '');
    listener.listen({ host, port: listenPort(config.listen) });
    await once(listener, 'listening');
    // Accept errors (EMFILE, say) are the listener's to report, not the end of the primary.
    listener.on('error', (error) =>
      log.error({ err: { message: error.message, code: (error as NodeJS.ErrnoException).code } }, 'accepting a connection failed'),
    );
  } catch (error) {
    listener.close();
    await stopWorkers();
    checkpoints?.close();
    throw error;
  }

  const address = listener.address();
  const port = typeof address === 'object' && address ? address.port : Number(config.listen.port);
  const url = `${config.listen.protocol}//${config.listen.hostname}:${port}`;
  const connections = config.database.kind === 'postgres' ? { databaseConnections: databaseConnections(config.databasePoolSize, slots.length) } : {};
  const serving = servingLine(
    config,
    url,
    slots.length,
    { storage: config.database.kind, distribution: config.workerDistribution, ...connections },
    ` with ${slots.length} worker processes` +
      (config.database.kind === 'postgres'
        ? `, holding up to ${connections.databaseConnections} PostgreSQL connections ` +
          `(each worker a pool of ${databasePoolShare(config.databasePoolSize, slots.length)} and one LISTEN connection)`
        : ''),
  );
  log.info(serving.details, serving.message);
  if (!wroteBootstrapCredential) {
    const credential = adminCredentialLine(config);
    log.info(credential.details, credential.message);
  }

  let closing: Promise<void> | null = null;
  return {
    url,
    async reloadTls() {
      for (const { worker } of slots) {
        if (worker !== null && worker.isConnected()) worker.send({ type: 'reload-tls' } satisfies ToWorker);
      }
    },
    close(signal?: string) {
      closing ??= (async () => {
        const since = Date.now();
        listener.close();
        await stopWorkers();
        checkpoints?.close();
        const stopped = stoppedLine(signal, since, Date.now(), slots.length);
        log.info(stopped.details, stopped.message);
      })();
      return closing;
    },
  };
}

/** FNV-1a of the address key: the same address always lands on the same worker. */
export function slotOf(key: string, slots: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % slots;
}
