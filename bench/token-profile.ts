// Where Tessera's token endpoint spends its time, for before/after comparisons of one change on a
// busy machine, where tokens/s are noise: CPU per token (the server's processes, from /proc, over
// a fixed window), the event loop's delay and GC pauses inside the server (harness/loop-probe.ts),
// and peak RSS. Starts `tessera serve` as `npm run bench` does (harness/subjects.ts: client_secret_basic,
// rate limits that never refuse, serve's own V8 flags), loads it closed-loop for --seconds (autocannon), then
// open-loop at --rate requests/s (default half the peak just measured), as the bench's half-rate
// row does.
//
//   node bench/token-profile.ts                          # --workers 1, 32 connections, 8 s each
//   node bench/token-profile.ts --workers auto --seconds 10
//   node bench/token-profile.ts --node-flags=--max-semi-space-size=4
//   node bench/token-profile.ts --cpu-prof /tmp/prof      # profile the closed-loop run too
//   node bench/token-profile.ts --no-paced                # the closed-loop run only
//   node bench/token-profile.ts --subject floor           # the same figures for the floor
//   node bench/token-profile.ts --built                   # Tessera from the built JavaScript, as installed
//   node bench/token-profile.ts --built --no-build        # … from dist/ as it is, not built first
//   node bench/token-profile.ts --token-reuse             # Tessera with token reuse on (the bench's reuse row)

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { exportJWK, generateKeyPair } from 'jose';
import { ConnectionPool, pacedRun } from './harness/paced.ts';
import { cpuTimes, descendants, runChildren, sampleMemory } from './harness/processes.ts';
import { formatProfile, summarizeProfiles } from './harness/profile.ts';
import { launch, type LaunchContext } from './harness/subjects.ts';
import { useBuiltCli } from './harness/tessera-cli.ts';

const { values: options } = parseArgs({
  options: {
    subject: { type: 'string', default: 'tessera' },
    workers: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    rate: { type: 'string' },
    'no-paced': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'node-flags': { type: 'string', default: '' },
    built: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    'token-reuse': { type: 'boolean', default: false },
  },
});
const seconds = Math.min(15, Number(options.seconds));
const warmup = Math.min(10, Number(options.warmup));
const connections = Number(options.connections);
const workers = options.workers === 'auto' ? 'auto' : Number(options.workers);

if (options.built) console.log(`Tessera runs ${await useBuiltCli({ build: !options['no-build'] })}`);
const children = runChildren();
const probeDir = await mkdtemp(join(tmpdir(), 'tessera-token-profile-'));
// Every server this starts inherits it (the floor's environment and Tessera's, TESSERA_* aside).
process.env['BENCH_PROBE_DIR'] = probeDir;
const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const context: LaunchContext = {
  children,
  nodeFlags: [
    ...options['node-flags'].split(' ').filter(Boolean),
    `--import=${await strippedProbe(probeDir)}`,
    ...(options['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${options['cpu-prof']}`] : []),
  ],
  signingJwk: { ...(await exportJWK(privateKey)), kid: 'bench-es256' },
  startTimeoutMs: 60_000,
};
const subject = options.subject === 'floor' ? 'floor' : 'tessera';
const launched = await launch(
  subject === 'floor'
    ? { id: 'floor', label: 'floor', kind: 'floor', processes: workers === 'auto' ? availableParallelism() : workers }
    : {
        id: 'tessera',
        label: 'Tessera',
        kind: 'tessera',
        processes: workers === 'auto' ? availableParallelism() : workers,
        storage: 'sqlite',
        workers,
        tokenReuse: options['token-reuse'],
      },
  context,
);
try {
  const request = launched.request;
  const pids = [launched.child.process.pid!, ...descendants(launched.child.process.pid!)];
  const servers = pids.length > 1 ? pids.slice(1) : pids;
  console.log(`${subject} --workers ${workers}: pids ${pids.join(' ')}; extra node flags ${context.nodeFlags.join(' ')}`);

  const closed = (duration: number): Promise<autocannon.Result> =>
    autocannon({ url: request.url, method: 'POST', headers: request.headers, body: request.body, connections, duration });
  // Memory before any token load (set up, one admin client registered), to tell what load adds.
  signal(pids);
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const pid of servers) {
    const idle = (await readProbes(probeDir)).get(pid)?.at(-1);
    if (idle) console.log(`  pid ${pid} before load: memory ${JSON.stringify(idle['memoryMb'])}`);
  }
  if (warmup > 0) await closed(warmup);

  const window = async (label: string, run: () => Promise<{ ok: number; failed: number; p50: number; p99: number; max: number }>): Promise<number> => {
    signal(pids);
    const before = totalCpu(pids);
    const memory = sampleMemory(pids);
    const started = performance.now();
    const result = await run();
    const elapsed = (performance.now() - started) / 1000;
    const spent = totalCpu(pids);
    const kernel = spent.system - before.system;
    const cpu = spent.user + spent.system - before.user - before.system;
    const peak = memory.stop();
    signal(pids);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const probes = await readProbes(probeDir);
    console.log(
      `\n${label}: ${Math.round(result.ok / elapsed)} tokens/s (${result.ok} ok, ${result.failed} failed), p50 ${result.p50} ms, p99 ${result.p99} ms, max ${result.max} ms; ` +
        `${((cpu * 1000) / result.ok).toFixed(3)} ms CPU per token (${cpu.toFixed(2)} CPU s, /proc; ${((kernel * 1000) / result.ok).toFixed(3)} ms of it in the kernel); peak RSS ${peak.processMb} MB per process`,
    );
    for (const pid of servers) {
      const probe = probes.get(pid)?.at(-1);
      if (!probe) continue;
      const mainMs = (probe['cpuMs'] as { mainThread: number }).mainThread;
      console.log(`  pid ${pid}: main thread ${((mainMs / result.ok) * servers.length).toFixed(3)} ms/token; ${JSON.stringify(probe)}`);
    }
    return result.ok / elapsed;
  };

  const peak = await window('closed loop', async () => {
    const result = await closed(seconds);
    return {
      ok: result['2xx'],
      failed: result.non2xx + result.errors + result.timeouts,
      p50: result.latency.p50,
      p99: result.latency.p99,
      max: result.latency.max,
    };
  });
  if (!options['no-paced']) {
    const rate = options.rate ? Number(options.rate) : Math.round(peak / 2);
    const pool = new ConnectionPool(request, connections);
    await pacedRun(pool, rate, 2);
    await window(`open loop at ${rate}/s`, async () => {
      const { latencies, failures } = await pacedRun(pool, rate, seconds);
      latencies.sort((a, b) => a - b);
      const at = (q: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 100) / 100;
      return { ok: latencies.length, failed: Object.values(failures).reduce((sum, n) => sum + n, 0), p50: at(0.5), p99: at(0.99), max: at(1) };
    });
    pool.close();
  }
} finally {
  await launched.cleanup();
  await rm(probeDir, { recursive: true, force: true });
}
if (options['cpu-prof']) console.log(`\n${formatProfile(await summarizeProfiles(options['cpu-prof']))}`);
process.exit(0);

function signal(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGWINCH');
    } catch {
      // Gone.
    }
  }
}

/**
 * The probe as JavaScript: preloaded as TypeScript, it would make the server load Node's type
 * stripper (~25 MB), which `tessera serve` itself no longer loads, and every memory figure would carry it.
 */
async function strippedProbe(dir: string): Promise<string> {
  const file = join(dir, 'loop-probe.mjs');
  const source = await readFile(join(import.meta.dirname, 'harness', 'loop-probe.ts'), 'utf8');
  await writeFile(file, stripTypeScriptTypes(source, { mode: 'strip' }));
  return file;
}

async function readProbes(dir: string): Promise<Map<number, Record<string, unknown>[]>> {
  const found = new Map<number, Record<string, unknown>[]>();
  for (const name of (await readdir(dir)).filter((entry) => entry.endsWith('.jsonl'))) {
    const lines = (await readFile(join(dir, name), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    if (lines.length > 0) found.set(lines[0]!['pid'] as number, lines);
  }
  return found;
}

/** User and kernel CPU seconds of the processes, summed (each read from /proc once). */
function totalCpu(pids: readonly number[]): { user: number; system: number } {
  return pids.map(cpuTimes).reduce((sum, each) => ({ user: sum.user + each.user, system: sum.system + each.system }), { user: 0, system: 0 });
}
