// Cross-instance propagation: how long after one Tessera instance disables a service does
// another instance on the same storage refuse it? Two instances (separate processes, each on
// its own port, `--workers 1` when the build has the flag) share one PostgreSQL database, and,
// where `tessera serve --workers` exists, one SQLite data dir. For each of --services services:
// B issues it a token (so whatever B keeps in memory has it), A disables it through the admin
// API, and B's token endpoint is asked again and again until it refuses with AUTH_103; then A
// enables it again and B is asked until it issues again. The delays count from A's answer to
// the admin call (the change is committed by then). Prints min/median/p99/max and the slowest
// service; target ≤ 1 s.
//
//   npm run bench:propagation                               # 100 services, 10 s cap per service
//   npm run bench:propagation -- --services 10 --storage postgres
//   npm run bench:propagation -- --max-seconds 60           # the whole run ends within about this
//   npm run bench:propagation -- --source                   # the TypeScript sources, not the build

import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { runChildren } from './harness/processes.ts';
import { textTable } from './harness/report.ts';
import { writeSmallReport } from './harness/results-file.ts';
import { adminClient, AUDIENCE, basic, registerBenchClient, tesseraScratch, type AdminCall } from './harness/subjects.ts';
import { serveHasWorkers, startTessera, useBuiltCli, type TesseraInstance } from './harness/tessera-cli.ts';

const TARGET_MS = 1000;
const DEFAULT_SERVICES = 100;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const { values: options } = parseArgs({
  options: {
    services: { type: 'string', default: String(DEFAULT_SERVICES) },
    storage: { type: 'string' },
    'max-seconds': { type: 'string', default: '300' },
    'wait-seconds': { type: 'string', default: '10' },
    'no-write': { type: 'boolean', default: false },
    // The TypeScript sources through type stripping rather than the built JavaScript installed packages run.
    source: { type: 'boolean', default: false },
  },
});
const services = bounded(options.services, 1, 1000, '--services');
const maxSeconds = bounded(options['max-seconds'], 10, 3600, '--max-seconds');
const waitMs = bounded(options['wait-seconds'], 1, 60, '--wait-seconds') * 1000;
const built = options.source ? 'its TypeScript sources' : await useBuiltCli();
const hasWorkers = await serveHasWorkers();
const storages = storagesToRun(options.storage);
const full = options.storage === undefined && services === DEFAULT_SERVICES && !options['no-write'] && !options.source;
const runEndsAt = Date.now() + maxSeconds * 1000;

const children = runChildren();

interface Delays {
  /** ms from A's answer until B refused (disable) or issued again (enable); undefined: not within --wait-seconds. */
  samples: { service: string; disableMs?: number; enableMs?: number; polls: number }[];
}
interface StorageResult {
  storage: string;
  status: 'ok' | 'failed' | 'skipped';
  note?: string;
  delays?: Delays;
}

console.log(
  `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, Node.js ${process.version}; two instances ` +
    `(${hasWorkers ? `tessera serve --workers 1, ${built}` : 'the bench server, one process each'}), ${services} services, the run capped at ${maxSeconds} s\n`,
);
const results: StorageResult[] = [];
if (!hasWorkers && options.storage === undefined) {
  results.push({
    storage: 'sqlite',
    status: 'skipped',
    note: 'this build has no `tessera serve --workers`: several processes on one SQLite data dir come with it (--storage sqlite runs it anyway)',
  });
}
for (const storage of storages) {
  process.stdout.write(`${storage}: `);
  try {
    // Setting up, then the capped rounds, then one last round's two waits.
    const delays = await children.withDeadline(() => run(storage), (maxSeconds + 120) * 1000 + 2 * waitMs);
    results.push({ storage, status: 'ok', delays });
    console.log(' done');
  } catch (error) {
    results.push({ storage, status: 'failed', note: (error as Error).message });
    console.log(` failed: ${(error as Error).message}`);
  }
}

const table = [
  [
    'storage',
    'services',
    'disable → B refuses: min / median / p99 / max ms',
    'slowest',
    'enable → B issues: min / median / p99 / max ms',
    'not within the wait',
  ],
  ...results.map((result) => {
    if (result.status !== 'ok') return [result.storage, result.status, result.note ?? '', '', '', ''];
    const samples = result.delays!.samples;
    const slowest = [...samples].sort((a, b) => (b.disableMs ?? Infinity) - (a.disableMs ?? Infinity))[0];
    const late = samples.filter((sample) => sample.disableMs === undefined || sample.enableMs === undefined).length;
    return [
      result.storage,
      String(samples.length),
      spread(samples.map((sample) => sample.disableMs)),
      slowest ? `${slowest.service}: ${slowest.disableMs === undefined ? `> ${waitMs} ms` : `${slowest.disableMs.toFixed(1)} ms`}` : '–',
      spread(samples.map((sample) => sample.enableMs)),
      String(late),
    ];
  }),
];
const targets = results.map((result) => {
  if (result.status !== 'ok')
    return `n/a   ${result.storage}: B refuses a disabled service within ${TARGET_MS} ms: ${result.status}${result.note ? ` (${result.note})` : ''}`;
  const worst = Math.max(...result.delays!.samples.map((sample) => Math.max(sample.disableMs ?? Infinity, sample.enableMs ?? Infinity)));
  const met = worst <= TARGET_MS;
  return `${met ? 'met ' : 'MISS'}  ${result.storage}: B refuses a disabled service (and issues again once enabled) within ${TARGET_MS} ms: slowest ${Number.isFinite(worst) ? `${worst.toFixed(1)} ms` : `> ${waitMs} ms`} of ${result.delays!.samples.length}`;
});
console.log(`\n${textTable(table)}\n\nTargets (issue 11):\n${targets.join('\n')}`);

const failed = results.some((result) => result.status === 'failed');
if (full && !failed) {
  await writeSmallReport({
    name: 'propagation',
    title: 'Cross-instance propagation',
    script: 'npm run bench:propagation',
    how:
      "Two Tessera instances on one storage. Per service: B issues it a token; A disables it through the admin API; B's token endpoint is asked again and again " +
      "(one request at a time) until it refuses with AUTH_103; A enables it again; B is asked until it issues. Delays count from A's answer to the admin call.",
    table,
    targets,
    data: { services, results },
  });
}
process.exit(failed ? 1 : 0);

async function run(storage: 'sqlite' | 'postgres'): Promise<Delays> {
  const scratch = await tesseraScratch(children, { name: `propagation-${storage}`, storage });
  const { dataDir, database, env } = scratch;
  const started: TesseraInstance[] = [];
  try {
    // One after another, so that the first alone creates the schema.
    // Two instances on one SQLite file on purpose: without the opt-in the second is refused.
    const sharedEnv = { ...env, TESSERA_SHARED_DATA_DIR: '1' };
    for (let i = 0; i < 2; i += 1) {
      started.push(await startTessera({ children, dataDir, database: database?.url, workers: 1, env: sharedEnv, nodeFlags: [], timeoutMs: 60_000 }));
    }
    const [a, b] = started as [TesseraInstance, TesseraInstance];
    const admin = await adminClient(a.origin, dataDir);
    await registerBenchClient(admin);
    const secrets = await createServices(admin, services);
    const samples: Delays['samples'] = [];
    for (const [name, secret] of secrets) {
      if (Date.now() > runEndsAt) {
        process.stdout.write(`(run cap of ${maxSeconds} s reached after ${samples.length} services)`);
        break;
      }
      const principal = `alpha.${name}`;
      const ask = (): Promise<{ status: number; code: string }> => tokenFrom(b, principal, secret);
      const first = await ask();
      if (first.status !== 200) throw new Error(`B refused ${principal} before it was disabled: ${first.status} ${first.code}`);
      const sample: Delays['samples'][number] = { service: principal, polls: 0 };
      await must(admin, 'PATCH', `/domains/alpha/services/${name}`, { status: 'DISABLED' });
      const disabled = await pollUntil(ask, (answer) => answer.status === 401 && answer.code === 'AUTH_103');
      sample.disableMs = disabled.ms;
      sample.polls += disabled.polls;
      await must(admin, 'PATCH', `/domains/alpha/services/${name}`, { status: 'ACTIVE' });
      const enabled = await pollUntil(ask, (answer) => answer.status === 200);
      sample.enableMs = enabled.ms;
      sample.polls += enabled.polls;
      samples.push(sample);
      if (samples.length % 10 === 0) process.stdout.write(`${samples.length} `);
    }
    return { samples };
  } finally {
    for (const instance of started) await children.stop(instance.child);
    await scratch.dispose();
  }
}

/** Services alpha.p1… with a secret each, holding `beta`'s role readers; returns name → secret. */
async function createServices(admin: AdminCall, count: number): Promise<Map<string, string>> {
  const secrets = new Map<string, string>();
  for (let i = 1; i <= count; i += 1) {
    const created = await must(admin, 'POST', '/domains/alpha/services', { name: `p${i}`, allowedIps: ['127.0.0.0/8'] });
    secrets.set(`p${i}`, created['clientSecret'] as string);
  }
  await must(admin, 'PUT', `/domains/${AUDIENCE}/roles/propagation`, { members: [...secrets.keys()].map((name) => ({ principal: `alpha.${name}` })) });
  return secrets;
}

async function tokenFrom(instance: TesseraInstance, principal: string, secret: string): Promise<{ status: number; code: string }> {
  const res = await fetch(`${instance.origin}/oauth2/token`, {
    method: 'POST',
    headers: { ...FORM, authorization: basic(principal, secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: `${AUDIENCE}:domain` }).toString(),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, code: String(body['error_code'] ?? body['error'] ?? '') };
}

/** Asks until `done`, one request at a time; ms from the call, undefined after --wait-seconds. */
async function pollUntil<T>(ask: () => Promise<T>, done: (answer: T) => boolean): Promise<{ ms?: number; polls: number }> {
  const began = performance.now();
  let polls = 0;
  while (performance.now() - began < waitMs) {
    polls += 1;
    if (done(await ask())) return { ms: performance.now() - began, polls };
  }
  return { polls };
}

async function must(admin: AdminCall, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const { status, json } = await admin(method, path, body);
  if (status >= 300) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(json)}`);
  return json;
}

/** min / median / p99 / max in ms (nearest rank); a sample that never arrived counts as the worst. */
function spread(values: (number | undefined)[]): string {
  if (values.length === 0) return '–';
  const sorted = values.map((value) => value ?? Infinity).sort((x, y) => x - y);
  const at = (q: number): string => {
    const value = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
    return Number.isFinite(value) ? value.toFixed(1) : `> ${waitMs}`;
  };
  return `${at(0)} / ${at(0.5)} / ${at(0.99)} / ${at(1)}`;
}

function storagesToRun(raw: string | undefined): ('sqlite' | 'postgres')[] {
  if (raw === undefined) return hasWorkers ? ['postgres', 'sqlite'] : ['postgres'];
  if (raw === 'both') return ['postgres', 'sqlite'];
  if (raw === 'sqlite' || raw === 'postgres') return [raw];
  console.error(`--storage must be postgres, sqlite or both, got ${raw}`);
  process.exit(2);
}

function bounded(raw: string, min: number, max: number, flag: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`${flag} must be a whole number from ${min} to ${max}, got ${raw}`);
    process.exit(2);
  }
  return value;
}
