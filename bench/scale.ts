// Registry size benchmark: does Tessera's token endpoint slow down, or start late, with a large
// registry? Three registries, each measured with the same load for the same seconds:
//
// - baseline: 10 services (the bench client, the bootstrap admin and a few more);
// - large: the baseline plus --services services in domains of 100 and --members role
//   memberships among them (the token asked is the baseline's: alpha.api in `beta`);
// - crowd: the baseline plus a domain whose role has --role-members members, alpha.api among
//   them, and the token asked in that domain.
//
// The large registries are written straight into the database of a stopped Tessera (see
// harness/seed.ts), then Tessera starts again and the time to ready is measured: from spawn to
// /readyz answering 200, and to the first token. Prints tokens/s, p99 and the ratio to the
// baseline (target ≥ 0.95 ×), and the time to ready (target ≤ 1 s with the large registry).
//
//   npm run bench:scale                                        # 100k services, 1M memberships, 10k-member role
//   npm run bench:scale -- --services 10000 --members 100000   # a smoke run; nothing is written
//   npm run bench:scale -- --storage postgres --seconds 5
//   npm run bench:scale -- --only baseline,crowd
//   npm run bench:scale -- --rounds 3                       # rounds back and forth (default 2), medians shown
//   npm run bench:scale -- --source                         # the TypeScript sources, not the build

import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runChildren, sampleMemory } from './harness/processes.ts';
import { textTable } from './harness/report.ts';
import { writeSmallReport } from './harness/results-file.ts';
import { measure } from './harness/run-row.ts';
import { CROWD_DOMAIN, CROWD_ROLE, seedPostgres, seedSqlite, type RegistrySize, type SeedPlan } from './harness/seed.ts';
import { adminClient, AUDIENCE, basic, CLIENT_ID, registerBenchClient, ROLES, tesseraScratch, type Launched } from './harness/subjects.ts';
import { serveHasWorkers, startTessera, useBuiltCli, type TesseraInstance } from './harness/tessera-cli.ts';
import { fetchToken, verifyTokens } from './harness/verify.ts';

const SCENARIOS = ['baseline', 'large', 'crowd'] as const;
type Scenario = (typeof SCENARIOS)[number];
const THROUGHPUT_SHARE = 0.95;
const READY_LIMIT_MS = 1000;
/** Setting up, seeding and starting twice; the measured time comes on top. */
const SCENARIO_SLACK_MS = 240_000;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const DEFAULTS = { services: 100_000, members: 1_000_000, roleMembers: 10_000 };

const { values: options } = parseArgs({
  options: {
    services: { type: 'string', default: String(DEFAULTS.services) },
    members: { type: 'string', default: String(DEFAULTS.members) },
    'role-members': { type: 'string', default: String(DEFAULTS.roleMembers) },
    storage: { type: 'string', default: 'sqlite' },
    workers: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    // The TypeScript sources through type stripping rather than the built JavaScript installed packages run.
    source: { type: 'boolean', default: false },
  },
});
const plan = {
  services: bounded(options.services, 1, 1_000_000, '--services'),
  members: bounded(options.members, 0, 10_000_000, '--members'),
  roleMembers: bounded(options['role-members'], 2, 1_000_000, '--role-members'),
};
const rounds = bounded(options.rounds, 1, 5, '--rounds');
const load = {
  seconds: bounded(options.seconds, 1, 60, '--seconds'),
  warmupSeconds: bounded(options.warmup, 0, 30, '--warmup'),
  connections: bounded(options.connections, 1, 1024, '--connections'),
};
if (options.storage !== 'sqlite' && options.storage !== 'postgres') usage(`--storage must be sqlite or postgres, got ${options.storage}`);
const storage = options.storage as 'sqlite' | 'postgres';
const workers = options.workers === 'auto' ? 'auto' : bounded(options.workers, 1, 64, '--workers');
const only = options.only?.split(',').map((name) => name.trim());
const unknown = only?.filter((name) => !(SCENARIOS as readonly string[]).includes(name)) ?? [];
if (unknown.length > 0) usage(`unknown scenario ${unknown.join(', ')}; scenarios are ${SCENARIOS.join(', ')}`);
const selected = SCENARIOS.filter((name) => !only || only.includes(name));
const full =
  !only &&
  !options['no-write'] &&
  !options.source &&
  plan.services === DEFAULTS.services &&
  plan.members === DEFAULTS.members &&
  plan.roleMembers === DEFAULTS.roleMembers;

const children = runChildren();

interface ScenarioResult {
  scenario: Scenario;
  registry: string;
  status: 'ok' | 'failed';
  note?: string;
  seedSeconds?: number;
  /** Counted in the database after seeding. */
  size?: RegistrySize;
  readyMs?: number;
  firstTokenMs?: number;
  tokensPerSecond?: number;
  p50Ms?: number;
  p99Ms?: number;
  serverCpu?: number;
  peakRssMb?: number;
}

// Built JavaScript, as installed packages run it: type stripping adds to the time to ready and the memory.
const built = options.source ? 'its TypeScript sources' : await useBuiltCli();
const via = (await serveHasWorkers())
  ? `tessera serve --workers ${workers} (${built})`
  : `the bench server (${workers} process${workers === 1 ? '' : 'es'}; this build's serve has no --workers)`;
console.log(
  `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, Node.js ${process.version}; Tessera on ${storage} via ${via}; ` +
    `${load.connections} connections, ${load.warmupSeconds} s warm-up + ${load.seconds} s per registry, ${rounds} round${rounds === 1 ? '' : 's'}\n`,
);
// Every registry is written first; then each round starts and loads each in turn, the order
// reversed every other round, so a machine that speeds up or slows down meanwhile weighs on all
// of them alike. Each registry shows its median round.
const prepared = new Map<Scenario, Prepared | ScenarioResult>();
for (const scenario of selected) prepared.set(scenario, await prepareBounded(scenario));
const runs = new Map<Scenario, ScenarioResult[]>(selected.map((scenario) => [scenario, []]));
try {
  for (let round = 1; round <= rounds; round += 1) {
    for (const scenario of round % 2 === 1 ? selected : [...selected].reverse()) {
      const ready = prepared.get(scenario)!;
      process.stdout.write(`${rounds > 1 ? `[${round}/${rounds}] ` : ''}${scenario} (${describe(scenario)}) … `);
      const result = 'status' in ready ? ready : await measureBounded(ready);
      runs.get(scenario)!.push(result);
      console.log(
        result.status === 'ok'
          ? `${result.tokensPerSecond} tokens/s, p99 ${result.p99Ms} ms; ready in ${Math.round(result.readyMs!)} ms, first token at ${Math.round(result.firstTokenMs!)} ms`
          : `failed: ${result.note}`,
      );
    }
  }
} finally {
  for (const ready of prepared.values()) if (!('status' in ready)) await ready.scratch.dispose();
}
const results = selected.map((scenario) => medianRun(runs.get(scenario)!));

const baseline = results.find((result) => result.scenario === 'baseline' && result.status === 'ok');
const ratioOf = (result: ScenarioResult): number | undefined =>
  baseline?.tokensPerSecond && result.tokensPerSecond ? Math.round((100 * result.tokensPerSecond) / baseline.tokensPerSecond) / 100 : undefined;
/** Server CPU per token: the figure a busy machine disturbs least. */
const cpuPerToken = (result: ScenarioResult): number | undefined =>
  result.serverCpu && result.tokensPerSecond ? (result.serverCpu * 1000) / result.tokensPerSecond : undefined;
/** What the tokens/s ratio would be with equal CPU. */
const cpuRatioOf = (result: ScenarioResult): string => {
  const [base, cost] = [baseline && cpuPerToken(baseline), cpuPerToken(result)];
  return base && cost ? ` (CPU ${(base / cost).toFixed(2)} ×)` : '';
};
const table = [
  [
    'registry',
    'services / memberships',
    'seeded in s',
    'ready ms',
    'first token ms',
    'tokens/s',
    'p50 ms',
    'p99 ms',
    'server CPU cores',
    'CPU ms/token',
    'peak RSS MB',
    'vs baseline',
  ],
  ...results.map((result) =>
    result.status === 'ok'
      ? [
          `${result.scenario}: ${result.registry}`,
          result.size ? `${result.size.services} / ${result.size.memberships}` : '–',
          result.seedSeconds === undefined ? '–' : result.seedSeconds.toFixed(1),
          String(Math.round(result.readyMs!)),
          String(Math.round(result.firstTokenMs!)),
          String(result.tokensPerSecond),
          String(result.p50Ms),
          String(result.p99Ms),
          String(result.serverCpu),
          cpuPerToken(result)?.toFixed(2) ?? '–',
          String(result.peakRssMb),
          result.scenario === 'baseline' ? '' : `${ratioOf(result)?.toFixed(2) ?? '–'} ×${cpuRatioOf(result)}`,
        ]
      : [`${result.scenario}: ${result.registry}`, result.note ?? 'failed', '', '', '', '', '', '', '', '', '', ''],
  ),
];
const targets: string[] = [];
const mark = (met: boolean | undefined): string => (met === undefined ? 'n/a ' : met ? 'met ' : 'MISS');
for (const result of results.filter((r) => r.scenario !== 'baseline')) {
  const ratio = ratioOf(result);
  targets.push(
    `${mark(ratio === undefined ? undefined : ratio >= THROUGHPUT_SHARE)}  ${result.scenario}: tokens/s ≥ ${THROUGHPUT_SHARE} × baseline: ${
      ratio === undefined
        ? result.status === 'ok'
          ? 'no baseline'
          : (result.note ?? 'failed')
        : `${ratio.toFixed(2)} × (${result.tokensPerSecond} vs ${baseline!.tokensPerSecond})${cpuRatioOf(result)}`
    }`,
  );
  if (result.scenario === 'large') {
    const ready = result.readyMs;
    targets.push(
      `${mark(ready === undefined ? undefined : ready <= READY_LIMIT_MS)}  large: process start → ready ≤ ${READY_LIMIT_MS} ms: ${
        ready === undefined ? (result.note ?? 'failed') : `${Math.round(ready)} ms (first token at ${Math.round(result.firstTokenMs!)} ms)`
      }`,
    );
  }
}
console.log(`\n${textTable(table)}\n\nTargets (issue 11):\n${targets.join('\n')}`);

const failed = results.some((result) => result.status === 'failed');
if (full && !failed) {
  await writeSmallReport({
    name: `scale-${storage}`,
    title: `Registry size benchmark (${storage})`,
    script: 'npm run bench:scale',
    how:
      `Tessera via ${via}; ${load.connections} keep-alive connections, ${load.warmupSeconds} s warm-up discarded, ${load.seconds} s measured per registry; ` +
      `${rounds} round${rounds === 1 ? '' : 's'} back and forth through the registries, each showing its median round; plain HTTP on 127.0.0.1. ` +
      'The large registries are written straight into the database of a stopped Tessera, which then starts again: "ready" is spawn → /readyz 200, "first token" spawn → the first token answered.',
    table,
    targets,
    data: { storage, via, load, rounds, plan, results, runs: Object.fromEntries(runs) },
  });
}
process.exit(failed ? 1 : 0);

function describe(scenario: Scenario): string {
  if (scenario === 'baseline') return '10 services';
  if (scenario === 'large') return `+${plan.services.toLocaleString('en')} services, ${plan.members.toLocaleString('en')} memberships`;
  return `a role of ${plan.roleMembers.toLocaleString('en')} members`;
}

/** A registry written and ready to be started: its data dir, the bench client's secret, its size. */
interface Prepared {
  scenario: Scenario;
  scratch: Awaited<ReturnType<typeof tesseraScratch>>;
  secret: string;
  size: { services: number; memberships: number };
  seedSeconds?: number;
}

async function prepareBounded(scenario: Scenario): Promise<Prepared | ScenarioResult> {
  try {
    return await children.withDeadline(() => prepare(scenario), SCENARIO_SLACK_MS);
  } catch (error) {
    return { scenario, registry: describe(scenario), status: 'failed', note: (error as Error).message };
  }
}

async function measureBounded(prepared: Prepared): Promise<ScenarioResult> {
  const budget = (load.warmupSeconds + load.seconds) * 1000 + SCENARIO_SLACK_MS;
  try {
    return await children.withDeadline(() => measureScenario(prepared), budget);
  } catch (error) {
    return { scenario: prepared.scenario, registry: describe(prepared.scenario), status: 'failed', note: (error as Error).message };
  }
}

/** The run with the median tokens/s (the lower middle one for an even count). */
function medianRun(results: ScenarioResult[]): ScenarioResult {
  const ok = results.filter((result) => result.status === 'ok').sort((a, b) => a.tokensPerSecond! - b.tokensPerSecond!);
  return ok[Math.floor((ok.length - 1) / 2)] ?? results.find((result) => result.status === 'failed') ?? results[0]!;
}

function startIn(scratch: Prepared['scratch']): Promise<TesseraInstance> {
  const { dataDir, database, env } = scratch;
  return startTessera({ children, dataDir, database: database?.url, workers, env, nodeFlags: [], timeoutMs: 120_000 });
}

async function prepare(scenario: Scenario): Promise<Prepared> {
  const scratch = await tesseraScratch(children, { name: `scale-${scenario}`, storage });
  const { dataDir, database } = scratch;
  let instance: TesseraInstance | undefined;
  try {
    // First start: the schema, the bootstrap admin, the bench client and a few more services.
    instance = await startIn(scratch);
    const admin = await adminClient(instance.origin, dataDir);
    const secret = await registerBenchClient(admin);
    for (let i = 1; i <= 8; i += 1) {
      const { status } = await admin('POST', '/domains/alpha/services', { name: `peer${i}`, allowedIps: ['127.0.0.0/8'] });
      if (status !== 201) throw new Error(`creating alpha.peer${i}: ${status}`);
    }
    await children.stop(instance.child);
    instance = undefined;

    const seed: SeedPlan = {
      services: scenario === 'large' ? plan.services : 0,
      memberships: scenario === 'large' ? plan.members : 0,
      crowd: scenario === 'crowd' ? plan.roleMembers : 0,
    };
    // The baseline goes through it too (nothing to add), for the same ANALYZE and checkpoint.
    const began = performance.now();
    const size = database ? await seedPostgres(database.url, seed) : seedSqlite(join(dataDir, 'tessera.db'), seed);
    const seedSeconds = scenario === 'baseline' ? undefined : (performance.now() - began) / 1000;
    return { scenario, scratch, secret, size, ...(seedSeconds === undefined ? {} : { seedSeconds }) };
  } catch (error) {
    if (instance) await children.stop(instance.child);
    await scratch.dispose();
    throw error;
  }
}

async function measureScenario(prepared: Prepared): Promise<ScenarioResult> {
  const { scenario, scratch, secret, size, seedSeconds } = prepared;
  let instance: TesseraInstance | undefined;
  try {
    // A timed start: the registry as it will be measured.
    instance = await startIn(scratch);
    const audience = scenario === 'crowd' ? CROWD_DOMAIN : AUDIENCE;
    const request = {
      url: `${instance.origin}/oauth2/token`,
      headers: { ...FORM, authorization: basic(CLIENT_ID, secret) },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: `${audience}:domain` }).toString(),
    };
    const spawnedAt = performance.now() - instance.readyMs;
    await fetchToken(request);
    const firstTokenMs = performance.now() - spawnedAt;
    const expect = {
      jwksUrl: `${instance.origin}/oauth2/keys`,
      issuer: instance.origin,
      audience,
      clientId: CLIENT_ID,
      roles: scenario === 'crowd' ? [CROWD_ROLE] : ROLES,
    };
    await verifyTokens(request, expect, 3);

    const running = instance;
    const subject: Launched = { child: running.child, pids: running.pids, request, expect, reporters: [], cleanup: () => children.stop(running.child) };
    const memory = sampleMemory(running.pids);
    const peak = await measure(children, subject, { mode: 'closed', ...load });
    const rss = memory.stop();
    if (peak.result.failed > 0) throw new Error(`${peak.result.failed} requests failed: ${JSON.stringify(peak.result.failures)}`);
    return {
      scenario,
      registry: describe(scenario),
      status: 'ok',
      seedSeconds,
      size,
      readyMs: running.readyMs,
      firstTokenMs,
      tokensPerSecond: Math.round(peak.result.ok / peak.result.elapsedSeconds),
      p50Ms: peak.result.p50Ms,
      p99Ms: peak.result.p99Ms,
      serverCpu: peak.serverCpu,
      peakRssMb: rss.processMb,
    };
  } finally {
    if (instance) await children.stop(instance.child);
  }
}

function bounded(raw: string, min: number, max: number, flag: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) usage(`${flag} must be a whole number from ${min} to ${max}, got ${raw}`);
  return value;
}

function usage(message: string): never {
  console.error(message);
  process.exit(2);
}
