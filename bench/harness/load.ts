// The load generator, in a process of its own so that it never shares an event loop with a
// server under test or with the harness's samplers. Two ways to load:
//
// - `closed`: autocannon, each connection sending its next request as soon as the last one is
//   answered. Measures peak tokens/s. A warm-up run comes first and is thrown away.
// - `paced`: an open-loop generator for latency at a given rate (harness/paced.ts). autocannon's
//   own `overallRate` is not used for this: each connection sends its quota for the second
//   back to back and then idles, which is full concurrency for part of every second.
//
// With `urls` (several instances of a server, each on its own port), the connections are split
// evenly among them: `closed` runs one autocannon per instance at once and adds up the answers
// (p50 is the answer-weighted mean of theirs, p99 and max the worst of theirs), `paced` sends
// each request to the next instance in turn.
//
// Prints `{"phase":"measuring"}` when the measured part starts, then one JSON result line.

import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { ConnectionPool, pacedRun, RoundRobin } from './paced.ts';

export interface LoadPlan {
  mode: 'closed' | 'paced';
  url: string;
  /** Every instance's URL when there are several (url is the first). */
  urls?: string[];
  headers: Record<string, string>;
  body: string;
  /** A file whose content is the body instead (a body too large for the command line). */
  bodyFile?: string;
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
if (plan.bodyFile !== undefined) plan.body = readFileSync(plan.bodyFile, 'utf8');
const say = (line: unknown): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
const urls = plan.urls && plan.urls.length > 0 ? plan.urls : [plan.url];
/** The connections of instance `i` when they are split among the instances. */
const share = (i: number): number => Math.max(1, Math.floor(plan.connections / urls.length) + (i < plan.connections % urls.length ? 1 : 0));

if (plan.mode === 'closed') {
  const run = (seconds: number): Promise<autocannon.Result[]> =>
    Promise.all(urls.map((url, i) => autocannon({ url, method: 'POST', headers: plan.headers, body: plan.body, connections: share(i), duration: seconds })));
  if (plan.warmupSeconds > 0) await run(plan.warmupSeconds);
  say({ phase: 'measuring' });
  const results = await run(plan.seconds);
  const elapsedSeconds = Math.max(...results.map((result) => (result.finish.getTime() - result.start.getTime()) / 1000));
  const failures: Record<string, number> = {};
  const add = (name: string, count: number): void => {
    if (count > 0) failures[name] = (failures[name] ?? 0) + count;
  };
  for (const result of results) {
    for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) if (!code.startsWith('2')) add(code, count ?? 0);
    add('errors', result.errors);
    add('timeouts', result.timeouts);
  }
  const ok = results.reduce((sum, result) => sum + result['2xx'], 0);
  say({
    ok,
    failed: results.reduce((sum, result) => sum + result.non2xx + result.errors + result.timeouts, 0),
    failures,
    elapsedSeconds,
    p50Ms: round2(results.reduce((sum, result) => sum + result.latency.p50 * result['2xx'], 0) / Math.max(1, ok)),
    p99Ms: Math.max(...results.map((result) => result.latency.p99)),
    maxMs: Math.max(...results.map((result) => result.latency.max)),
  } satisfies LoadResult);
} else {
  if (!plan.rate || plan.rate <= 0) throw new Error('paced load needs a positive rate');
  const pool =
    urls.length === 1 ? new ConnectionPool(plan, plan.connections) : new RoundRobin(urls.map((url, i) => new ConnectionPool({ ...plan, url }, share(i))));
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
