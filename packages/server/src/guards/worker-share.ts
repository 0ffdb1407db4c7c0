// What one worker of `tessera serve --workers N --worker-distribution round-robin` (the default)
// enforces of the budgets kept in memory. Connections are dealt to the workers in turn, so one
// address's or one client's requests reach all of them, and each worker keeps its own buckets:
// with the whole budget in each, the fleet would allow N times the configured one. Each worker
// therefore holds a share, and the shares add up to the configured budget:
//
// - rate limits (per address and per client, and the console's sign-ins per address): the rate
//   divided by N (a bucket refills at any fractional rate), and the burst split into whole
//   shares, worker i taking one of the remainder when i < burst mod N (9 over 2 workers: 5 and
//   4). A share is at least 1, so with a burst smaller than N the fleet allows N back to back.
//   A rate of 0 (off) stays off.
// - the auth-failure alert threshold: divided by N, rounded up, so that failures dealt evenly
//   raise an alert by the time they reach the configured threshold in all (an alert is then
//   raised by the worker that saw its share, and several workers may each raise one per window).
//
// The connection caps (`connections.max*`) and the refusal summaries are not divided: they bound
// one process's descriptors and audit rows. With `by-address`, or one process, nothing is.

import type { Config } from '../config/config.ts';
import type { BucketLimit } from './rate-limit.ts';

export interface WorkerSlot {
  /** This worker's index, from 0. */
  worker: number;
  workers: number;
}

export type SharedBudgets = Pick<Config, 'rateLimits' | 'alerts'>;

/** The budgets worker `slot.worker` of `slot.workers` enforces (round robin); the configured ones for a single process. */
export function workerShare(config: SharedBudgets, slot: WorkerSlot | undefined): SharedBudgets {
  if (slot === undefined || slot.workers <= 1) return config;
  return {
    rateLimits: { client: bucketShare(config.rateLimits.client, slot), ip: bucketShare(config.rateLimits.ip, slot) },
    alerts: { ...config.alerts, failureThreshold: Math.max(1, Math.ceil(config.alerts.failureThreshold / slot.workers)) },
  };
}

/**
 * PostgreSQL connections a process's request pool holds at most: the configured total, divided
 * between the workers (at least 2 each, so a transaction never waits behind a lone read).
 */
export function databasePoolShare(total: number, workers: number): number {
  return workers <= 1 ? total : Math.max(2, Math.floor(total / workers));
}

/** What the instance holds at most on PostgreSQL, in all its processes: each pool and each one's LISTEN connection. */
export function databaseConnections(total: number, workers: number): number {
  const processes = Math.max(1, workers);
  return processes * (databasePoolShare(total, processes) + 1);
}

export function bucketShare(limit: BucketLimit, { worker, workers }: WorkerSlot): BucketLimit {
  if (limit.rate === 0) return limit;
  const burst = Math.floor(limit.burst / workers) + (worker < limit.burst % workers ? 1 : 0);
  return { rate: limit.rate / workers, burst: Math.max(1, burst) };
}
