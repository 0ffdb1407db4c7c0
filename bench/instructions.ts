// Instructions per token, for Tessera's token endpoint and for the floor (servers/floor.ts), counted
// by valgrind's callgrind: a count that does not move with what else the machine does, so a change
// worth a few percent shows, where tokens/s on a shared VM move ±30 % run to run.
//
// Each server runs as one process under `valgrind --tool=callgrind`, instrumentation off while it
// starts (Tessera: the built JavaScript, `tessera serve --workers 1` signing on the event loop
// as default serve's workers do, the bench's client and rate limits, harness/subjects.ts; the
// floor as the bench starts it). This process then asks for
// --warmup tokens, one request at a time per connection (--concurrency, keep-alive), and then for
// --windows windows of --requests tokens each: before a window the counters are zeroed and
// instrumentation turned on (callgrind_control), after it, and after --settle-ms for what the
// requests left to do (Tessera's audit batches), they are dumped. Every thread of the server counts
// (libuv's pool, V8's GC and compiler threads).
//
// Printed: the background work of the idle server (instructions per second), then per window
// instructions per token in all and "steady": without V8's optimizing compilers (Turbofan and Maglev
// jobs, inclusive) and its major GC, the two things whose moment varies from run to run (after 20,000
// warm-up tokens V8 still recompiles, in bursts of up to 400,000 instructions per token over a
// window). Then the medians, their spread over the windows, the ratio Tessera/floor, and with --top
// a breakdown of each subject's median window: self instructions by kind (OpenSSL, SQLite, V8
// builtins and inline caches, JIT-compiled JavaScript…), the functions by which Tessera exceeds the
// floor, Tessera's functions by inclusive cost. JIT-compiled JavaScript has no symbols under
// valgrind: it shows as `???:0x…` addresses and is reported as one line.
//
// How repeatable (2026-12-06, 2-vCPU VM, 3 windows of 4000 tokens, two runs): with V8 as in
// production the steady medians were Tessera 768k and 773k, floor 687k and 690k per token; windows
// without a major GC agree within ~2 %, but one after a major GC can read 10 % higher (V8 runs
// colder code until it has recompiled), hence the median. With `--node-flags="--no-opt --no-maglev"`
// (bytecode and baseline code only: JavaScript costs more than in production, OpenSSL as much)
// windows agree within 0.2-0.8 % and runs within ~1 % (Tessera 1,297k and 1,299k, floor 1,062k and
// 1,073k): the figure for judging a 3-5 % change to the token path.
//
// Limits: user-space instructions only (no kernel time for the sockets, no cache misses, no waits);
// every thread counts once, wherever it ran; work on a timer (the audit writer's 500 ms batches, polls)
// weighs more per token than in production, as a token takes ~30 times as long under callgrind.
// Slow: the defaults take ~4 minutes per subject (20,000 warm-up tokens uninstrumented, then ~10 ms per token).
//
//   node bench/instructions.ts                                          # both: 20,000 warm-up, 3 windows of 4000
//   node bench/instructions.ts --node-flags="--no-opt --no-maglev"      # the repeatable code-path figure
//   node bench/instructions.ts --subjects tessera --requests 2000 --warmup 3000
//   node bench/instructions.ts --top 20                                 # and the breakdown
//   node bench/instructions.ts --keep /tmp/cg                           # keep the dumps (callgrind_annotate, kcachegrind)
//   node bench/instructions.ts --no-build                               # Tessera from dist/ as it is
//   node bench/instructions.ts --signing-thread thread-pool             # signing.thread (default event-loop, as serve's workers)

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import { serveEnvToAdd, serveFlagsToAdd } from '../packages/cli/src/serve-flags.ts';
import { freePort, lastWords, runChildren, waitUntilReady, type Child, type Children } from './harness/processes.ts';
import { adminClient, AUDIENCE, basic, CLIENT_ID, registerBenchClient, ROLES, tesseraScratch } from './harness/subjects.ts';
import { useBuiltCli } from './harness/tessera-cli.ts';

const { values: options } = parseArgs({
  options: {
    subjects: { type: 'string', default: 'tessera,floor' },
    requests: { type: 'string', default: '4000' },
    warmup: { type: 'string', default: '20000' },
    windows: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1' },
    'settle-ms': { type: 'string', default: '1500' },
    top: { type: 'string', default: '0' },
    keep: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    'timeout-minutes': { type: 'string', default: '20' },
    'node-flags': { type: 'string', default: '' },
    'signing-thread': { type: 'string', default: 'event-loop' },
  },
});
const positive = (name: string, value: string, max: number): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`--${name} must be a whole number from 0 to ${max}, not ${value}`);
  return n;
};
const requests = Math.max(1, positive('requests', options.requests, 100_000));
const warmup = positive('warmup', options.warmup, 100_000);
const windows = Math.max(1, positive('windows', options.windows, 20));
const concurrency = Math.max(1, positive('concurrency', options.concurrency, 16));
const settleMs = positive('settle-ms', options['settle-ms'], 60_000);
const top = positive('top', options.top, 200);
const budgetMs = positive('timeout-minutes', options['timeout-minutes'], 120) * 60_000;
const subjects = options.subjects.split(',').filter(Boolean);
for (const subject of subjects) if (subject !== 'tessera' && subject !== 'floor') throw new Error(`--subjects: tessera and/or floor, not ${subject}`);

const ROOT = join(import.meta.dirname, '..');
const BUILT_CLI = join(ROOT, 'packages', 'cli', 'dist', 'bin', 'tessera.js');
const FLOOR = join(import.meta.dirname, 'servers', 'floor.ts');
/**
 * Left out of the steady figure, by inclusive cost (callees included, memset and malloc too): V8's optimizing
 * compilers (Turbofan and Maglev jobs, on V8's threads and their finalization on the main thread), which
 * keep recompiling long after warm-up at moments that vary from run to run, and its major GC (one every
 * few thousand tokens: a window holds none, one or two). None of these functions calls another.
 */
const LEFT_OUT = {
  compiler: /^\?\?\?:v8::internal::OptimizedCompilationJob::(ExecuteJob|FinalizeJob)\(/,
  majorGc: /^\?\?\?:v8::internal::(ConcurrentMarking::RunMajor|MarkCompactCollector::CollectGarbage|Sweeper::MajorSweeperJob::Run)\(/,
};
/** The same work by self cost, for the breakdown by kind and by function. */
const COMPILER = /v8::internal::(compiler|maglev|turboshaft|baseline)::|v8::internal::(Compiler|Parser|Scanner|Deoptimizer|BytecodeGenerator)\b/;
const MAJOR_GC = /MarkCompact|ConcurrentMarking|MarkingVisitor|MarkingWorklist|IncrementalMarking|MarkingBarrier|Sweeper|ActiveSystemPages|EphemeronTable/;
/** Where the self cost of the rest goes, for the breakdown by kind (first match wins). */
const KINDS: [string, RegExp][] = [
  ["V8's optimizing compilers", COMPILER],
  ['V8 major GC', MAJOR_GC],
  ['JIT-compiled JavaScript (unnamed)', /^\?\?\?:0x/],
  ['V8 minor GC (scavenges)', /Scaveng|MinorMark|IterateObjectCache|heap::|Heap::/],
  ['V8 builtins and inline caches', /Builtins_/],
  ['OpenSSL (ECDSA P-256, SHA-256…)', /ecp_nistz256|sha256_|sha512_|\bbn_|BN_|bin2bn|EVP_|ossl_|OPENSSL_|CRYPTO_|ECDSA|\bEC_|ec_|RAND_|rand_/],
  ['SQLite', /sqlite/i],
  ['libc malloc/free', /malloc\.c|\bmalloc\b|\bfree\b/],
  ['libc other', /libc\.so/],
  ['libuv', /deps\/uv\/|\buv_/],
  ['llhttp', /llhttp/],
  ['V8 runtime, API and other C++', /v8::|Runtime_/],
  ['node C++', /node::/],
];
/** Startup under valgrind is slow: Tessera opens its database and loads every module at ~1/5 of its speed. */
const START_TIMEOUT_MS = 240_000;
const IDLE_MS = 5000;
const run = promisify(execFile);
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

interface TokenRequest {
  url: URL;
  headers: Record<string, string>;
  body: string;
}

interface Running {
  child: Child;
  pid: number;
  request: TokenRequest;
  cleanup(): Promise<void>;
}

interface Window {
  total: number;
  compiler: number;
  majorGc: number;
  /** Self cost per function (callgrind_annotate's file:function), for the breakdown. */
  self: Map<string, number>;
  file: string;
}

const children = runChildren();
const outDir = options.keep ?? (await mkdtemp(join(tmpdir(), 'tessera-instructions-')));
const results = new Map<string, Window[]>();
try {
  await children.withDeadline(async () => {
    if (subjects.includes('tessera')) console.log(`Tessera runs ${await useBuiltCli({ build: !options['no-build'] })}`);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const signingJwk = { ...(await exportJWK(privateKey)), kid: 'bench-es256' };
    for (const subject of subjects) {
      const started = performance.now();
      const running = subject === 'tessera' ? await startTessera(children) : await startFloor(children, signingJwk);
      try {
        console.log(`\n${subject}: pid ${running.pid} under callgrind, ready in ${((performance.now() - started) / 1000).toFixed(0)} s`);
        const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
        try {
          await load(running.request, agent, warmup);
          await sleep(settleMs);
          // Work that runs by the clock (timers, polls) weighs more per token the slower the server runs: under
          // callgrind ~30 times slower than natively, slower still on a busy machine. Measured idle, for scale.
          await control(running.pid, '--zero');
          await control(running.pid, '--instr=on');
          await sleep(IDLE_MS);
          await control(running.pid, '--dump');
          await control(running.pid, '--instr=off');
          const idle = await readDump(running.pid, 1);
          console.log(`  idle: ${Math.round((idle.total * 1000) / IDLE_MS).toLocaleString('en')} instructions per second`);
          const measured: Window[] = [];
          for (let i = 0; i < windows; i += 1) {
            await control(running.pid, '--zero');
            await control(running.pid, '--instr=on');
            const began = performance.now();
            await load(running.request, agent, requests);
            const seconds = (performance.now() - began) / 1000;
            await sleep(settleMs);
            await control(running.pid, '--dump');
            await control(running.pid, '--instr=off');
            const window = await readDump(running.pid, i + 2);
            measured.push(window);
            console.log(
              `  window ${i + 1}: ${perToken(window.total)} instructions per token; steady ${perToken(steady(window))} ` +
                `(left out: V8's compilers ${perToken(window.compiler)}, major GC ${perToken(window.majorGc)}); ${requests} tokens in ${seconds.toFixed(0)} s`,
            );
          }
          results.set(subject, measured);
        } finally {
          agent.destroy();
        }
      } finally {
        await running.cleanup();
      }
    }
  }, budgetMs);

  console.log(`\n${requests} tokens per window, ${warmup} warm-up, ${concurrency} connection(s); medians over ${windows} window(s):`);
  const summary = new Map<string, { total: number; steady: number }>();
  for (const [subject, measured] of results) {
    const total = median(measured.map((w) => w.total));
    const spread = (values: number[]): string => `${(((Math.max(...values) - Math.min(...values)) / median(values)) * 100).toFixed(1)} %`;
    summary.set(subject, { total, steady: median(measured.map(steady)) });
    console.log(
      `  ${subject.padEnd(8)} steady ${perToken(median(measured.map(steady)))} per token (spread ${spread(measured.map(steady))}); ` +
        `in all ${perToken(total)} (spread ${spread(measured.map((w) => w.total))})`,
    );
  }
  const tessera = summary.get('tessera');
  const floor = summary.get('floor');
  if (tessera && floor) {
    console.log(`  Tessera/floor: ${(tessera.steady / floor.steady).toFixed(2)} steady, ${(tessera.total / floor.total).toFixed(2)} in all`);
  }
  // The window whose steady figure is the median (the lower middle of an even count) stands for each subject.
  const typical = (measured: Window[] | undefined): Window | undefined => measured?.toSorted((x, y) => steady(x) - steady(y))[(measured.length - 1) >> 1];
  if (top > 0) await breakdown(typical(results.get('tessera')), typical(results.get('floor')));
  if (options.keep) console.log(`\ncallgrind dumps kept in ${outDir}`);
} finally {
  if (!options.keep) await rm(outDir, { recursive: true, force: true });
}

/** A window's instructions without V8's optimizing compilers and major GC: the repeatable figure. */
function steady(window: Window): number {
  return window.total - window.compiler - window.majorGc;
}

function perToken(instructions: number): string {
  return Math.round(instructions / requests).toLocaleString('en');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Node under callgrind, instrumentation off until a window starts; dumps go to outDir. */
function callgrind(name: string): string[] {
  return [
    'valgrind',
    '--tool=callgrind',
    '--instr-atstart=no',
    // V8 writes and rewrites its machine code in anonymous memory: valgrind must notice (its default on x86-64).
    '--smc-check=all-non-file',
    `--callgrind-out-file=${join(outDir, `${name}.%p`)}`,
  ];
}

/** --node-flags, for trying V8 settings (`--single-threaded-gc`); Tessera gets serve's own flags after them. */
function extraNodeFlags(): string[] {
  return options['node-flags'].split(' ').filter(Boolean);
}

async function control(pid: number, command: string): Promise<void> {
  const { stdout, stderr } = await run('callgrind_control', [command, String(pid)], { timeout: 60_000 });
  if (/error/i.test(stdout + stderr)) throw new Error(`callgrind_control ${command} ${pid}: ${(stdout + stderr).trim()}`);
}

/** The n-th dump of `pid` (callgrind numbers them from 1), summed and split by function. */
async function readDump(pid: number, n: number): Promise<Window> {
  const name = (await readdir(outDir)).find((file) => file.endsWith(`.${pid}.${n}`));
  if (!name) throw new Error(`callgrind wrote no dump ${n} for pid ${pid} in ${outDir}`);
  const file = join(outDir, name);
  const self = await annotate(file, false);
  const total = [...self.values()].reduce((sum, ir) => sum + ir, 0);
  let compiler = 0;
  let majorGc = 0;
  for (const [fn, ir] of await annotate(file, true)) {
    if (LEFT_OUT.compiler.test(fn)) compiler += ir;
    else if (LEFT_OUT.majorGc.test(fn)) majorGc += ir;
  }
  return { total, compiler, majorGc, self, file };
}

/** callgrind_annotate's per-function table, every function (threshold 100 %). */
async function annotate(file: string, inclusive: boolean): Promise<Map<string, number>> {
  const { stdout } = await run('callgrind_annotate', ['--threshold=100', `--inclusive=${inclusive ? 'yes' : 'no'}`, file], {
    timeout: 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  const costs = new Map<string, number>();
  let table = false;
  for (const line of stdout.split('\n')) {
    if (/file:function/.test(line)) table = true;
    const match = table ? /^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$/.exec(line) : null;
    if (!match) continue;
    const fn = match[2]!;
    costs.set(fn, (costs.get(fn) ?? 0) + Number(match[1]!.replaceAll(',', '')));
  }
  return costs;
}

async function breakdown(tessera: Window | undefined, floor: Window | undefined): Promise<void> {
  const short = (fn: string): string => {
    const name = fn.replace(/ \[[^\]]*\/node_modules\/node\/bin\/node\]$/, ' [node]');
    return name.length > 150 ? `${name.slice(0, 147)}...` : name;
  };
  const kinds = (window: Window | undefined): Map<string, number> => {
    const sums = new Map<string, number>();
    for (const [fn, ir] of window?.self ?? []) {
      const kind = KINDS.find(([, pattern]) => pattern.test(fn))?.[0] ?? 'other';
      sums.set(kind, (sums.get(kind) ?? 0) + ir);
    }
    return sums;
  };
  const ofTessera = kinds(tessera);
  const ofFloor = kinds(floor);
  console.log("\nSelf instructions per token by kind (each subject's median window):");
  console.log(`  ${'Tessera'.padStart(10)}  ${'floor'.padStart(10)}  ${'difference'.padStart(10)}`);
  for (const kind of [...new Set([...ofTessera.keys(), ...ofFloor.keys()])].sort((a, b) => (ofTessera.get(b) ?? 0) - (ofTessera.get(a) ?? 0))) {
    const t = ofTessera.get(kind) ?? 0;
    const f = ofFloor.get(kind) ?? 0;
    console.log(`  ${perToken(t).padStart(10)}  ${perToken(f).padStart(10)}  ${perToken(t - f).padStart(10)}  ${kind}`);
  }
  if (tessera && floor) {
    const jit = (fn: string): string => (/^\?\?\?:0x/.test(fn) ? 'JIT-compiled JavaScript (unnamed, every address)' : fn);
    const difference = new Map<string, number>();
    for (const [fn, ir] of tessera.self) if (!COMPILER.test(fn) && !MAJOR_GC.test(fn)) difference.set(jit(fn), (difference.get(jit(fn)) ?? 0) + ir);
    for (const [fn, ir] of floor.self) if (!COMPILER.test(fn) && !MAJOR_GC.test(fn)) difference.set(jit(fn), (difference.get(jit(fn)) ?? 0) - ir);
    console.log(`\nWhere Tessera exceeds the floor: top ${top} functions by self instructions per token, Tessera minus floor (median windows, steady part):`);
    for (const [fn, ir] of [...difference].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${perToken(ir).padStart(10)}  ${short(fn)}`);
  }
  if (tessera) {
    // Recursion levels (`'2`) are left out: their inclusive cost is counted again in the outer level.
    console.log(`\nTessera, top ${top} functions by inclusive instructions per token (median window; ???:0x… is JIT-compiled JavaScript, unnamed):`);
    const inclusive = [...(await annotate(tessera.file, true))].filter(([fn]) => !/'\d+( \[|$)/.test(fn)).sort((a, b) => b[1] - a[1]);
    for (const [fn, ir] of inclusive.slice(0, top)) console.log(`  ${perToken(ir).padStart(10)}  ${short(fn)}`);
  }
}

/** `count` token requests, `concurrency` at a time on keep-alive connections; any answer but 200 ends the run. */
async function load(shape: TokenRequest, agent: Agent, count: number): Promise<void> {
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        shape.url,
        { agent, method: 'POST', headers: { ...shape.headers, 'content-length': String(Buffer.byteLength(shape.body)) }, timeout: 60_000 },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`token request answered ${res.statusCode}: ${text.slice(0, 300)}`))));
        },
      );
      req.on('timeout', () => req.destroy(new Error('token request: no answer within 60 s')));
      req.on('error', reject);
      req.end(shape.body);
    });
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        next += 1;
        await one();
      }
    }),
  );
}

async function startFloor(children: Children, signingJwk: Record<string, unknown>): Promise<Running> {
  const port = await freePort();
  const clientSecret = randomBytes(32).toString('base64url');
  const args = { port, processes: 1, clientId: CLIENT_ID, clientSecret, signingJwk, audience: AUDIENCE, roles: ROLES };
  const child = children.spawn(FLOOR, [JSON.stringify(args)], {
    env: { ...process.env, NODE_ENV: 'production' },
    nodeFlags: extraNodeFlags(),
    wrapper: callgrind('floor'),
  });
  try {
    await waitUntilReady(child, START_TIMEOUT_MS);
    return {
      child,
      pid: child.process.pid!,
      request: {
        url: new URL(`http://127.0.0.1:${port}/token`),
        headers: { ...FORM, authorization: basic(CLIENT_ID, clientSecret) },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: `${AUDIENCE}:domain` }).toString(),
      },
      cleanup: () => children.stop(child),
    };
  } catch (error) {
    await children.stop(child);
    throw error;
  }
}

/**
 * `tessera serve --workers 1` from dist/, with the V8 flags and environment serve would re-execute
 * itself with given up front: valgrind does not follow an execve, the re-executed server would run
 * natively.
 */
async function startTessera(children: Children): Promise<Running> {
  // One process stands for default serve's workers (one per core): they sign on the event loop.
  const settings = { TESSERA_TOKEN_REUSE: 'false', TESSERA_SIGNING_THREAD: options['signing-thread'] };
  const scratch = await tesseraScratch(children, { name: 'instructions', storage: 'sqlite', settings });
  const env = { ...scratch.env, ...serveEnvToAdd(['serve'], scratch.env) };
  const nodeFlags = [...extraNodeFlags(), ...serveFlagsToAdd(['serve'], extraNodeFlags(), env['NODE_OPTIONS'])];
  const origin = `http://127.0.0.1:${await freePort()}`;
  const args = ['serve', '--data-dir', scratch.dataDir, '--listen', origin, '--log-level', 'warn', '--workers', '1'];
  const child = children.spawn(BUILT_CLI, args, { env, nodeFlags, wrapper: callgrind('tessera') });
  void (async () => {
    // Drained, so that a full pipe never stalls the server.
    const lines = child.lines[Symbol.asyncIterator]();
    while (!(await lines.next()).done);
  })().catch(() => {});
  const cleanup = async (): Promise<void> => {
    await children.stop(child);
    await scratch.dispose();
  };
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const status = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
        (res) => res.status,
        () => 0,
      );
      if (status === 200) break;
      if (child.process.exitCode !== null) throw new Error(`tessera serve exited with code ${child.process.exitCode}: ${lastWords(child.stderr())}`);
      if (Date.now() > deadline) throw new Error(`tessera serve not ready within ${START_TIMEOUT_MS / 1000} s: ${lastWords(child.stderr())}`);
      await sleep(250);
    }
    const secret = await registerBenchClient(await adminClient(origin, scratch.dataDir));
    return {
      child,
      pid: child.process.pid!,
      request: {
        url: new URL(`${origin}/oauth2/token`),
        headers: { ...FORM, authorization: basic(CLIENT_ID, secret) },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: `${AUDIENCE}:domain` }).toString(),
      },
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
