// The soak's load generator, in a process of its own like harness/load.ts: open-loop token
// requests at a fixed rate (harness/paced.ts, so a stall shows in the latencies instead of
// slowing the generator down) for the whole soak, reporting each interval as it ends.
//
// Prints JSON lines: `{"interval":…}` at each interval's end, `{"token":"…"}` for every
// `tokenEvery`-th 2xx answer (the harness verifies those with the SDK), and `{"done":…}` last.
// A request answered later than `timeoutMs` after it was due counts as a timeout; one that waited
// that long for a free connection is not sent at all (`queued too long`), so a generator that
// fell behind catches up once the server does; one still unanswered that long after the last was
// sent counts as a timeout, and then the generator stops waiting.

import { performance } from 'node:perf_hooks';
import { ConnectionPool, sendPaced, type PacedTarget } from './paced.ts';

export interface SoakLoadPlan extends PacedTarget {
  /** Requests per second. */
  rate: number;
  seconds: number;
  connections: number;
  intervalSeconds: number;
  /** Every how many-th 2xx answer's access token is printed; 0 prints none. */
  tokenEvery: number;
  timeoutMs: number;
}

export interface LatencySummary {
  /** 2xx answers within the timeout. */
  ok: number;
  /** Everything else: other status codes, broken connections, timeouts. */
  failed: number;
  /** Status codes and error names of the failures, e.g. `{"503": 2, "timeout": 1}`. */
  failures: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface SoakInterval extends LatencySummary {
  index: number;
  /** Answers the server gave (any status, in time or late): what it served in the interval. */
  answered: number;
  /** Seconds since the load started, at the interval's end. */
  endSeconds: number;
  lengthSeconds: number;
  /** Sent and not yet answered at the interval's end. */
  inFlight: number;
}

export interface SoakLoadTotals extends LatencySummary {
  sent: number;
  elapsedSeconds: number;
}

/** What one interval gathered; latencies in ms from when each request was due. */
class Tally {
  latencies: number[] = [];
  answered = 0;
  failures: Record<string, number> = {};

  fail(reason: string, count = 1): void {
    this.failures[reason] = (this.failures[reason] ?? 0) + count;
  }

  failedCount(): number {
    return Object.values(this.failures).reduce((sum, count) => sum + count, 0);
  }
}

/** p50, p99 and max of sorted latencies. */
function summarize(sorted: Float64Array, failures: Record<string, number>, failed: number): LatencySummary {
  const at = (q: number): number => round2(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return { ok: sorted.length, failed, failures, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: round2(sorted.at(-1) ?? 0) };
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

async function run(plan: SoakLoadPlan): Promise<void> {
  const say = (line: unknown): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
  const pool = new ConnectionPool(plan, plan.connections, plan.timeoutMs);
  const total = Math.round(plan.rate * plan.seconds);
  const intervals = Math.max(1, Math.ceil(plan.seconds / plan.intervalSeconds));
  const sortedIntervals: Float64Array[] = [];
  const allFailures = new Tally();
  let current = new Tally();
  let settled = 0;
  let answered = 0;
  let index = 0;
  let lastEnd = 0;
  let allSettled: () => void = () => {};

  pool.settle((due, outcome, body) => {
    const latency = performance.now() - due;
    settled += 1;
    if (/^\d{3}$/.test(outcome)) current.answered += 1;
    if (!outcome.startsWith('2')) current.fail(outcome);
    else if (latency > plan.timeoutMs) current.fail('timeout');
    else {
      current.latencies.push(latency);
      answered += 1;
      if (plan.tokenEvery > 0 && answered % plan.tokenEvery === 0) {
        const token = body ? accessToken(body) : undefined;
        if (token) say({ token });
        else current.fail('200 without access_token');
      }
    }
    if (settled === total) allSettled();
  });

  const start = performance.now();
  const closeInterval = (): void => {
    const tally = current;
    current = new Tally();
    const sorted = Float64Array.from(tally.latencies).sort();
    sortedIntervals.push(sorted);
    for (const [reason, count] of Object.entries(tally.failures)) allFailures.fail(reason, count);
    const endSeconds = (performance.now() - start) / 1000;
    index += 1;
    say({
      interval: {
        index,
        answered: tally.answered,
        endSeconds: round2(endSeconds),
        lengthSeconds: round2(endSeconds - lastEnd),
        inFlight: Math.min(total, Math.floor((performance.now() - start) / (1000 / plan.rate)) + 1) - settled,
        ...summarize(sorted, tally.failures, tally.failedCount()),
      } satisfies SoakInterval,
    });
    lastEnd = endSeconds;
  };

  // Interval ends on the clock, not on a drifting setInterval; the last one ends once every
  // request is answered or given up on.
  let timer: NodeJS.Timeout | undefined;
  const nextBoundary = (): void => {
    if (index + 1 >= intervals) return;
    timer = setTimeout(
      () => {
        closeInterval();
        nextBoundary();
      },
      start + (index + 1) * plan.intervalSeconds * 1000 - performance.now(),
    );
  };
  nextBoundary();

  const everyAnswer = new Promise<void>((resolve) => {
    allSettled = resolve;
    if (total === 0) resolve();
  });
  await sendPaced(pool, plan.rate, total, start);
  let waited: NodeJS.Timeout | undefined;
  const gaveUp = await Promise.race([
    everyAnswer.then(() => false),
    new Promise<boolean>((resolve) => {
      waited = setTimeout(() => resolve(true), plan.timeoutMs);
    }),
  ]);
  clearTimeout(waited);
  clearTimeout(timer);
  while (index + 1 < intervals) closeInterval();
  if (gaveUp) current.fail('timeout', total - settled);
  closeInterval();

  let length = 0;
  for (const sorted of sortedIntervals) length += sorted.length;
  const all = new Float64Array(length);
  let offset = 0;
  for (const sorted of sortedIntervals) {
    all.set(sorted, offset);
    offset += sorted.length;
  }
  all.sort();
  say({
    done: {
      sent: total,
      elapsedSeconds: round2((performance.now() - start) / 1000),
      ...summarize(all, allFailures.failures, allFailures.failedCount()),
    } satisfies SoakLoadTotals,
  });
  pool.close();
  // Connections still waiting on a timed-out request would keep the process alive.
  process.exit(0);
}

function accessToken(body: Buffer): string | undefined {
  try {
    const token = (JSON.parse(body.toString('utf8')) as { access_token?: unknown }).access_token;
    return typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}

if (import.meta.main) await run(JSON.parse(process.argv[2] ?? '{}') as SoakLoadPlan);
