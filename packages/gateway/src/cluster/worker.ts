// One worker process of `tessera gateway --workers N` (cluster/primary.ts forks it): the whole
// gateway (listener, routes, caches, metrics listener), started from the configuration the
// primary loaded. Its listeners are node:cluster's: the primary holds the sockets and deals the
// connections out. It never reads or watches the config file; the primary sends each reload.
//
// Log lines go to the primary, which writes them: batched as in one process (log-writer.ts, at
// most one message per FLUSH_MS but for lines that are not access lines), so the cost is one IPC
// message per batch, and lines of two workers never interleave on stdout however long they are.

import { startGateway, type Gateway } from '../gateway.ts';
import { createLogWriter, type LogWriter } from '../observability/log-writer.ts';
import type { MetricsSnapshot } from '../observability/metrics.ts';
import { ANSWER_MS, configFromWire, isMessage, type FromWorker, type ToWorker } from './messages.ts';

const send = (message: FromWorker, done?: () => void): void => {
  if (process.send && process.connected) process.send(message, undefined, {}, done);
  else done?.();
};

let gateway: Gateway | null = null;
let writer: LogWriter | null = null;
let stopping: Promise<void> | null = null;
let nextTotal = 0;
/** How long a scrape waits for the primary's total: twice the primary's own bound on the workers' answers. */
const TOTAL_WAIT_MS = 2 * ANSWER_MS;
const totals = new Map<number, { resolve(snapshot: MetricsSnapshot): void; reject(error: Error): void }>();

process.on('message', (message: unknown) => {
  if (!isMessage<ToWorker>(message)) return;
  switch (message.type) {
    case 'start':
      void start(message);
      break;
    case 'apply': {
      const outcome = gateway ? gateway.apply(configFromWire(message.config)) : { applied: false as const, error: 'the worker is not started' };
      send({ type: 'applied', id: message.id, ...(!outcome.applied && { error: outcome.error }) });
      break;
    }
    case 'collect-metrics':
      if (gateway) send({ type: 'snapshot', id: message.id, snapshot: gateway.metrics() });
      break;
    case 'metrics-total': {
      const waiting = totals.get(message.id);
      totals.delete(message.id);
      if (message.snapshot) waiting?.resolve(message.snapshot);
      else waiting?.reject(new Error(message.error ?? 'no answer'));
      break;
    }
    case 'shutdown':
      void stop();
      break;
  }
});
// The primary reloads on SIGHUP and stops on Ctrl-C, both sent to the whole process group: a
// worker waits for the primary's word.
process.on('SIGHUP', () => undefined);
send({ type: 'hello' });
process.on('SIGINT', () => undefined);
// A worker stopped on its own drains like at shutdown; the primary starts it again.
process.on('SIGTERM', () => void stop());
// The primary is gone: nobody deals connections or writes the log any more.
process.on('disconnect', () => void stop());

async function start(message: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  writer = createLogWriter({ write: (text: string) => send({ type: 'log', text }) }, undefined, { worker: message.worker, pid: process.pid });
  try {
    gateway = await startGateway(configFromWire(message.config), {
      log: writer.log,
      watchConfig: false,
      announce: false,
      metricsTotal,
    });
    send({ type: 'ready', url: gateway.url, metricsUrl: gateway.metricsUrl });
  } catch (error) {
    writer.flush();
    send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }, () => process.exit(1));
  }
}

/**
 * The total of every worker's counts, from the primary. The primary answers within its own
 * ANSWER_MS whatever the workers do; a primary that is stopped or overloaded would leave the
 * scrape hanging, so the wait has a bound of its own. (A primary that is gone takes the worker
 * with it: node:cluster ends a worker whose IPC channel closes unasked.)
 */
function metricsTotal(): Promise<MetricsSnapshot> {
  return new Promise<MetricsSnapshot>((resolve, reject) => {
    const id = nextTotal++;
    const timer = setTimeout(() => fail(new Error(`the primary process did not answer within ${TOTAL_WAIT_MS / 1000} s`)), TOTAL_WAIT_MS);
    const end = (): void => {
      clearTimeout(timer);
      totals.delete(id);
    };
    const fail = (error: Error): void => {
      end();
      reject(error);
    };
    totals.set(id, {
      resolve: (snapshot) => {
        end();
        resolve(snapshot);
      },
      reject: fail,
    });
    send({ type: 'metrics-request', id });
  });
}

/** Stops listening, lets the connections drain (gateway.close), hands the last log lines over, and exits. */
function stop(): Promise<void> {
  stopping ??= (async () => {
    try {
      await gateway?.close();
    } finally {
      writer?.flush();
      // Messages leave in order: once this one is written, so are the log lines before it.
      send({ type: 'log', text: '' }, () => process.exit(0));
    }
  })();
  return stopping;
}
