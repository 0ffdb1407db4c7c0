// Soak (issue 6 item 7): one Tessera process (its own, on loopback) under token requests at
// half of its peak rate for ten minutes, with the SDK on the other side verifying the tokens
// the load generator receives and a few SDK token clients fetching and refreshing their own.
// Prints a row per interval (the server's RSS and heap, answers/s, latency of the 2xx answers,
// errors, tokens verified, CPU cores used by the server and by everything else) and then the
// figures: requests, errors, p99, and RSS growth over the steady phase (target < 10 %).
// Exits 1 when anything failed or RSS grew by 10 % or more.
//
//   npm run soak                                   # 10 s at full rate for the peak, then 600 s at half of it
//   npm run soak -- --duration 120 --interval 5
//   npm run soak -- --rate 1500                    # no peak run
//   npm run soak -- --database postgres            # a throwaway database on TESSERA_BENCH_DATABASE_URL (or local)
//   npm run soak -- --database postgres://user@host:5432/postgres
//
// runSoak is what packages/server/test/soak/soak.test.ts runs, briefly and at a modest rate.

import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import { cpuSeconds, lastWords, machineBusySeconds, memoryKb, requestReports, sampleMemory, Children } from './harness/processes.ts';
import { measure } from './harness/run-row.ts';
import { startSdkSide, type SdkCounts } from './harness/soak-sdk.ts';
import type { SoakInterval, SoakLoadPlan, SoakLoadTotals } from './harness/soak-load.ts';
import { AUDIENCE, launch, ROLES, type Launched } from './harness/subjects.ts';
import { verifyTokens } from './harness/verify.ts';

export interface SoakOptions {
  durationSeconds: number;
  /** Requests per second; half of a peak run's when absent. */
  rate?: number;
  peakSeconds: number;
  intervalSeconds: number;
  /** The steady phase, over which RSS growth counts, starts this long into the soak. */
  warmupSeconds: number;
  connections: number;
  storage: 'sqlite' | 'postgres';
  /** Where a PostgreSQL soak creates its throwaway database; harness/postgres.ts's default otherwise. */
  postgresServer?: string;
  /** Every how many-th token the load generator receives is verified with the SDK (1: all). */
  verifyEvery: number;
  tokenClients: number;
  clientCallEveryMs: number;
  clientTokenLifetimeSeconds: number;
  clientForceRefreshEvery: number;
  /** A request unanswered this long after it was due counts as a timeout. */
  timeoutMs: number;
  /** Every process the soak starts; the caller kills them on exit or signal. */
  children: Children;
  print: (line: string) => void;
}

export interface SoakSample {
  seconds: number;
  rssMb: number;
  /** The server's V8 heap in use, from its report (servers/cluster.ts). */
  heapUsedMb: number | undefined;
  /** Answers the server gave per second, in time or late. */
  requestsPerSecond: number;
  /** 2xx answers in time. */
  ok: number;
  /** Their latencies, from when each request was due. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Load-generator failures and SDK failures in the interval. */
  errors: number;
  verified: number;
  /** CPU cores used in the interval by the server, and by everything but the server, the load generator and this process. */
  serverCpu: number;
  otherCpu: number;
}

export interface SoakResult {
  rate: number;
  peak?: { tokensPerSecond: number; p99Ms: number; failed: number; otherCpu: number };
  samples: SoakSample[];
  load: SoakLoadTotals;
  sdk: SdkCounts;
  errors: number;
  rss: { beforeMb: number; steadyStartMb: number; steadyStartSeconds: number; endMb: number; maxMb: number; growthPercent: number };
  rssTargetMet: boolean;
  loadAverage: { start: number[]; end: number[] };
}

export const RSS_GROWTH_TARGET_PERCENT = 10;
/** Starting the server and setting it up; the soak's own time comes on top. */
const SETUP_SLACK_MS = 120_000;
const SDK_SERVICE = 'sdk';
const SDK_ROLE = 'soak';
const SOAK_LOAD = join(import.meta.dirname, 'harness', 'soak-load.ts');

const COLUMNS: readonly (readonly [string, number])[] = [
  ['t s', 6],
  ['RSS MB', 7],
  ['heap MB', 8],
  ['req/s', 7],
  ['p50 ms', 7],
  ['p99 ms', 8],
  ['max ms', 8],
  ['errors', 7],
  ['verified', 9],
  ['CPU srv', 8],
  ['CPU other', 10],
];

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const budget = SETUP_SLACK_MS + (options.rate ? 0 : (options.peakSeconds + 2) * 1000 + 30_000) + options.durationSeconds * 1000 + options.timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      options.children.killAll();
      reject(new Error(`the soak did not end within ${Math.round(budget / 1000)} s; every process it started was killed`));
    }, budget);
  });
  try {
    return await Promise.race([soak(options), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function soak(options: SoakOptions): Promise<SoakResult> {
  const { print } = options;
  const loadAverage = { start: loadavg(), end: [] as number[] };
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const subject = await launch(
    { id: 'soak', label: 'Tessera ×1', kind: 'tessera', processes: 1, storage: options.storage, postgresServer: options.postgresServer },
    { children: options.children, nodeFlags: [], signingJwk: { ...(await exportJWK(privateKey)), kid: 'soak' }, startTimeoutMs: 60_000 },
  );
  let sdk: ReturnType<typeof startSdkSide> | undefined;
  try {
    await verifyTokens(subject.request, subject.expect, 3);
    const sdkSecret = await registerSdkService(subject);
    print(
      `Tessera ×1 (${options.storage}), pid ${subject.pids.join(', ')}, on ${new URL(subject.request.url).origin}; load average ${formatLoad(loadAverage.start)}`,
    );

    let peak: SoakResult['peak'];
    let rate = options.rate;
    if (rate === undefined) {
      const run = await measure(options.children, subject, {
        mode: 'closed',
        connections: options.connections,
        warmupSeconds: 2,
        seconds: options.peakSeconds,
      });
      peak = {
        tokensPerSecond: Math.round(run.result.ok / run.result.elapsedSeconds),
        p99Ms: run.result.p99Ms,
        failed: run.result.failed,
        otherCpu: run.otherCpu,
      };
      rate = Math.max(1, Math.round(peak.tokensPerSecond / 2));
      const failures = peak.failed > 0 ? `, ${peak.failed} failed: ${JSON.stringify(run.result.failures)}` : '';
      print(
        `Peak: ${peak.tokensPerSecond} tokens/s over ${options.peakSeconds} s (${options.connections} connections), p99 ${peak.p99Ms} ms${failures}; other work on the machine: ${peak.otherCpu} cores`,
      );
    }
    print(
      `Soak: ${rate} tokens/s for ${options.durationSeconds} s over ${options.connections} connections, open loop; ${every(options.verifyEvery, 'token')} verified with the SDK; ` +
        `${options.tokenClients} SDK token clients (${options.clientTokenLifetimeSeconds} s tokens, a call every ${options.clientCallEveryMs} ms, ${every(options.clientForceRefreshEvery, 'call')} forcing a new token); ` +
        `steady phase from ${options.warmupSeconds} s\n`,
    );

    sdk = startSdkSide({
      issuer: subject.expect.issuer,
      jwksUri: subject.expect.jwksUrl,
      tokenEndpoint: subject.request.url,
      audience: AUDIENCE,
      loadRoles: ROLES,
      clientId: `alpha.${SDK_SERVICE}`,
      clientSecret: sdkSecret,
      clientRoles: ['readers', SDK_ROLE],
      tokenClients: options.tokenClients,
      callEveryMs: options.clientCallEveryMs,
      tokenLifetimeSeconds: options.clientTokenLifetimeSeconds,
      forceRefreshEvery: options.clientForceRefreshEvery,
    });
    const pid = subject.pids[0]!;
    const beforeMb = mb(memoryKb(pid).rss);
    const memory = sampleMemory(subject.pids);
    const { samples, load } = await runLoad(options, subject, rate, sdk);
    const maxMb = memory.stop().totalMb;
    const sdkCounts = await sdk.stop();
    sdk = undefined;
    loadAverage.end = loadavg();

    const steady = samples.find((sample) => sample.seconds >= options.warmupSeconds - 0.5) ?? samples[0]!;
    const endMb = samples.at(-1)!.rssMb;
    const growthPercent = Math.round(((endMb - steady.rssMb) / steady.rssMb) * 1000) / 10;
    const result: SoakResult = {
      rate,
      peak,
      samples,
      load,
      sdk: sdkCounts,
      errors: load.failed + sdkCounts.failed,
      rss: {
        beforeMb,
        steadyStartMb: steady.rssMb,
        steadyStartSeconds: steady.seconds,
        endMb,
        maxMb: Math.max(maxMb, ...samples.map((sample) => sample.rssMb)),
        growthPercent,
      },
      rssTargetMet: growthPercent < RSS_GROWTH_TARGET_PERCENT,
      loadAverage,
    };
    printSummary(result, options, print);
    return result;
  } finally {
    await sdk?.stop();
    await subject.cleanup();
  }
}

/** `alpha.sdk`, holding `readers` and its own role `soak` in `beta`: the token clients' identity. */
async function registerSdkService(subject: Launched): Promise<string> {
  const admin = subject.admin!;
  const must = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const { status, json } = await admin(method, path, body);
    if (status >= 300) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(json)}`);
    return json;
  };
  const service = await must('POST', '/domains/alpha/services', { name: SDK_SERVICE, allowedIps: ['127.0.0.0/8'] });
  await must('PUT', `/domains/${AUDIENCE}/roles/${SDK_ROLE}`, { members: [{ principal: `alpha.${SDK_SERVICE}` }] });
  await must('PUT', `/domains/${AUDIENCE}/roles/readers/members/alpha.${SDK_SERVICE}`, {});
  return service['clientSecret'] as string;
}

/** The load generator for the whole soak; a row printed per interval as it ends. */
async function runLoad(
  options: SoakOptions,
  subject: Launched,
  rate: number,
  sdk: ReturnType<typeof startSdkSide>,
): Promise<{ samples: SoakSample[]; load: SoakLoadTotals }> {
  const plan: SoakLoadPlan = {
    url: subject.request.url,
    headers: subject.request.headers,
    body: subject.request.body,
    rate,
    seconds: options.durationSeconds,
    connections: options.connections,
    intervalSeconds: options.intervalSeconds,
    tokenEvery: options.verifyEvery,
    timeoutMs: options.timeoutMs,
  };
  const pid = subject.pids[0]!;
  const child = options.children.spawn(SOAK_LOAD, [JSON.stringify(plan)]);
  const loadPid = child.process.pid ?? 0;
  const cpu = (): { server: number; rest: number; machine: number; at: number } => {
    const self = process.cpuUsage();
    return { server: cpuSeconds(pid), rest: cpuSeconds(loadPid) + (self.user + self.system) / 1e6, machine: machineBusySeconds(), at: performance.now() };
  };
  const samples: SoakSample[] = [];
  let previousCpu = cpu();
  let previousSdk = sdk.counts();
  // Rows wait for the server's report (heap, a few ms) without holding up the load generator's lines.
  let rows = Promise.resolve();
  options.print(formatRow(COLUMNS.map(([title]) => title)));
  try {
    for await (const line of child.lines) {
      if (typeof line['token'] === 'string') {
        sdk.verify(line['token']);
      } else if (line['interval']) {
        const interval = line['interval'] as SoakInterval;
        const rssMb = mb(memoryKb(pid).rss);
        const now = cpu();
        const wall = (now.at - previousCpu.at) / 1000;
        const serverCpu = (now.server - previousCpu.server) / wall;
        const otherCpu = Math.max(0, now.machine - previousCpu.machine - (now.server - previousCpu.server) - (now.rest - previousCpu.rest)) / wall;
        previousCpu = now;
        const counts = sdk.counts();
        const sdkErrors = counts.failed - previousSdk.failed;
        const verified = counts.verified - previousSdk.verified;
        previousSdk = counts;
        rows = rows.then(async () => {
          const report = (await requestReports(subject.child, subject.pids, 1))[0];
          const sample: SoakSample = {
            seconds: interval.endSeconds,
            rssMb,
            heapUsedMb: report?.memoryMb.heapUsed,
            requestsPerSecond: Math.round(interval.answered / interval.lengthSeconds),
            ok: interval.ok,
            p50Ms: interval.p50Ms,
            p99Ms: interval.p99Ms,
            maxMs: interval.maxMs,
            errors: interval.failed + sdkErrors,
            verified,
            serverCpu: round2(serverCpu),
            otherCpu: round2(otherCpu),
          };
          samples.push(sample);
          options.print(formatSample(sample));
          if (interval.failed > 0) options.print(`       load generator failures: ${JSON.stringify(interval.failures)}`);
        });
      } else if (line['done']) {
        await rows;
        return { samples, load: line['done'] as SoakLoadTotals };
      }
    }
    const code = await child.exited;
    throw new Error(`the load generator exited with code ${code} before it finished: ${lastWords(child.stderr())}`);
  } finally {
    await options.children.stop(child);
  }
}

function printSummary(result: SoakResult, options: SoakOptions, print: (line: string) => void): void {
  const { load, sdk, rss } = result;
  const sdkFailures = sdk.failed > 0 ? ` (${JSON.stringify(sdk.failures)})` : '';
  const loadFailures = load.failed > 0 ? ` (${JSON.stringify(load.failures)})` : '';
  print('');
  const other = result.samples.map((sample) => sample.otherCpu);
  print(`Requests: ${load.sent} due at ${result.rate}/s, ${load.ok} answered 200 within ${options.timeoutMs / 1000} s, ${load.failed} failed${loadFailures}`);
  print(`Latency of those answered in time (from when each request was due): p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms, max ${load.maxMs} ms`);
  print(
    `Other work on the machine meanwhile: ${round2(other.reduce((sum, cores) => sum + cores, 0) / other.length)} cores on average, ${Math.max(...other)} at most`,
  );
  print(
    `SDK: ${sdk.verified} of the load generator's tokens verified; ${options.tokenClients} token clients made ${sdk.clientCalls} calls and handed out ${sdk.clientTokens} distinct tokens, all verified; ${sdk.failed} failures${sdkFailures}`,
  );
  for (const example of sdk.examples) print(`  ${example}`);
  print(`Errors: ${result.errors}`);
  print(
    `RSS: ${rss.beforeMb} MB before the load, ${rss.steadyStartMb} MB at ${rss.steadyStartSeconds} s (start of the steady phase), ${rss.endMb} MB at the end, ${rss.maxMb} MB at most`,
  );
  print(`RSS growth over the steady phase: ${rss.growthPercent} % (target < ${RSS_GROWTH_TARGET_PERCENT} %: ${result.rssTargetMet ? 'met' : 'MISSED'})`);
  print(`Load average: ${formatLoad(result.loadAverage.start)} at the start, ${formatLoad(result.loadAverage.end)} at the end`);
}

function formatRow(cells: readonly string[]): string {
  return cells.map((cell, i) => cell.padStart(COLUMNS[i]![1])).join(' ');
}

function formatSample(sample: SoakSample): string {
  const latency = (ms: number, digits: number): string => (sample.ok > 0 ? ms.toFixed(digits) : '–');
  return formatRow([
    sample.seconds.toFixed(0),
    sample.rssMb.toFixed(1),
    sample.heapUsedMb?.toFixed(1) ?? '?',
    String(sample.requestsPerSecond),
    latency(sample.p50Ms, 2),
    latency(sample.p99Ms, 2),
    latency(sample.maxMs, 1),
    String(sample.errors),
    String(sample.verified),
    sample.serverCpu.toFixed(2),
    sample.otherCpu.toFixed(2),
  ]);
}

function mb(kb: number): number {
  return Math.round(kb / 102.4) / 10;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function formatLoad(load: readonly number[]): string {
  return load.map((value) => value.toFixed(2)).join(' ');
}

/** "every token", "every 10th token", "no token". */
function every(n: number, what: string): string {
  if (n === 0) return `no ${what}`;
  if (n === 1) return `every ${what}`;
  const suffix = n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th';
  return `every ${n}${suffix} ${what}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '600' },
      rate: { type: 'string' },
      'peak-seconds': { type: 'string', default: '10' },
      interval: { type: 'string', default: '10' },
      warmup: { type: 'string' },
      connections: { type: 'string', default: '32' },
      database: { type: 'string', default: 'sqlite' },
      'verify-every': { type: 'string', default: '10' },
      'token-clients': { type: 'string', default: '4' },
      timeout: { type: 'string', default: '10' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(`npm run soak -- [--duration 600] [--rate N | --peak-seconds 10] [--interval 10] [--warmup S] [--connections 32]
                 [--database sqlite|postgres|postgres://…] [--verify-every 10] [--token-clients 4] [--timeout 10]

Without --rate, a closed-loop run of --peak-seconds finds the peak and the soak runs at half of it.
--warmup (default 10 % of --duration): RSS growth counts from the first sample at or after it.
--timeout: seconds after which an unanswered request counts as a failure.`);
    return;
  }
  const durationSeconds = bounded(values.duration, 1, 86_400, '--duration');
  const database = values.database;
  if (database !== 'sqlite' && database !== 'postgres' && !/^postgres(ql)?:\/\//.test(database))
    fatal(`--database is sqlite, postgres or a postgres:// URL, got ${database}`);
  const children = new Children();
  process.on('exit', () => children.killAll());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping the server and the load generator`);
      void children.interrupt().finally(() => process.exit(130));
    });
  }
  const result = await runSoak({
    durationSeconds,
    rate: values.rate === undefined ? undefined : bounded(values.rate, 1, 100_000, '--rate'),
    peakSeconds: bounded(values['peak-seconds'], 1, 60, '--peak-seconds'),
    intervalSeconds: bounded(values.interval, 1, 600, '--interval'),
    warmupSeconds: values.warmup === undefined ? durationSeconds / 10 : bounded(values.warmup, 0, durationSeconds, '--warmup'),
    connections: bounded(values.connections, 1, 1024, '--connections'),
    storage: database === 'sqlite' ? 'sqlite' : 'postgres',
    postgresServer: database.includes('://') ? database : undefined,
    verifyEvery: bounded(values['verify-every'], 0, 1_000_000, '--verify-every'),
    tokenClients: bounded(values['token-clients'], 0, 100, '--token-clients'),
    clientCallEveryMs: 1000,
    clientTokenLifetimeSeconds: 60,
    clientForceRefreshEvery: 30,
    timeoutMs: bounded(values.timeout, 1, 120, '--timeout') * 1000,
    children,
    print: (line) => console.log(line),
  });
  const problems = [
    ...(result.errors > 0 ? [`${result.errors} errors`] : []),
    ...(result.rssTargetMet ? [] : [`RSS grew ${result.rss.growthPercent} % (target < ${RSS_GROWTH_TARGET_PERCENT} %)`]),
  ];
  console.log(problems.length === 0 ? '\nSoak passed.' : `\nSoak FAILED: ${problems.join('; ')}.`);
  process.exit(problems.length === 0 ? 0 : 1);
}

function bounded(raw: string, min: number, max: number, flag: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) fatal(`${flag} must be a number from ${min} to ${max}, got ${raw}`);
  return value;
}

function fatal(message: string): never {
  console.error(message);
  process.exit(2);
}

if (import.meta.main) await main();
