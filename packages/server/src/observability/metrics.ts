// The Prometheus registry served at /metrics (http/health.ts), and the metrics the composition
// function itself keeps: token and client requests by result, and the storage's availability.
// Other modules register their own on the same registry (connection bounds, guards).

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { TokenObserver } from '../oauth2/client-guard.ts';
import type { AvailabilityWatch } from '../storage/availability.ts';
import { sqlStatements } from '../storage/drivers/statements.ts';

/** The process's default metrics, `tessera_worker{worker}` in a cluster worker, and the SQL statement count. */
export function createMetricsRegistry(options: { worker?: number }): Registry {
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  if (options.worker !== undefined) {
    // Each worker has its own metrics: a scrape sees the worker its address is sent to.
    new Gauge({ name: 'tessera_worker', help: 'The cluster worker that answered this scrape (1)', labelNames: ['worker'], registers: [metrics] }).set(
      { worker: String(options.worker) },
      1,
    );
  }
  metrics.registerMetric(sqlStatements);
  return metrics;
}

export interface RequestMetrics {
  /** Counts each token, introspection and revocation request by its result. */
  outcomes: TokenObserver;
  /** Counts one storage outage (storage-log.ts calls it when storage starts failing). */
  outage(): void;
}

/** Registers the request and storage metrics on `metrics`. */
export function registerRequestMetrics(metrics: Registry, availability: Pick<AvailabilityWatch, 'up'>): RequestMetrics {
  const tokenRequests = new Counter({ name: 'tessera_token_requests_total', help: 'Token requests by result', labelNames: ['result'], registers: [metrics] });
  const clientRequests = new Counter({
    name: 'tessera_client_requests_total',
    help: 'Introspection and revocation requests by endpoint and result',
    labelNames: ['endpoint', 'result'],
    registers: [metrics],
  });
  const outages = new Counter({
    name: 'tessera_storage_outages_total',
    help: 'Episodes of storage failures (one per outage, not per failed call)',
    registers: [metrics],
  });
  new Gauge({
    name: 'tessera_storage_up',
    help: '0 from a failed storage call until calls succeed again after 5 s without failures, else 1',
    registers: [metrics],
    collect() {
      this.set(availability.up ? 1 : 0);
    },
  });
  return {
    outcomes: {
      observe: (outcome) => {
        if (outcome.endpoint === 'token') tokenRequests.inc({ result: outcome.result });
        else clientRequests.inc({ endpoint: outcome.endpoint, result: outcome.result });
      },
    },
    outage: () => outages.inc(),
  };
}
