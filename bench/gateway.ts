// Gateway benchmark: in one run on loopback, one node:http upstream (servers/upstream.ts, a
// process of its own) called directly, through a plain node:http reverse proxy (the floor:
// servers/plain-proxy.ts, what any proxy in one Node process costs) and through `tessera
// gateway` (a process of its own, plain HTTP listener, one route), with a Bearer caller whose
// upstream token the gateway got from a real Tessera by token exchange once and then reuses from
// its cache. Four loads, each direct, then through the plain proxy, then through the gateway:
// small bodies both ways (--connections, and one connection), 1 MiB answers, 1 MiB request
// bodies; prints requests/s and p99 for each, the proxies' CPU per request, and the gateway's
// ratio to direct (targets: ≥ 0.7 × for small bodies, ≥ 0.9 × for 1 MB) and to the plain proxy.
// Then the peak RSS of a fresh gateway (and of the plain proxy) while --concurrent connections
// (1,000) stream answers for twice --stream-seconds, the upstream dripping each answer over
// --stream-seconds; the upstream counts how many were open at once.
//
// Every load is bounded in time, and the whole run has a deadline past which everything it
// started is killed. The gateway writes its access log as in production (to a pipe read here).
//
//   npm run bench:gateway                                   # 10 s per load, 32 connections
//   npm run bench:gateway -- --seconds 2 --warmup 0 --stream-seconds 2   # a smoke run
//   npm run bench:gateway -- --concurrent 500 --stream-seconds 8
//   npm run bench:gateway -- --write                        # also bench/results/gateway-<date>-<host>.{json,md}
//   npm run bench:gateway -- --from-source                  # the TypeScript sources, not `npm run build`'s JavaScript
//   npm run bench:gateway -- --gateway-workers auto         # the gateway with --workers (CPU and memory: all its processes)

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import type { LoadPlan, LoadResult } from './harness/load.ts';
import { cpuSeconds, freePort, lastWords, memoryKb, runChildren, sampleMemory, waitUntilReady, type Child } from './harness/processes.ts';
import { textTable } from './harness/report.ts';
import { writeSmallReport } from './harness/results-file.ts';
import { useBuiltCli } from './harness/tessera-cli.ts';

const ROOT = join(import.meta.dirname, '..');
const SOURCE_CLI = join(ROOT, 'packages', 'cli', 'bin', 'tessera.ts');
const BUILT_CLI = join(ROOT, 'packages', 'cli', 'dist', 'bin', 'tessera.js');
const UPSTREAM = join(import.meta.dirname, 'servers', 'upstream.ts');
const PLAIN_PROXY = join(import.meta.dirname, 'servers', 'plain-proxy.ts');
const LOAD = join(import.meta.dirname, 'harness', 'load.ts');
const GATEWAY = 'edge.gw';
const MIB = 1024 * 1024;
const SMALL_BODY = JSON.stringify({ order: 42, items: ['a', 'b'], note: 'a small request body' });
/** Starting processes and setting up; the measured time comes on top. */
const SLACK_MS = 120_000;

const { values: options } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    concurrent: { type: 'string', default: '1000' },
    'stream-seconds': { type: 'string', default: '5' },
    write: { type: 'boolean', default: false },
    'from-source': { type: 'boolean', default: false },
    'gateway-workers': { type: 'string', default: '1' },
  },
});
// `tessera gateway --workers`: the gateway's own check refuses a bad value; only its form is checked here.
const gatewayWorkers = options['gateway-workers'];
if (gatewayWorkers !== 'auto' && !/^[1-9]\d*$/.test(gatewayWorkers)) {
  console.error(`--gateway-workers must be "auto" or a whole number of worker processes, got ${gatewayWorkers}`);
  process.exit(2);
}
const seconds = bounded(options.seconds, 1, 60, '--seconds');
const warmup = bounded(options.warmup, 0, 30, '--warmup');
const connections = bounded(options.connections, 1, 1024, '--connections');
const concurrent = bounded(options.concurrent, 1, 5000, '--concurrent');
// The load generator gives up on an answer after 10 s.
const streamSeconds = bounded(options['stream-seconds'], 1, 8, '--stream-seconds');

interface Row {
  id: string;
  label: string;
  path: string;
  /** The request body, or its size (written to a file the load generator reads). */
  body: string | { bytes: number };
  /** The least ratio of the gateway's requests/s to direct; none for the one-connection row (its figure is the time added). */
  target?: number;
  /** Instead of --connections. */
  connections?: number;
}
const ROWS: readonly Row[] = [
  { id: 'small', label: 'small bodies (POST 70 B, answer 30 B)', path: '/small', body: SMALL_BODY, target: 0.7 },
  { id: 'small-1', label: 'small bodies, one connection', path: '/small', body: SMALL_BODY, connections: 1 },
  { id: 'answer-1mb', label: '1 MiB answers (POST 70 B)', path: '/large', body: SMALL_BODY, target: 0.9 },
  { id: 'request-1mb', label: '1 MiB request bodies (answer 30 B)', path: '/small', body: { bytes: MIB }, target: 0.9 },
];
const TARGETED = ROWS.filter((row): row is Row & { target: number } => row.target !== undefined);

interface Measured {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
  failures: Record<string, number>;
  /** Cores the proxy's process used while measured (through a proxy only). */
  proxyCpu?: number;
  /** The proxy's CPU time per answered request, in µs. */
  proxyCpuUsPerRequest?: number;
}
interface Measurements {
  direct: Measured;
  plain: Measured;
  gateway: Measured;
}

const children = runChildren();
const info = `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, Node.js ${process.version}`;
console.log(`${info}; ${connections} connections, ${warmup} s warm-up + ${seconds} s per load; then ${concurrent} streams of ${streamSeconds} s\n`);

const budgetMs = (ROWS.length * 3 * (warmup + seconds) + 2 * 2 * streamSeconds) * 1000 + SLACK_MS;
const result = await children.withDeadline(run, budgetMs).catch((error: Error) => {
  console.error(`\nThe run failed: ${error.message}`);
  process.exit(1);
});

const ratioOf = (a: Measured, b: Measured): number => a.requestsPerSecond / b.requestsPerSecond;
const table = [
  [
    'load',
    'direct req/s',
    'p99 ms',
    'plain proxy req/s',
    'p99 ms',
    'CPU µs/req',
    'gateway req/s',
    'p99 ms',
    'CPU µs/req',
    'gateway / direct',
    'gateway / plain proxy',
    'target',
  ],
  ...ROWS.map((row) => {
    const { direct, plain, gateway } = result.rows.get(row.id)!;
    const ratio = ratioOf(gateway, direct);
    return [
      row.connections === undefined ? row.label : `${row.label} (${row.connections})`,
      fmt(direct.requestsPerSecond),
      direct.p99Ms.toFixed(1),
      fmt(plain.requestsPerSecond),
      plain.p99Ms.toFixed(1),
      fmt(plain.proxyCpuUsPerRequest ?? 0),
      fmt(gateway.requestsPerSecond),
      gateway.p99Ms.toFixed(1),
      fmt(gateway.proxyCpuUsPerRequest ?? 0),
      `${ratio.toFixed(2)} ×`,
      `${ratioOf(gateway, plain).toFixed(2)} ×`,
      row.target === undefined ? '—' : `≥ ${row.target} × ${ratio >= row.target ? 'met' : 'MISSED'}`,
    ];
  }),
];
const targets = TARGETED.map((row) => {
  const { direct, plain, gateway } = result.rows.get(row.id)!;
  const ratio = ratioOf(gateway, direct);
  return (
    `${row.label}: the gateway gives ${ratio.toFixed(2)} × direct requests/s (target ≥ ${row.target} ×): ${ratio >= row.target ? 'met' : 'missed'}; ` +
    `a plain node:http proxy gives ${ratioOf(plain, direct).toFixed(2)} ×`
  );
});
const single = result.rows.get('small-1')!;
const addedUs = (through: Measured): number => 1e6 / through.requestsPerSecond - 1e6 / single.direct.requestsPerSecond;
const singleLine =
  `One connection, small bodies: the gateway adds ${fmt(addedUs(single.gateway))} µs per request to the direct call ` +
  `(${fmt(1e6 / single.direct.requestsPerSecond)} µs), a plain node:http proxy ${fmt(addedUs(single.plain))} µs`;
const failures = [...result.rows.entries()].flatMap(([id, measured]) =>
  (['direct', 'plain', 'gateway'] as const).flatMap((way) =>
    measured[way].failed > 0 ? [`${id} ${way}: ${measured[way].failed} failed ${JSON.stringify(measured[way].failures)}`] : [],
  ),
);
const streamLine = (s: Streaming, through: string): string =>
  `${concurrent} concurrent streaming requests through a fresh ${through} (${streamSeconds} s each, 1 KiB every 100 ms): ` +
  `the upstream had at most ${s.maxStreams} open at once${s.maxStreams < concurrent ? ' (fewer than asked: the proxy or the load generator lagged)' : ''}, ` +
  `${s.completed} completed, ${s.failed} failed; ` +
  `RSS ${s.idleMb} MB before, peak ${s.peakMb} MB sampled (VmHWM ${s.hwmMb} MB)`;
const streamLines = [streamLine(result.streaming.gateway, 'gateway'), streamLine(result.streaming.plain, 'plain node:http proxy')];

console.log(`\n${textTable(table)}\n`);
console.log(targets.join('\n'));
console.log(`\n${singleLine}`);
console.log(`\n${streamLines.join('\n')}`);
if (failures.length > 0) console.log(`\nFailed requests (a load with failures measures them too):\n${failures.join('\n')}`);

if (options.write) {
  await writeSmallReport({
    name: 'gateway',
    title: 'Gateway benchmark',
    script: 'npm run bench:gateway',
    how:
      `Loopback, plain HTTP. ${result.how} ${connections} connections (one for the one-connection row), ${warmup} s warm-up and ${seconds} s ` +
      `per load, direct, then through a plain node:http proxy (bench/servers/plain-proxy.ts), then through the gateway. ` +
      `${streamLines.join('. ')}.`,
    table,
    targetsHeading: 'Targets',
    targets: [...targets, singleLine, ...failures],
    data: {
      settings: { seconds, warmup, connections, concurrent, streamSeconds, gatewayWorkers },
      rows: Object.fromEntries(result.rows),
      streaming: result.streaming,
    },
  });
}
process.exit(0);

interface Streaming {
  maxStreams: number;
  completed: number;
  failed: number;
  idleMb: number;
  peakMb: number;
  hwmMb: number;
}

async function run(): Promise<{ how: string; rows: Map<string, Measurements>; streaming: { gateway: Streaming; plain: Streaming } }> {
  const fromSource = options['from-source'];
  const workersNote = gatewayWorkers === '1' ? '' : ` The gateway runs with --workers ${gatewayWorkers}; its CPU and memory are those of all its processes.`;
  const how =
    (fromSource
      ? 'The gateway runs the TypeScript sources (--from-source).'
      : (await useBuiltCli(), 'The gateway runs the built JavaScript (`npm run build`), as the installed packages do.')) + workersNote;
  const cli = fromSource ? SOURCE_CLI : BUILT_CLI;
  const nodeFlags = fromSource ? ['--conditions=tessera-source'] : [];

  const tessera = await startTestServer();
  const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-gateway-'));
  const removeDir = children.leaveBehind(() => rm(dir, { recursive: true, force: true }));
  try {
    const { bearer, config } = await setUp(tessera, dir);
    const upstreamPort = await freePort();
    const upstream = children.spawn(UPSTREAM, [String(upstreamPort), String(streamSeconds * 1000)]);
    await waitUntilReady(upstream, 30_000);
    const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
    const plainPort = await freePort();
    let plain = children.spawn(PLAIN_PROXY, [String(plainPort), String(upstreamPort)]);
    await waitUntilReady(plain, 30_000);
    const plainUrl = `http://127.0.0.1:${plainPort}`;
    const file = join(dir, 'gateway.json');
    await writeFile(file, JSON.stringify(config(upstreamUrl)));

    let gateway = await startGateway(cli, nodeFlags, file);
    const auth = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' };
    // The first request through the gateway exchanges the caller's token; every later one reuses it.
    const first = await fetch(`${gateway.url}/small`, { method: 'POST', headers: auth, body: SMALL_BODY });
    assert.equal(first.status, 200, `the gateway answered ${first.status}: ${await first.text()}`);

    const rows = new Map<string, Measurements>();
    const json = { 'content-type': 'application/json' };
    for (const row of ROWS) {
      let body: Pick<LoadPlan, 'body' | 'bodyFile'> = { body: '' };
      if (typeof row.body === 'string') body = { body: row.body };
      else await writeFile((body = { body: '', bodyFile: join(dir, `${row.id}.body`) }).bodyFile!, 'x'.repeat(row.body.bytes));
      const width = row.connections ?? connections;
      process.stdout.write(`${row.label}: direct … `);
      const direct = await load({ url: `${upstreamUrl}${row.path}`, headers: json, ...body }, width);
      process.stdout.write(`${fmt(direct.requestsPerSecond)} req/s, p99 ${direct.p99Ms} ms; plain proxy … `);
      const throughPlain = await load({ url: `${plainUrl}${row.path}`, headers: json, ...body }, width, [plain.process.pid!]);
      process.stdout.write(`${fmt(throughPlain.requestsPerSecond)} req/s, p99 ${throughPlain.p99Ms} ms; gateway … `);
      const through = await load({ url: `${gateway.url}${row.path}`, headers: auth, ...body }, width, gateway.pids);
      console.log(`${fmt(through.requestsPerSecond)} req/s, p99 ${through.p99Ms} ms`);
      rows.set(row.id, { direct, plain: throughPlain, gateway: through });
    }

    // Memory under many slow answers at once, in a gateway (and a plain proxy) that has served nothing else.
    await children.stop(gateway.child);
    gateway = await startGateway(cli, nodeFlags, file);
    const warm = await fetch(`${gateway.url}/small`, { method: 'POST', headers: auth, body: SMALL_BODY });
    assert.equal(warm.status, 200, `the gateway answered ${warm.status}`);
    const streamThrough = async (url: string, pids: readonly number[], headers: Record<string, string>, name: string): Promise<Streaming> => {
      process.stdout.write(`${concurrent} streams of ${streamSeconds} s through the ${name} … `);
      const before = (await (await fetch(`${upstreamUrl}/stats`)).json()) as { streams: number };
      assert.equal(before.streams, 0, 'streams of the last run are still open');
      const idleMb = Math.round(pids.reduce((sum, pid) => sum + memoryKb(pid).rss, 0) / 102.4) / 10;
      const sampler = sampleMemory(pids);
      const streamed = await runLoad({
        mode: 'closed',
        url: `${url}/stream`,
        headers,
        body: SMALL_BODY,
        connections: concurrent,
        warmupSeconds: 0,
        seconds: 2 * streamSeconds,
      });
      const peak = sampler.stop();
      const stats = (await (await fetch(`${upstreamUrl}/stats`)).json()) as { maxStreams: number };
      console.log(`peak RSS ${peak.totalMb} MB`);
      return { maxStreams: stats.maxStreams, completed: streamed.ok, failed: streamed.failed, idleMb, peakMb: peak.totalMb, hwmMb: peak.processMb };
    };
    const streamedGateway = await streamThrough(gateway.url, gateway.pids, auth, 'gateway');
    await children.stop(gateway.child);
    await children.stop(plain);
    // A fresh upstream too: its most streams at once are counted since it started.
    await children.stop(upstream);
    const upstream2 = children.spawn(UPSTREAM, [String(upstreamPort), String(streamSeconds * 1000)]);
    await waitUntilReady(upstream2, 30_000);
    plain = children.spawn(PLAIN_PROXY, [String(plainPort), String(upstreamPort)]);
    await waitUntilReady(plain, 30_000);
    const streamedPlain = await streamThrough(plainUrl, [plain.process.pid!], json, 'plain proxy');
    await children.stop(plain);
    await children.stop(upstream2);
    return { how, rows, streaming: { gateway: streamedGateway, plain: streamedPlain } };
  } finally {
    await tessera.stop();
    await rm(dir, { recursive: true, force: true });
    removeDir();
  }
}

/** Tessera's side: the gateway's service, a caller, and a role that lets the gateway act for its members. */
async function setUp(tessera: TestServer, dir: string): Promise<{ bearer: string; config: (upstream: string) => Record<string, unknown> }> {
  const admin = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await tessera.admin$(method, path, body);
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
    return res.json as Record<string, unknown>;
  };
  for (const name of ['orders', 'edge', 'alpha']) await admin('POST', '/domains', { name });
  const gwSecret = (await admin('POST', '/domains/edge/services', { name: 'gw' }))['clientSecret'] as string;
  const alphaSecret = (await admin('POST', '/domains/alpha/services', { name: 'api' }))['clientSecret'] as string;
  await admin('PUT', '/domains/orders/roles/readers', { members: [{ principal: 'alpha.api' }], actors: [GATEWAY] });
  const token = await tessera.token('alpha.api', alphaSecret, { grant_type: 'client_credentials', scope: 'orders:domain' });
  assert.equal(token.status, 200, token.text);
  await writeFile(join(dir, 'gw.secret'), `${gwSecret}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'tessera-ca.pem'), tessera.ca);
  return {
    bearer: token.json.access_token as string,
    config: (upstream) => ({
      listen: 'http://127.0.0.1:0',
      tessera: { url: tessera.url, ca: 'tessera-ca.pem', clientId: GATEWAY, clientSecretFile: 'gw.secret' },
      routes: [
        {
          name: 'bench',
          pathPrefix: '/',
          methods: ['GET', 'POST'],
          upstream,
          audience: 'orders',
          require: { scope: ['orders:role.readers'] },
          timeoutMs: (streamSeconds + 10) * 1000,
        },
      ],
    }),
  };
}

/**
 * `tessera gateway --config <file> --workers <--gateway-workers>`, ready once it logs its URL; its
 * log is read (and dropped) from then on. `pids`: the process and, with several workers, its
 * workers, whose CPU and memory are the gateway's.
 */
async function startGateway(cli: string, nodeFlags: string[], file: string): Promise<{ child: Child; pids: number[]; url: string }> {
  const child = children.spawn(cli, ['gateway', '--config', file, '--workers', gatewayWorkers], { nodeFlags });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway was not listening within 30 s: ${lastWords(child.stderr())}`)), 30_000);
    void (async () => {
      for await (const line of child.lines) {
        if (line['msg'] === 'gateway listening') {
          clearTimeout(timer);
          resolve(String(line['url']).replace(/\/$/, ''));
        }
      }
      clearTimeout(timer);
      reject(new Error(`the gateway exited with ${await child.exited}: ${lastWords(child.stderr())}`));
    })();
  });
  const pid = child.process.pid!;
  return { child, pids: [pid, ...childrenOf(pid)], url };
}

/** The processes whose parent is `pid` (a cluster's workers), from /proc. */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** One closed-loop load (warm-up, then measured), and the proxy's CPU over the measured part. */
async function load(target: Pick<LoadPlan, 'url' | 'headers' | 'body' | 'bodyFile'>, width: number, proxyPids?: readonly number[]): Promise<Measured> {
  const cpuOf = (pids: readonly number[]): number => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  let cpuAtStart = 0;
  let startedAt = 0;
  const measured = await runLoad({ mode: 'closed', ...target, connections: width, warmupSeconds: warmup, seconds }, () => {
    cpuAtStart = proxyPids ? cpuOf(proxyPids) : 0;
    startedAt = performance.now();
  });
  const wall = (performance.now() - startedAt) / 1000;
  const cpu = proxyPids ? cpuOf(proxyPids) - cpuAtStart : 0;
  return {
    requestsPerSecond: measured.ok / measured.elapsedSeconds,
    p50Ms: measured.p50Ms,
    p99Ms: measured.p99Ms,
    failed: measured.failed,
    failures: measured.failures,
    ...(proxyPids ? { proxyCpu: Math.round((cpu / wall) * 100) / 100, proxyCpuUsPerRequest: Math.round((cpu * 1e6) / Math.max(1, measured.ok)) } : {}),
  };
}

/** The load generator (harness/load.ts) in a process of its own; `measuring` is called when its measured part starts. */
async function runLoad(plan: LoadPlan, measuring?: () => void): Promise<LoadResult> {
  const child = children.spawn(LOAD, [JSON.stringify(plan)]);
  try {
    for await (const line of child.lines) {
      if (line['phase'] === 'measuring') measuring?.();
      else return line as unknown as LoadResult;
    }
    throw new Error(`load generator exited with code ${await child.exited}: ${lastWords(child.stderr())}`);
  } finally {
    await children.stop(child);
  }
}

function fmt(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function bounded(raw: string, min: number, max: number, flag: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    console.error(`${flag} must be a number from ${min} to ${max}, got ${raw}`);
    process.exit(2);
  }
  return value;
}
