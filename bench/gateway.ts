// Gateway benchmark: in one run on loopback, one node:http upstream (servers/upstream.ts, a
// process of its own) called directly and through `tessera gateway` (a process of its own, plain
// HTTP listener, one route), with a Bearer caller whose upstream token the gateway got from a
// real Tessera by token exchange once and then reuses from its cache. Three loads, each direct
// then through the gateway: small bodies both ways, 1 MiB answers, 1 MiB request bodies; prints
// requests/s and p99 for each and the gateway's ratio to direct (targets: ≥ 0.7 × for small
// bodies, ≥ 0.9 × for 1 MB). Then a fresh gateway's peak RSS while --concurrent connections
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

import assert from 'node:assert/strict';
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
  },
});
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
  target: number;
}
const ROWS: readonly Row[] = [
  { id: 'small', label: 'small bodies (POST 70 B, answer 30 B)', path: '/small', body: SMALL_BODY, target: 0.7 },
  { id: 'answer-1mb', label: '1 MiB answers (POST 70 B)', path: '/large', body: SMALL_BODY, target: 0.9 },
  { id: 'request-1mb', label: '1 MiB request bodies (answer 30 B)', path: '/small', body: { bytes: MIB }, target: 0.9 },
];

interface Measured {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
  failures: Record<string, number>;
  /** Cores the gateway's process used while measured (through the gateway only). */
  gatewayCpu?: number;
}

const children = runChildren();
const info = `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, Node.js ${process.version}`;
console.log(`${info}; ${connections} connections, ${warmup} s warm-up + ${seconds} s per load; then ${concurrent} streams of ${streamSeconds} s\n`);

const budgetMs = (ROWS.length * 2 * (warmup + seconds) + 2 * streamSeconds) * 1000 + SLACK_MS;
const result = await children.withDeadline(run, budgetMs).catch((error: Error) => {
  console.error(`\nThe run failed: ${error.message}`);
  process.exit(1);
});

const table = [
  ['load', 'direct req/s', 'direct p99 ms', 'gateway req/s', 'gateway p99 ms', 'gateway CPU cores', 'ratio', 'target'],
  ...ROWS.map((row) => {
    const { direct, gateway } = result.rows.get(row.id)!;
    const ratio = gateway.requestsPerSecond / direct.requestsPerSecond;
    return [
      row.label,
      fmt(direct.requestsPerSecond),
      direct.p99Ms.toFixed(1),
      fmt(gateway.requestsPerSecond),
      gateway.p99Ms.toFixed(1),
      (gateway.gatewayCpu ?? 0).toFixed(2),
      `${ratio.toFixed(2)} ×`,
      `≥ ${row.target} × ${ratio >= row.target ? 'met' : 'MISSED'}`,
    ];
  }),
];
const targets = ROWS.map((row) => {
  const { direct, gateway } = result.rows.get(row.id)!;
  const ratio = gateway.requestsPerSecond / direct.requestsPerSecond;
  return `${row.label}: the gateway gives ${ratio.toFixed(2)} × direct requests/s (target ≥ ${row.target} ×): ${ratio >= row.target ? 'met' : 'missed'}`;
});
const failures = [...result.rows.entries()].flatMap(([id, { direct, gateway }]) => [
  ...(direct.failed > 0 ? [`${id} direct: ${direct.failed} failed ${JSON.stringify(direct.failures)}`] : []),
  ...(gateway.failed > 0 ? [`${id} through the gateway: ${gateway.failed} failed ${JSON.stringify(gateway.failures)}`] : []),
]);
const s = result.streaming;
const streamLine =
  `${concurrent} concurrent streaming requests through a fresh gateway (${streamSeconds} s each, 1 KiB every 100 ms): ` +
  `the upstream had at most ${s.maxStreams} open at once${s.maxStreams < concurrent ? ' (fewer than asked: the gateway or the load generator lagged)' : ''}, ` +
  `${s.completed} completed, ${s.failed} failed; ` +
  `gateway RSS ${s.idleMb} MB before, peak ${s.peakMb} MB sampled (VmHWM ${s.hwmMb} MB)`;

console.log(`\n${textTable(table)}\n`);
console.log(targets.join('\n'));
console.log(`\n${streamLine}`);
if (failures.length > 0) console.log(`\nFailed requests (a load with failures measures them too):\n${failures.join('\n')}`);

if (options.write) {
  await writeSmallReport({
    name: 'gateway',
    title: 'Gateway benchmark',
    script: 'npm run bench:gateway',
    how:
      `Loopback, plain HTTP. ${result.how} ${connections} connections, ${warmup} s warm-up and ${seconds} s per load, direct then through ` +
      `the gateway. ${streamLine}.`,
    table,
    targetsHeading: 'Targets',
    targets: [...targets, ...failures],
    data: { settings: { seconds, warmup, connections, concurrent, streamSeconds }, rows: Object.fromEntries(result.rows), streaming: s },
  });
}
process.exit(0);

async function run(): Promise<{
  how: string;
  rows: Map<string, { direct: Measured; gateway: Measured }>;
  streaming: { maxStreams: number; completed: number; failed: number; idleMb: number; peakMb: number; hwmMb: number };
}> {
  const fromSource = options['from-source'];
  const how = fromSource
    ? 'The gateway runs the TypeScript sources (--from-source).'
    : (await useBuiltCli(), 'The gateway runs the built JavaScript (`npm run build`), as the installed packages do.');
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
    const file = join(dir, 'gateway.json');
    await writeFile(file, JSON.stringify(config(upstreamUrl)));

    let gateway = await startGateway(cli, nodeFlags, file);
    const auth = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' };
    // The first request through the gateway exchanges the caller's token; every later one reuses it.
    const first = await fetch(`${gateway.url}/small`, { method: 'POST', headers: auth, body: SMALL_BODY });
    assert.equal(first.status, 200, `the gateway answered ${first.status}: ${await first.text()}`);

    const rows = new Map<string, { direct: Measured; gateway: Measured }>();
    for (const row of ROWS) {
      let body: Pick<LoadPlan, 'body' | 'bodyFile'> = { body: '' };
      if (typeof row.body === 'string') body = { body: row.body };
      else await writeFile((body = { body: '', bodyFile: join(dir, `${row.id}.body`) }).bodyFile!, 'x'.repeat(row.body.bytes));
      process.stdout.write(`${row.label}: direct … `);
      const direct = await load({ url: `${upstreamUrl}${row.path}`, headers: { 'content-type': 'application/json' }, ...body });
      process.stdout.write(`${fmt(direct.requestsPerSecond)} req/s, p99 ${direct.p99Ms} ms; through the gateway … `);
      const through = await load({ url: `${gateway.url}${row.path}`, headers: auth, ...body }, gateway.pid);
      console.log(`${fmt(through.requestsPerSecond)} req/s, p99 ${through.p99Ms} ms`);
      rows.set(row.id, { direct, gateway: through });
    }

    // Memory under many slow answers at once, in a gateway that has served nothing else.
    await children.stop(gateway.child);
    gateway = await startGateway(cli, nodeFlags, file);
    const warm = await fetch(`${gateway.url}/small`, { method: 'POST', headers: auth, body: SMALL_BODY });
    assert.equal(warm.status, 200, `the gateway answered ${warm.status}`);
    process.stdout.write(`${concurrent} streams of ${streamSeconds} s through the gateway … `);
    const idleMb = Math.round(memoryKb(gateway.pid).rss / 102.4) / 10;
    const sampler = sampleMemory([gateway.pid]);
    const streamed = await runLoad({
      mode: 'closed',
      url: `${gateway.url}/stream`,
      headers: auth,
      body: SMALL_BODY,
      connections: concurrent,
      warmupSeconds: 0,
      seconds: 2 * streamSeconds,
    });
    const peak = sampler.stop();
    const stats = (await (await fetch(`${upstreamUrl}/stats`)).json()) as { maxStreams: number };
    console.log(`peak RSS ${peak.totalMb} MB`);
    await children.stop(gateway.child);
    await children.stop(upstream);
    return {
      how,
      rows,
      streaming: { maxStreams: stats.maxStreams, completed: streamed.ok, failed: streamed.failed, idleMb, peakMb: peak.totalMb, hwmMb: peak.processMb },
    };
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

/** `tessera gateway --config <file>`, ready once it logs its URL; its log is read (and dropped) from then on. */
async function startGateway(cli: string, nodeFlags: string[], file: string): Promise<{ child: Child; pid: number; url: string }> {
  const child = children.spawn(cli, ['gateway', '--config', file], { nodeFlags });
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
  return { child, pid: child.process.pid!, url };
}

/** One closed-loop load (warm-up, then measured), and the gateway's CPU over the measured part. */
async function load(target: Pick<LoadPlan, 'url' | 'headers' | 'body' | 'bodyFile'>, gatewayPid?: number): Promise<Measured> {
  let cpuAtStart = 0;
  let startedAt = 0;
  const measured = await runLoad({ mode: 'closed', ...target, connections, warmupSeconds: warmup, seconds }, () => {
    cpuAtStart = gatewayPid ? cpuSeconds(gatewayPid) : 0;
    startedAt = performance.now();
  });
  const wall = (performance.now() - startedAt) / 1000;
  return {
    requestsPerSecond: measured.ok / measured.elapsedSeconds,
    p50Ms: measured.p50Ms,
    p99Ms: measured.p99Ms,
    failed: measured.failed,
    failures: measured.failures,
    ...(gatewayPid ? { gatewayCpu: Math.round(((cpuSeconds(gatewayPid) - cpuAtStart) / wall) * 100) / 100 } : {}),
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
