// Robust comparison of two interleaved series of timings, for tests that must show two code
// paths take the same time on a noisy machine. Medians, not means: a GC pause or a preempted
// sample moves a mean by any amount, a median hardly at all. Paired differences, not the
// difference of two medians: load that slows a moment slows both samples of its pair.

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';

export interface TimingDifference {
  pairs: number;
  medianA: number;
  medianB: number;
  /** Median of the paired differences a[i] − b[i]. */
  median: number;
  /** Bootstrap 95 % confidence interval of that median. */
  low: number;
  high: number;
}

export function median(values: readonly number[]): number {
  const sorted = Float64Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A small seeded generator (mulberry32): the same samples always give the same interval. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The percentile bootstrap interval (95 %) of the median of `values`, over `rounds` resamples. */
export function bootstrapMedianInterval(values: readonly number[], rounds = 1000, seed = 1): { low: number; high: number } {
  const random = seededRandom(seed);
  const resample = new Float64Array(values.length);
  const medians: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < values.length; i++) resample[i] = values[Math.floor(random() * values.length)]!;
    medians.push(median(Array.from(resample)));
  }
  medians.sort((x, y) => x - y);
  return { low: medians[Math.floor(rounds * 0.025)]!, high: medians[Math.ceil(rounds * 0.975) - 1]! };
}

export function pairedTimingDifference(a: readonly number[], b: readonly number[]): TimingDifference {
  if (a.length !== b.length || a.length === 0) {
    throw new Error('paired timings need two series of the same, non-zero length');
  }
  const differences = a.map((value, i) => value - b[i]!);
  const interval = bootstrapMedianInterval(differences);
  return { pairs: a.length, medianA: median(a), medianB: median(b), median: median(differences), ...interval };
}

/**
 * Times two attempts that must both fail, in back-to-back pairs with the order alternating (so
 * load from other processes hits both sides of a pair alike), after a warm-up (prepared
 * statements, JIT, connection pools). Microseconds; `a` − `b`.
 */
export async function timeFailuresInPairs(a: () => Promise<unknown>, b: () => Promise<unknown>, pairs: number): Promise<TimingDifference> {
  const once = async (attempt: () => Promise<unknown>): Promise<number> => {
    const start = performance.now();
    const failed = await attempt().then(
      () => false,
      () => true,
    );
    const took = (performance.now() - start) * 1000;
    if (!failed) throw new Error('a timed attempt succeeded; both sides must fail');
    return took;
  };
  for (let i = 0; i < Math.min(pairs, 500); i++) {
    await once(a);
    await once(b);
  }
  const first: number[] = [];
  const second: number[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      first.push(await once(a));
      second.push(await once(b));
    } else {
      second.push(await once(b));
      first.push(await once(a));
    }
  }
  return pairedTimingDifference(first, second);
}

/**
 * Passes when the bootstrap interval of the paired difference lies within ±`maxShare` of the
 * `b` median: a share, so a busier machine, slower at both, widens the bound alike. Logs the figures.
 */
export function assertSameTime(label: string, result: TimingDifference, maxShare: number): void {
  const bound = maxShare * result.medianB;
  const figures =
    `${label}: ${result.medianA.toFixed(1)} µs against ${result.medianB.toFixed(1)} µs, ` +
    `paired median difference ${result.median.toFixed(2)} µs ` +
    `(95 % CI ${result.low.toFixed(2)} … ${result.high.toFixed(2)}), ` +
    `bound ±${bound.toFixed(2)} µs over ${result.pairs} pairs`;
  console.log(`# ${figures}`);
  assert.ok(result.low > -bound && result.high < bound, `both must take the same time; ${figures}`);
}
