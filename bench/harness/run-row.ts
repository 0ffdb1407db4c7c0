// One row of the table: start a server, prove its tokens are real, load it, measure, stop it.

import { join } from 'node:path';
import type { LoadPlan, LoadResult } from './load.ts';
import { probeAudit, probeIpCheck, probeTokenReuse, type Probe } from './features.ts';
import { readCounters, SQL_STATEMENTS, type Counters } from './metrics.ts';
import {
  cpuSeconds,
  lastWords,
  machineBusySeconds,
  postgresCpuSeconds,
  requestReports,
  sampleMemory,
  type Children,
  type MemoryPeak,
  type ServerReport,
} from './processes.ts';
import { launch, type LaunchContext, type Launched, type RowSpec } from './subjects.ts';
import { verifyTokens, type TokenSample } from './verify.ts';

export interface LoadSettings {
  seconds: number;
  warmupSeconds: number;
  connections: number;
}

export interface HalfRate {
  targetRate: number;
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failed: number;
  /** The worst event-loop lateness of the server's processes meanwhile. */
  loopDelayP99Ms?: number;
  loopDelayMaxMs?: number;
}

export interface RowResult {
  id: string;
  label: string;
  kind: RowSpec['kind'];
  processes: number;
  storage?: string;
  status: 'ok' | 'n/a' | 'failed';
  /** Why a row is n/a or failed, or what else to know about it. */
  note?: string;
  tokensPerSecond?: number;
  p50Ms?: number;
  p99Ms?: number;
  maxMs?: number;
  failed?: number;
  failures?: Record<string, number>;
  /** CPU cores the server's processes used while measured (2 = both cores of this machine). */
  serverCpu?: number;
  loadCpu?: number;
  /** PostgreSQL's backends for this server's database. */
  databaseCpu?: number;
  /** Every PostgreSQL process on the machine (server, background workers, all backends), for PostgreSQL rows. */
  postgresCpu?: number;
  /** SQL statements Tessera sent per token request while measured (its tessera_sql_statements_total). */
  sql?: { statements: number; tokenRequests: number } | { missing: string };
  /** CPU cores busy with anything else on the machine meanwhile (other users, the harness). */
  otherCpu?: number;
  /** tokens/s of every round, when the row ran more than once (the row shows the median run). */
  rounds?: number[];
  memory?: MemoryPeak;
  /** Each serving process right after the peak run: event-loop lateness during it, and V8's memory. */
  afterPeak?: ServerReport[];
  halfRate?: HalfRate;
  token?: TokenSample;
  features?: Record<string, Probe>;
}

const LOAD_SCRIPT = join(import.meta.dirname, 'load.ts');

export async function runRow(spec: RowSpec, context: LaunchContext, load: LoadSettings): Promise<RowResult> {
  const row: RowResult = { id: spec.id, label: spec.label, kind: spec.kind, processes: spec.processes, storage: spec.storage, status: 'failed' };
  const subject = await launch(spec, context);
  try {
    if (subject.note) row.note = subject.note;
    // Several tokens, so that with two processes both workers are checked.
    for (const instance of subject.instances ?? [subject]) row.token = await verifyTokens(instance.request, instance.expect, 3 * spec.processes);
    if (spec.kind === 'tessera') {
      row.features = { ipChecks: await probeIpCheck(subject) };
      if (spec.tokenReuse) {
        row.features['tokenReuse'] = await probeTokenReuse(subject);
        if (!row.features['tokenReuse'].on) return { ...row, status: 'n/a', note: 'n/a (not implemented): token reuse is not in this build' };
      }
    }
    const memory = sampleMemory(subject.pids);
    try {
      const peak = await measure(context.children, subject, { mode: 'closed', ...load });
      Object.assign(row, {
        status: peak.result.failed > 0 ? 'failed' : 'ok',
        tokensPerSecond: Math.round(peak.result.ok / peak.result.elapsedSeconds),
        p50Ms: peak.result.p50Ms,
        p99Ms: peak.result.p99Ms,
        maxMs: peak.result.maxMs,
        failed: peak.result.failed,
        failures: peak.result.failures,
        serverCpu: peak.serverCpu,
        loadCpu: peak.loadCpu,
        databaseCpu: peak.databaseCpu,
        otherCpu: peak.otherCpu,
        postgresCpu: peak.postgresCpu,
        sql: peak.sql,
      });
      const reports = async (): Promise<ServerReport[]> => {
        if (!subject.reporters) return requestReports(subject.child, subject.pids, spec.processes);
        // A cluster's primary (the first pid) only hands connections to its workers: it has nothing to report.
        const each = subject.reporters.map(({ child, pids }) => requestReports(child, pids, Math.max(1, pids.length - 1)));
        return (await Promise.all(each)).flat();
      };
      row.afterPeak = await reports();
      if (peak.result.failed > 0) row.note = `${row.note ? `${row.note}; ` : ''}${peak.result.failed} requests failed: ${JSON.stringify(peak.result.failures)}`;
      if (spec.halfRate && row.tokensPerSecond) {
        const targetRate = Math.max(1, Math.round(row.tokensPerSecond / 2));
        const half = await measure(context.children, subject, { mode: 'paced', ...load, rate: targetRate });
        row.halfRate = {
          targetRate,
          achievedRate: Math.round(half.result.ok / load.seconds),
          p50Ms: half.result.p50Ms,
          p99Ms: half.result.p99Ms,
          maxMs: half.result.maxMs,
          failed: half.result.failed,
        };
        const loop = (await reports()).map((report) => report.loopDelayMs);
        if (loop.length > 0) {
          row.halfRate.loopDelayP99Ms = Math.max(...loop.map((delay) => delay.p99));
          row.halfRate.loopDelayMaxMs = Math.max(...loop.map((delay) => delay.max));
        }
      }
    } finally {
      row.memory = memory.stop();
    }
    if (spec.kind === 'tessera') row.features!['audit'] = await probeAudit(subject);
    return row;
  } finally {
    await subject.cleanup();
  }
}

interface Measured {
  result: LoadResult;
  serverCpu: number;
  loadCpu: number;
  databaseCpu?: number;
  postgresCpu?: number;
  otherCpu: number;
  sql?: RowResult['sql'];
}

/** Runs the load generator against the subject; CPU use is counted over the measured part only. */
export async function measure(children: Children, subject: Launched, settings: Omit<LoadPlan, 'url' | 'headers' | 'body'>): Promise<Measured> {
  const urls = subject.instances?.map((instance) => instance.request.url);
  const plan: LoadPlan = { ...settings, url: subject.request.url, urls, headers: subject.request.headers, body: subject.request.body };
  const child = children.spawn(LOAD_SCRIPT, [JSON.stringify(plan)]);
  const loadPid = child.process.pid ?? 0;
  const cpu = (): { server: number; load: number; machine: number; at: number } => ({
    server: subject.pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    load: cpuSeconds(loadPid),
    machine: machineBusySeconds(),
    at: performance.now(),
  });
  // Per backend, because Tessera's pool connects lazily and may grow during the measurement:
  // a backend that appears meanwhile counts from zero.
  const databaseCpu = async (): Promise<Map<number, number>> => new Map(((await subject.databasePids?.()) ?? []).map((pid) => [pid, cpuSeconds(pid)]));
  const counters = async (): Promise<Counters | string> => {
    if (!subject.metricsUrls) return 'not counted: a scrape of /metrics reaches one worker only';
    return readCounters(subject.metricsUrls).catch((error: Error) => `could not read /metrics: ${error.message}`);
  };
  let start = cpu();
  let databaseAtStart = new Map<number, number>();
  let postgresAtStart = 0;
  let countersAtStart: Counters | string = '';
  try {
    for await (const line of child.lines) {
      if (line['phase'] === 'measuring') {
        countersAtStart = await counters();
        databaseAtStart = await databaseCpu();
        postgresAtStart = subject.postgres ? postgresCpuSeconds() : 0;
        start = cpu();
        continue;
      }
      const end = cpu();
      const postgresAtEnd = subject.postgres ? postgresCpuSeconds() : 0;
      const countersAtEnd = await counters();
      let database = 0;
      for (const [pid, seconds] of await databaseCpu()) database += seconds - (databaseAtStart.get(pid) ?? 0);
      const wall = (end.at - start.at) / 1000;
      const round = (value: number): number => Math.round(value * 100) / 100;
      const server = end.server - start.server;
      const generator = end.load - start.load;
      return {
        result: line as unknown as LoadResult,
        serverCpu: round(server / wall),
        loadCpu: round(generator / wall),
        databaseCpu: subject.databasePids ? round(database / wall) : undefined,
        postgresCpu: subject.postgres ? round((postgresAtEnd - postgresAtStart) / wall) : undefined,
        sql: subject.admin ? sqlDelta(countersAtStart, countersAtEnd) : undefined,
        otherCpu: round(Math.max(0, end.machine - start.machine - server - generator - database) / wall),
      };
    }
    const code = await child.exited;
    throw new Error(`load generator exited with code ${code}: ${lastWords(child.stderr())}`);
  } finally {
    await children.stop(child);
  }
}

function sqlDelta(before: Counters | string, after: Counters | string): RowResult['sql'] {
  if (typeof before === 'string') return { missing: before };
  if (typeof after === 'string') return { missing: after };
  if (before.sqlStatements === undefined || after.sqlStatements === undefined) return { missing: `n/a: this build has no ${SQL_STATEMENTS} on /metrics` };
  return { statements: after.sqlStatements - before.sqlStatements, tokenRequests: after.tokenRequests - before.tokenRequests };
}
