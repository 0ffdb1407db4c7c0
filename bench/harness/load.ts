// The load generator, in a process of its own so that it never shares an event loop with a
// server under test or with the harness's samplers. Two ways to load:
//
// - `closed`: autocannon, each connection sending its next request as soon as the last one is
//   answered. Measures peak tokens/s. A warm-up run comes first and is thrown away.
// - `paced`: an open-loop generator for latency at a given rate (harness/paced.ts). autocannon's
//   own `overallRate` is not used for this: each connection sends its quota for the second
//   back to back and then idles, which is full concurrency for part of every second.
//
// Prints `{"phase":"measuring"}` when the measured part starts, then one JSON result line.

import autocannon from 'autocannon';
import { ConnectionPool, pacedRun } from './paced.ts';

export interface LoadPlan {
  mode: 'closed' | 'paced';
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  /** Requests per second, for `paced`. */
  rate?: number;
}

export interface LoadResult {
  /** 2xx answers in the measured part. */
  ok: number;
  failed: number;
  /** Status codes of the failures, e.g. `{"429": 12}`, and error names. */
  failures: Record<string, number>;
  elapsedSeconds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const plan = JSON.parse(process.argv[2] ?? '{}') as LoadPlan;
const say = (line: unknown): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

if (plan.mode === 'closed') {
  const run = (seconds: number): Promise<autocannon.Result> =>
    autocannon({ url: plan.url, method: 'POST', headers: plan.headers, body: plan.body, connections: plan.connections, duration: seconds });
  if (plan.warmupSeconds > 0) await run(plan.warmupSeconds);
  say({ phase: 'measuring' });
  const result = await run(plan.seconds);
  const elapsedSeconds = (result.finish.getTime() - result.start.getTime()) / 1000;
  const failures: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) if (!code.startsWith('2')) failures[code] = count ?? 0;
  if (result.errors > 0) failures['errors'] = result.errors;
  if (result.timeouts > 0) failures['timeouts'] = result.timeouts;
  say({
    ok: result['2xx'],
    failed: result.non2xx + result.errors + result.timeouts,
    failures,
    elapsedSeconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
  } satisfies LoadResult);
} else {
  if (!plan.rate || plan.rate <= 0) throw new Error('paced load needs a positive rate');
  const pool = new ConnectionPool(plan, plan.connections);
  // This warm-up is the generator's own (its JIT, its connections): the server is already warm
  // from the peak run.
  if (plan.warmupSeconds > 0) await pacedRun(pool, plan.rate, plan.warmupSeconds);
  say({ phase: 'measuring' });
  const { latencies, failures, elapsedSeconds } = await pacedRun(pool, plan.rate, plan.seconds);
  pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => round2(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  say({
    ok: latencies.length,
    failed: Object.values(failures).reduce((sum, count) => sum + count, 0),
    failures,
    elapsedSeconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: round2(latencies.at(-1) ?? 0),
  } satisfies LoadResult);
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
