// Token endpoint benchmark: in one run, side by side on loopback, a floor (node:http + one
// SHA-256 + one ES256 signature) and oidc-provider on one process and on two; Tessera on one
// process (SQLite, then PostgreSQL), as `tessera serve` starts by default (every core, SQLite),
// and as two separate instances on one PostgreSQL; then Tessera with token reuse. Beside Tessera ×1,
// the same server answering RFC 8693 token exchanges, with its ratio to client credentials. Prints
// tokens/s, p50/p99, peak RSS, SQL statements and PostgreSQL CPU per token with Tessera's
// ratios, checks issue 11's targets, and writes bench/results/<date>-<host>.{json,md} and
// bench/results/token-endpoint.svg. If Tessera misses a target, the floor and Tessera run once
// more under `node --cpu-prof` to say where the time goes.
//
//   npm run bench                                    # every row, 10 s each, 32 connections
//   npm run bench -- --seconds 5 --connections 64
//   npm run bench -- --rounds 3                      # each row 3 times, back and forth; medians
//   npm run bench -- --only floor-1,tessera-1        # some rows; nothing is written
//   npm run bench -- --cpu-prof /tmp/prof            # profile every row's server; nothing is written
//   npm run bench -- --no-profile                    # skip the profiling pass after a missed target
//   npm run bench -- --node-flags=--max-semi-space-size=4   # V8 flags for every server; nothing is written

import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, hostname, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import { probeRateLimits, type Probe } from './harness/features.ts';
import { markdownReport, type RunRecord } from './harness/markdown.ts';
import { runChildren } from './harness/processes.ts';
import { formatProfile, summarizeProfiles } from './harness/profile.ts';
import {
  chartSvg,
  checkTargets,
  cpuPerToken,
  DEFAULT_ROW,
  EXCHANGE_ROW,
  exchangeComparison,
  halfRateTable,
  memoryTable,
  ONE_PG_ROW,
  storageTable,
  tableRows,
  targetLines,
  textTable,
  TWO_INSTANCES_ROW,
  type RunInfo,
} from './harness/report.ts';
import { serveHasWorkers, useBuiltCli } from './harness/tessera-cli.ts';
import { runRow, type LoadSettings, type RowResult } from './harness/run-row.ts';
import type { LaunchContext, RowSpec } from './harness/subjects.ts';

/** `tessera serve` without --workers runs one process per core. */
const CORES = availableParallelism();
const ROWS: readonly RowSpec[] = [
  { id: 'floor-1', label: 'floor ×1', kind: 'floor', processes: 1, halfRate: true },
  { id: 'oidc-1', label: 'oidc-provider ×1', kind: 'oidc-provider', processes: 1, halfRate: true },
  { id: 'tessera-1', label: 'Tessera ×1 (--workers 1)', kind: 'tessera', processes: 1, storage: 'sqlite', workers: 1, halfRate: true },
  // Beside the row above: the same server answering RFC 8693 token exchanges (exchangeComparison prints the ratio).
  { id: EXCHANGE_ROW, label: 'Tessera ×1, token exchange', kind: 'tessera', processes: 1, storage: 'sqlite', workers: 1, exchange: true },
  { id: ONE_PG_ROW, label: 'Tessera ×1 (PostgreSQL, --workers 1)', kind: 'tessera', processes: 1, storage: 'postgres', workers: 1, halfRate: true },
  { id: 'floor-2', label: 'floor ×2', kind: 'floor', processes: 2, halfRate: CORES === 2 },
  { id: 'oidc-2', label: 'oidc-provider ×2', kind: 'oidc-provider', processes: 2 },
  // Two instances of `tessera serve --workers 1`, each on its own port, the load split between them.
  {
    id: TWO_INSTANCES_ROW,
    label: 'Tessera, 2 instances on one PostgreSQL',
    kind: 'tessera',
    processes: 2,
    storage: 'postgres',
    workers: 1,
    instances: 2,
    halfRate: true,
  },
  ...(CORES > 2 ? [{ id: `floor-${CORES}`, label: `floor ×${CORES}`, kind: 'floor', processes: CORES, halfRate: true } satisfies RowSpec] : []),
  {
    id: DEFAULT_ROW,
    label: `Tessera default serve (×${CORES}, SQLite)`,
    kind: 'tessera',
    processes: CORES,
    storage: 'sqlite',
    workers: 'auto',
    halfRate: true,
  },
  { id: 'tessera-1-reuse', label: 'Tessera ×1, token reuse', kind: 'tessera', processes: 1, storage: 'sqlite', workers: 1, tokenReuse: true },
];
/** Starting a server and setting it up; the measured time comes on top. */
const ROW_SLACK_MS = 90_000;
const RESULTS = join(import.meta.dirname, 'results');

const { values: options } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '1' },
    only: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
    // The Tessera rows run the built JavaScript, as installed packages do; this runs the sources instead.
    'from-source': { type: 'boolean', default: false },
  },
});
const load: LoadSettings = {
  seconds: bounded(options.seconds, 1, 60, '--seconds'),
  warmupSeconds: bounded(options.warmup, 0, 30, '--warmup'),
  connections: bounded(options.connections, 1, 1024, '--connections'),
};
const rounds = bounded(options.rounds, 1, 5, '--rounds');
const only = options.only?.split(',').map((id) => id.trim());
const unknown = only?.filter((id) => !ROWS.some((row) => row.id === id)) ?? [];
if (unknown.length > 0) {
  console.error(`unknown row ${unknown.join(', ')}; rows are ${ROWS.map((row) => row.id).join(', ')}`);
  process.exit(2);
}
const selected = ROWS.filter((row) => !only || only.includes(row.id));
const profileDir = options['cpu-prof'];
const write = !only && !profileDir && !options['no-write'] && !options['node-flags'];

const children = runChildren();

const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const context: LaunchContext = {
  children,
  // For experiments such as `--node-flags=--max-semi-space-size=4`; every server gets them.
  nodeFlags: options['node-flags'].split(' ').filter(Boolean),
  signingJwk: { ...(await exportJWK(privateKey)), kid: 'bench-es256' },
  startTimeoutMs: 60_000,
};
const info: RunInfo = {
  date: new Date().toISOString().slice(0, 10),
  hostname: hostname(),
  cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
  cores: cpus().length,
  memoryGb: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  node: process.version,
  loadAverage: loadavg(),
  ...load,
  rounds,
  command: ['npm run bench', ...process.argv.slice(2)].join(' '),
};
console.log(
  `${info.cpu}, ${info.cores} cores, Node.js ${info.node}; ${load.connections} connections, ${load.warmupSeconds} s warm-up + ${load.seconds} s per row\n`,
);

const features: Record<string, Probe> = {};
if (selected.some((row) => row.kind === 'tessera')) {
  features['builtJavaScript'] = options['from-source']
    ? { on: false, evidence: '--from-source: Tessera rows run the TypeScript sources through type stripping' }
    : { on: true, evidence: `Tessera rows run ${await useBuiltCli()}` };
  const workers = await serveHasWorkers();
  features['serveWorkers'] = {
    on: workers,
    evidence: workers
      ? '`tessera serve --help` lists --workers: Tessera rows run `tessera serve`'
      : '`tessera serve` has no --workers: Tessera rows run the bench server, several processes through its node:cluster wrapper',
  };
  features['rateLimits'] = await probeRateLimits(context).catch((error: Error) => ({ on: false, evidence: `probe failed: ${error.message}` }));
}

// Rounds go back and forth through the rows, so that a machine getting busier or quieter
// during the run does not favour the rows at one end.
const runs = new Map<string, RowResult[]>(selected.map((spec) => [spec.id, []]));
for (let round = 1; round <= rounds; round += 1) {
  const order = round % 2 === 1 ? selected : [...selected].reverse();
  for (const spec of order) {
    process.stdout.write(`${rounds > 1 ? `[${round}/${rounds}] ` : ''}${spec.label} … `);
    const row = await runBounded(spec, profileDir ? join(profileDir, `${spec.id}-${round}`) : undefined);
    runs.get(spec.id)!.push(row);
    const others = row.otherCpu ? `; other work on the machine: ${row.otherCpu} cores` : '';
    console.log(
      row.status === 'ok' ? `${row.tokensPerSecond} tokens/s, p99 ${row.p99Ms} ms${others}${row.note ? ` (${row.note})` : ''}` : `${row.status}: ${row.note}`,
    );
    for (const [name, probe] of Object.entries(row.features ?? {})) features[name] ??= probe;
  }
}
const rows = selected.map((spec) => medianRun(runs.get(spec.id)!));

const targets = checkTargets(rows);
const record: RunRecord = { info, rows, targets, features };
// Profiling says where the time goes: of use for tokens/s and latency, not for memory or storage work.
const throughputMissed = targets.some((check) => check.met === false && !/RSS|SQL statements|PostgreSQL CPU per token/.test(check.target));
if (throughputMissed && !options['no-profile'] && !profileDir) {
  console.log('\nA target was missed: profiling the floor and Tessera ×1 under the same load');
  record.profiles = [];
  for (const id of ['floor-1', 'tessera-1']) {
    const spec = ROWS.find((row) => row.id === id)!;
    const dir = await mkdtemp(join(tmpdir(), `tessera-bench-prof-${id}-`));
    process.stdout.write(`${spec.label} (${dir}) … `);
    const profiled = await runBounded({ ...spec, halfRate: false }, dir);
    console.log(profiled.status === 'ok' ? `${profiled.tokensPerSecond} tokens/s` : `${profiled.status}: ${profiled.note}`);
    if (profiled.status !== 'ok') continue;
    record.profiles.push({
      label: spec.label,
      tokensPerSecond: profiled.tokensPerSecond!,
      cpuMsPerToken: cpuPerToken(profiled),
      summary: await summarizeProfiles(dir),
    });
  }
}

console.log(`\n${textTable(tableRows(rows))}`);
if (rows.some((row) => row.halfRate)) console.log(`\nHalf of peak, open loop:\n${textTable(halfRateTable(rows))}`);
console.log(`\nRight after the peak run, per process:\n${textTable(memoryTable(rows))}`);
if (rows.some((row) => row.kind === 'tessera' && row.status === 'ok')) {
  console.log(
    `\nStorage work while measured (SQL statements counted on single-process instances only: /metrics answers per worker):\n${textTable(storageTable(rows))}`,
  );
}
const exchange = exchangeComparison(rows);
if (exchange) console.log(`\n${exchange}`);
console.log(`\nTargets (issue 11):\n${targetLines(targets).join('\n')}`);
console.log(
  `\nTessera's guards:\n${Object.entries(features)
    .map(([name, probe]) => `${probe.on ? 'on ' : 'OFF'}  ${name}: ${probe.evidence}`)
    .join('\n')}`,
);
for (const profile of record.profiles ?? []) {
  console.log(
    `\nWhere the time goes: ${profile.label}, ${profile.tokensPerSecond} tokens/s while profiled, ${profile.cpuMsPerToken?.toFixed(2)} ms CPU per token\n${formatProfile(profile.summary)}`,
  );
}
if (profileDir) {
  for (const [id, results] of runs) {
    for (const [i, row] of results.entries()) {
      if (row.status === 'ok')
        console.log(`\nProfile of ${row.label} (round ${i + 1}):\n${formatProfile(await summarizeProfiles(join(profileDir, `${id}-${i + 1}`)))}`);
    }
  }
}

const failed = rows.filter((row) => row.status === 'failed');
if (write && failed.length > 0)
  console.log(`\nNothing written: ${failed.map((row) => row.label).join(', ')} failed, and a partial run would replace the last good one.`);
if (write && failed.length === 0) {
  await mkdir(RESULTS, { recursive: true });
  const base = join(RESULTS, `${info.date}-${info.hostname}`);
  await writeFile(`${base}.json`, `${JSON.stringify(record, null, 2)}\n`);
  await writeFile(`${base}.md`, markdownReport(record));
  await writeFile(join(RESULTS, 'token-endpoint.svg'), chartSvg(rows, info));
  console.log(`\nWrote ${base}.json, ${base}.md and ${join(RESULTS, 'token-endpoint.svg')}`);
}
process.exit(failed.length > 0 ? 1 : 0);

/** One row under a hard deadline; on timeout every child of the run is killed. */
async function runBounded(spec: RowSpec, cpuProfileDir: string | undefined): Promise<RowResult> {
  const rowContext: LaunchContext = cpuProfileDir
    ? { ...context, nodeFlags: [...context.nodeFlags, '--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] }
    : context;
  const budget = (load.warmupSeconds + load.seconds * (spec.halfRate ? 2 : 1)) * 1000 + ROW_SLACK_MS;
  try {
    return await children.withDeadline(() => runRow(spec, rowContext, load), budget);
  } catch (error) {
    return {
      id: spec.id,
      label: spec.label,
      kind: spec.kind,
      processes: spec.processes,
      storage: spec.storage,
      status: 'failed',
      note: (error as Error).message,
    };
  }
}

/** The run with the median tokens/s (the lower middle one for an even count), with every round's figure. */
function medianRun(results: RowResult[]): RowResult {
  const ok = results.filter((row) => row.status === 'ok').sort((a, b) => a.tokensPerSecond! - b.tokensPerSecond!);
  const chosen = ok[Math.floor((ok.length - 1) / 2)] ?? results.find((row) => row.status === 'failed') ?? results[0]!;
  return results.length > 1 ? { ...chosen, rounds: results.map((row) => row.tokensPerSecond ?? 0) } : chosen;
}

function bounded(raw: string, min: number, max: number, flag: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    console.error(`${flag} must be a number from ${min} to ${max}, got ${raw}`);
    process.exit(2);
  }
  return value;
}
