// Certificate issuance benchmark (issue 4 item 9): service certificates issued per second from
// CSRs by one Tessera process, side by side:
//
//   (a) in-process: `ca.issueServiceCertificate` called directly with pre-made CSRs, N calls in
//       flight: the CA's own cost (CSR parsing and checks, building and signing the
//       certificate, recording it in the store);
//   (b) HTTP: `POST /ca/v1/certificates` over HTTPS with a key-assertion proof (a fresh JWT
//       per request, signed in a separate load process), the path `tessera cert` takes.
//
// Prints certificates/s (wall clock and per CPU-second of the Tessera process, i.e. per core)
// with p50/p99 latency, checks issue 4's target of 2,000 certificates/s per core for (a), and
// writes bench/results/certificates-<date>.json. If (a) misses the target, it runs once more
// under the V8 profiler to say where the time goes.
//
//   npm run bench:certs                                  # 10 s per row after 2 s of warm-up
//   npm run bench:certs -- --seconds 5 --concurrency 64
//   npm run bench:certs -- --no-write --no-profile

import { spawn } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { Session } from 'node:inspector/promises';
import { cpus, hostname, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { SignJWT, importPKCS8 } from 'jose';
import { buildCsr, generateKey } from '../packages/sdk/src/index.ts';
import { createServer, loadConfig, type TesseraServer } from '../packages/server/src/index.ts';
import { freePort } from '@tessera/testkit/port';
import { formatProfile, summarizeProfiles, type ProfileSummary } from './harness/profile.ts';

const TARGET_PER_CORE = 2000;
const PRINCIPAL = 'bench.svc';
const KID = 'k1';
const RESULTS = join(import.meta.dirname, 'results');

const { values: options } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '32' },
    csrs: { type: 'string', default: '256' },
    'no-write': { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    /** Internal: run as the load process of row (b). */
    client: { type: 'string' },
  },
});

interface Latencies {
  ok: number;
  failed: number;
  failures: Record<string, number>;
  elapsedSeconds: number;
  p50Ms: number;
  p99Ms: number;
}

interface Row extends Latencies {
  label: string;
  certsPerSecond: number;
  /** Certificates per CPU-second of the Tessera process: the per-core figure. */
  certsPerCpuSecond: number;
  cpuCores: number;
}

interface ClientPlan {
  url: string;
  ca: string;
  audience: string;
  keyPem: string;
  csr: string;
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
}

if (options.client !== undefined) {
  await runHttpClient(JSON.parse(options.client) as ClientPlan);
  process.exit(0);
}

const seconds = bounded(options.seconds, 1, 120, '--seconds');
const warmupSeconds = bounded(options.warmup, 0, 30, '--warmup');
const concurrency = bounded(options.concurrency, 1, 1024, '--concurrency');
const csrCount = bounded(options.csrs, 1, 100_000, '--csrs');
const info = {
  date: new Date().toISOString().slice(0, 10),
  hostname: hostname(),
  cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
  cores: cpus().length,
  kernel: release(),
  node: process.version,
  loadAverage: loadavg(),
  seconds,
  warmupSeconds,
  concurrency,
  csrs: csrCount,
  storage: 'embedded SQLite',
  command: ['npm run bench:certs', ...process.argv.slice(2)].join(' '),
};
console.log(`${info.cpu}, ${info.cores} cores, Node.js ${info.node}; ${concurrency} in flight, ${warmupSeconds} s warm-up + ${seconds} s per row\n`);

const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-certs-'));
let server: TesseraServer | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping`);
    void Promise.allSettled([server?.close(), rm(dataDir, { recursive: true, force: true })]).finally(() => process.exit(130));
  });
}
try {
  const config = loadConfig({ flags: { dataDir, listen: `https://127.0.0.1:${await freePort()}`, logLevel: 'silent' }, env: {}, cwd: dataDir });
  // Token-endpoint guards are not under test here.
  config.rateLimits = { client: { rate: 0, burst: 0 }, ip: { rate: 0, burst: 0 } };
  server = await createServer(config);
  const url = await server.listen();
  const registered = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  await register(server, url, createPublicKey(registered).export({ type: 'spki', format: 'pem' }).toString());

  process.stdout.write(`making ${csrCount} P-256 keys and CSRs … `);
  const csrs: string[] = [];
  for (let i = 0; i < csrCount; i += 1) csrs.push(buildCsr(await generateKey('p256'), PRINCIPAL));
  console.log('done');

  const rows: Row[] = [];
  process.stdout.write('(a) ca.issueServiceCertificate, in-process … ');
  rows.push(await inProcessRow(server, csrs));
  console.log(describeRow(rows[0]!));

  process.stdout.write('(b) POST /ca/v1/certificates over HTTPS, key-assertion proof … ');
  rows.push(await httpRow(url, server, registered.export({ type: 'pkcs8', format: 'pem' }).toString(), buildCsr(registered, PRINCIPAL)));
  console.log(describeRow(rows[1]!));

  console.log(`\n${table(rows)}`);
  const met = rows[0]!.certsPerCpuSecond >= TARGET_PER_CORE;
  console.log(`\ntarget (a) ≥ ${TARGET_PER_CORE} certificates/s per core: ${met ? 'met' : 'MISSED'} (${rows[0]!.certsPerCpuSecond} per CPU-second)`);

  let profile: ProfileSummary | undefined;
  if (!met && !options['no-profile']) {
    console.log('\nprofiling (a) to see where the time goes …');
    profile = await profileInProcess(server, csrs);
    console.log(formatProfile(profile));
  }

  if (!options['no-write']) {
    await mkdir(RESULTS, { recursive: true });
    const file = join(RESULTS, `certificates-${info.date}.json`);
    await writeFile(file, `${JSON.stringify({ info, target: { perCore: TARGET_PER_CORE, met }, rows, profile }, null, 2)}\n`);
    console.log(`\nwrote ${file}`);
  }
} finally {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
}

/** N loops, each issuing as soon as its last certificate is back; CPU time measured around the timed part. */
async function inProcessRow(tessera: TesseraServer, csrs: readonly string[]): Promise<Row> {
  let next = 0;
  const issueOne = async (): Promise<void> => {
    const csrPem = csrs[next++ % csrs.length]!;
    await tessera.ca.issueServiceCertificate({ csrPem, principal: PRINCIPAL, now: Date.now() });
  };
  await closedLoop(issueOne, warmupSeconds);
  const cpuBefore = process.cpuUsage();
  const result = await closedLoop(issueOne, seconds);
  return toRow('(a) in-process', result, process.cpuUsage(cpuBefore));
}

async function closedLoop(operation: () => Promise<void>, durationSeconds: number): Promise<Latencies> {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const start = performance.now();
  const end = start + durationSeconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await operation();
        latencies.push(performance.now() - t0);
      } catch (error) {
        const name = error instanceof Error ? error.message.slice(0, 120) : String(error);
        failures[name] = (failures[name] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return summarize(latencies, failures, (performance.now() - start) / 1000);
}

/** The load runs in its own process so that signing assertions and TLS on the client side do not share the server's CPU. */
async function httpRow(url: string, tessera: TesseraServer, keyPem: string, csr: string): Promise<Row> {
  const plan: ClientPlan = {
    url: `${url}/ca/v1/certificates`,
    ca: tessera.ca.bundlePem,
    audience: `${tessera.config.issuer}/ca/v1/certificates`,
    keyPem,
    csr,
    concurrency,
    warmupSeconds,
    seconds,
  };
  const child = spawn(process.execPath, [...process.execArgv, import.meta.filename, '--client', JSON.stringify(plan)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const killChild = (): void => void child.kill('SIGKILL');
  process.once('exit', killChild);
  let cpuBefore: NodeJS.CpuUsage | undefined;
  let result: Latencies | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    const message = JSON.parse(line) as { phase?: string } & Partial<Latencies>;
    if (message.phase === 'measuring') cpuBefore = process.cpuUsage();
    else result = message as Latencies;
  }
  process.off('exit', killChild);
  if (result === undefined || cpuBefore === undefined) throw new Error('the load process ended without a result');
  return toRow('(b) HTTPS', result, process.cpuUsage(cpuBefore));
}

/** Row (b)'s load process: a fresh key assertion per request, a keep-alive connection per loop. */
async function runHttpClient(plan: ClientPlan): Promise<void> {
  const key = await importPKCS8(plan.keyPem, 'ES256');
  const agent = new https.Agent({ keepAlive: true, maxSockets: plan.concurrency, ca: plan.ca });
  const target = new URL(plan.url);
  const requestOnce = async (): Promise<void> => {
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: KID })
      .setIssuer(PRINCIPAL)
      .setSubject(PRINCIPAL)
      .setAudience(plan.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .setJti(randomUUID())
      .sign(key);
    const body = JSON.stringify({ csr: plan.csr, proof: { type: 'key-assertion', value: assertion } });
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        target,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    if (status !== 201) throw new Error(`HTTP ${status}`);
  };
  const loop = async (durationSeconds: number): Promise<Latencies> => {
    const latencies: number[] = [];
    const failures: Record<string, number> = {};
    const start = performance.now();
    const end = start + durationSeconds * 1000;
    await Promise.all(
      Array.from({ length: plan.concurrency }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          try {
            await requestOnce();
            latencies.push(performance.now() - t0);
          } catch (error) {
            const name = error instanceof Error ? error.message : String(error);
            failures[name] = (failures[name] ?? 0) + 1;
          }
        }
      }),
    );
    return summarize(latencies, failures, (performance.now() - start) / 1000);
  };
  if (plan.warmupSeconds > 0) await loop(plan.warmupSeconds);
  process.stdout.write(`${JSON.stringify({ phase: 'measuring' })}\n`);
  process.stdout.write(`${JSON.stringify(await loop(plan.seconds))}\n`);
  agent.destroy();
}

/** Row (a) again for a few seconds under the V8 sampling profiler (main thread only). */
async function profileInProcess(tessera: TesseraServer, csrs: readonly string[]): Promise<ProfileSummary> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-certs-prof-'));
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  let next = 0;
  await closedLoop(
    async () => {
      await tessera.ca.issueServiceCertificate({ csrPem: csrs[next++ % csrs.length]!, principal: PRINCIPAL, now: Date.now() });
    },
    Math.min(seconds, 5),
  );
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  await writeFile(join(dir, `CPU.${process.pid}.0.cpuprofile`), JSON.stringify(profile));
  const summary = await summarizeProfiles(dir, [], 12);
  await rm(dir, { recursive: true, force: true });
  return summary;
}

async function register(tessera: TesseraServer, url: string, publicKeyPem: string): Promise<void> {
  const admin = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as { clientId: string; clientSecret: string };
  const ca = tessera.ca.bundlePem;
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(admin.clientId)}:${encodeURIComponent(admin.clientSecret)}`).toString('base64')}`;
  const token = await call(
    url,
    ca,
    'POST',
    '/oauth2/token',
    { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    'grant_type=client_credentials&scope=sys.auth%3Arole.admin',
  );
  const bearer = { authorization: `Bearer ${(token as { access_token: string }).access_token}`, 'content-type': 'application/json' };
  await call(url, ca, 'POST', '/admin/v1/domains', bearer, JSON.stringify({ name: 'bench' }));
  await call(url, ca, 'POST', '/admin/v1/domains/bench/services', bearer, JSON.stringify({ name: 'svc', publicKeys: [{ kid: KID, pem: publicKeyPem }] }));
}

function call(base: string, ca: string, method: string, path: string, headers: Record<string, string>, body: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${base}${path}`, { method, ca, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text}`));
        else resolve(JSON.parse(text) as unknown);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function summarize(latencies: number[], failures: Record<string, number>, elapsedSeconds: number): Latencies {
  latencies.sort((a, b) => a - b);
  const at = (share: number): number => round(latencies[Math.min(latencies.length - 1, Math.floor(share * latencies.length))] ?? 0, 2);
  const failed = Object.values(failures).reduce((sum, count) => sum + count, 0);
  return { ok: latencies.length, failed, failures, elapsedSeconds: round(elapsedSeconds, 3), p50Ms: at(0.5), p99Ms: at(0.99) };
}

function toRow(label: string, result: Latencies, cpu: NodeJS.CpuUsage): Row {
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    label,
    ...result,
    certsPerSecond: Math.round(result.ok / result.elapsedSeconds),
    certsPerCpuSecond: Math.round(result.ok / Math.max(cpuSeconds, 1e-9)),
    cpuCores: round(cpuSeconds / result.elapsedSeconds, 2),
  };
}

function describeRow(row: Row): string {
  const failed =
    row.failed > 0
      ? `, ${row.failed} failed (${Object.entries(row.failures)
          .map(([k, v]) => `${k}: ${v}`)
          .join('; ')})`
      : '';
  return `${row.certsPerSecond} certificates/s, p99 ${row.p99Ms} ms${failed}`;
}

function table(rows: readonly Row[]): string {
  const header = ['row', 'certs/s', 'per CPU-s', 'CPU cores', 'p50 ms', 'p99 ms', 'failed'];
  const cells = rows.map((row) => [row.label, row.certsPerSecond, row.certsPerCpuSecond, row.cpuCores, row.p50Ms, row.p99Ms, row.failed].map(String));
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]): string => values.map((value, i) => (i === 0 ? value.padEnd(widths[i]!) : value.padStart(widths[i]!))).join('  ');
  return [line(header), ...cells.map(line)].join('\n');
}

function bounded(text: string, min: number, max: number, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`${flag} must be a whole number from ${min} to ${max}`);
    process.exit(2);
  }
  return value;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
