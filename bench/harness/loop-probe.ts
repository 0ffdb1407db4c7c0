// Preloaded into a server under test (`node --import …/loop-probe.ts`) by bench/token-profile.ts:
// on SIGWINCH (which Node and Tessera otherwise ignore) it appends one JSON line to
// $BENCH_PROBE_DIR/probe-<pid>.jsonl with what happened since the previous SIGWINCH (event-loop
// delay, GC pauses by kind, CPU time of the process and of its main thread), the memory now and
// the highest of each memory figure since (sampled every 250 ms), then starts counting afresh.
// The first SIGWINCH marks the start of a measured window.

import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

const dir = process.env['BENCH_PROBE_DIR'];
if (dir) {
  const file = join(dir, `probe-${process.pid}.jsonl`);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  let gc: Record<string, { count: number; totalMs: number; maxMs: number }> = {};
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kinds[(entry as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'other';
      const slot = (gc[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      slot.count += 1;
      slot.totalMs += entry.duration;
      slot.maxMs = Math.max(slot.maxMs, entry.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  // The highest of each memory figure within the window, sampled every 250 ms: a spike between two
  // SIGWINCHes shows here, with whether the heap, external memory or something native grew.
  const PEAK_KEYS = ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const;
  type PeakKey = (typeof PEAK_KEYS)[number];
  const noPeak = (): Record<PeakKey, number> => Object.fromEntries(PEAK_KEYS.map((key) => [key, 0])) as Record<PeakKey, number>;
  let peak = noPeak();
  let peakRssAtMs = 0;
  setInterval(() => {
    const sample = process.memoryUsage();
    if (sample.rss > peak.rss) peakRssAtMs = performance.now() - since;
    for (const key of PEAK_KEYS) peak[key] = Math.max(peak[key], sample[key]);
  }, 250).unref();
  let cpu = process.cpuUsage();
  let thread = process.threadCpuUsage?.() ?? { user: 0, system: 0 };
  let since = performance.now();
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
  const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10;
  process.on('SIGWINCH', () => {
    const now = performance.now();
    const cpuNow = process.cpuUsage(cpu);
    const threadNow = process.threadCpuUsage?.(thread) ?? { user: 0, system: 0 };
    const memory = process.memoryUsage();
    const heap = process.resourceUsage();
    appendFileSync(
      file,
      `${JSON.stringify({
        pid: process.pid,
        seconds: Math.round(now - since) / 1000,
        loopDelayMs: {
          p50: ms(loop.percentile(50)),
          p90: ms(loop.percentile(90)),
          p99: ms(loop.percentile(99)),
          p999: ms(loop.percentile(99.9)),
          max: ms(loop.max),
        },
        gc: Object.fromEntries(
          Object.entries(gc).map(([kind, slot]) => [kind, { count: slot.count, totalMs: Math.round(slot.totalMs), maxMs: Math.round(slot.maxMs * 10) / 10 }]),
        ),
        cpuMs: { process: Math.round((cpuNow.user + cpuNow.system) / 1000), mainThread: Math.round((threadNow.user + threadNow.system) / 1000) },
        memoryMb: {
          rss: mb(memory.rss),
          maxRss: Math.round(heap.maxRSS / 102.4) / 10,
          heapTotal: mb(memory.heapTotal),
          heapUsed: mb(memory.heapUsed),
          external: mb(memory.external),
          arrayBuffers: mb(memory.arrayBuffers),
        },
        peakMb: { ...Object.fromEntries(PEAK_KEYS.map((key) => [key, mb(peak[key])])), rssAtSecond: Math.round(peakRssAtMs / 100) / 10 },
      })}\n`,
    );
    loop.reset();
    gc = {};
    peak = noPeak();
    cpu = process.cpuUsage();
    thread = process.threadCpuUsage?.() ?? { user: 0, system: 0 };
    since = now;
  });
}
