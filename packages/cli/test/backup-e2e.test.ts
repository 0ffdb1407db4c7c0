// The real thing: `tessera serve` as its own process under token requests and admin writes,
// `tessera backup` as another process in the middle of it, `tessera restore` into a fresh dir
// and a second `tessera serve` on that. Every admin write acknowledged before the backup began
// must be there, every token issued must verify against the restored server's JWKS, and the
// admin writes made while the copy ran must not have waited for it (figures printed with `#`).

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';

import { runCli } from './helpers/cli.ts';
import { freePort } from '@tessera/testkit/port';

const BIN = join(import.meta.dirname, '..', 'bin', 'tessera.ts');
/** Load before the backup begins, and after it ends. */
const LOAD_BEFORE_MS = 3000;
const LOAD_AFTER_MS = 500;
const WRITERS = 2;
const TOKEN_REQUESTERS = 4;
// The load comes from one client and one address; the defaults would answer most of it 429.
const SERVE_ENV = {
  TESSERA_RATE_LIMIT_CLIENT: '100000',
  TESSERA_RATE_LIMIT_CLIENT_BURST: '100000',
  TESSERA_RATE_LIMIT_IP: '100000',
  TESSERA_RATE_LIMIT_IP_BURST: '100000',
};

interface Answer {
  status: number;
  body: string;
}

interface Client {
  call(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer>;
  close(): void;
}

function client(base: string, ca: string): Client {
  const agent = new Agent({ ca, keepAlive: true, maxSockets: 16 });
  return {
    call: (method, path, headers, body) =>
      new Promise((resolve, reject) => {
        const req = request(`${base}${path}`, { method, agent, headers }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}

function serve(dataDir: string, port: number, extra: string[] = []): ChildProcess {
  const args = [BIN, 'serve', '--data-dir', dataDir, '--listen', `https://127.0.0.1:${port}`, '--log-level', 'warn', '--workers', '1', ...extra];
  return spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...SERVE_ENV } });
}

async function waitReady(dataDir: string, port: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    const ca = await readFile(join(dataDir, 'ca.pem'), 'utf8').catch(() => null);
    if (ca !== null) {
      const probe = client(`https://127.0.0.1:${port}`, ca);
      const ready = await probe.call('GET', '/readyz', {}).then(
        (answer) => answer.status === 200,
        () => false,
      );
      probe.close();
      if (ready) return;
    }
    if (Date.now() - started > 30_000) throw new Error('tessera serve did not become ready within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

/**
 * TESSERA_BACKUP_E2E_AUDIT_ROWS=300000 makes the database ~120 MB before the load starts, for
 * figures on a copy that takes a while; rows written straight into the database, in one transaction.
 */
async function prefillAudit(database: string, rows: number): Promise<void> {
  if (rows <= 0) return;
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(database);
  db.exec('PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE');
  const insert = db.prepare(
    "INSERT INTO audit_events (at, actor, type, target, before_json, after_json) VALUES (?, 'sys.auth.admin', 'domain.create', ?, '{}', ?)",
  );
  const padding = 'x'.repeat(200);
  for (let i = 0; i < rows; i += 1) insert.run(Date.now(), `prefill${i}`, JSON.stringify({ name: `prefill${i}`, padding }));
  db.exec('COMMIT');
  db.close();
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

describe('tessera backup under load, end to end', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('keeps every acknowledged write and every issued token through backup and restore, without holding writers up', async () => {
    const work = await mkdtemp(join(tmpdir(), 'tessera-backup-e2e-'));
    dirs.push(work);
    const dataDir = join(work, 'data');
    const port = await freePort();
    const first = serve(dataDir, port);
    children.push(first);
    await waitReady(dataDir, port);
    await prefillAudit(join(dataDir, 'tessera.db'), Number(process.env.TESSERA_BACKUP_E2E_AUDIT_ROWS ?? 0));
    const admin = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as { clientId: string; clientSecret: string };
    const http = client(`https://127.0.0.1:${port}`, await readFile(join(dataDir, 'ca.pem'), 'utf8'));
    const basic = `Basic ${Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64')}`;
    const tokenForm = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic };
    const tokenBody = 'grant_type=client_credentials&scope=sys.auth%3Arole.admin';
    const adminToken = (JSON.parse((await http.call('POST', '/oauth2/token', tokenForm, tokenBody)).body) as { access_token: string }).access_token;

    const writes: { name: string; start: number; end: number }[] = [];
    const tokens: { token: string; end: number }[] = [];
    let refusals = 0;
    let stopAt = Number.POSITIVE_INFINITY;
    let next = 0;
    const writer = async (): Promise<void> => {
      while (performance.now() < stopAt) {
        const name = `w${(next += 1)}`;
        const start = performance.now();
        const answer = await http.call(
          'POST',
          '/admin/v1/domains',
          { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          JSON.stringify({ name }),
        );
        if (answer.status === 201) writes.push({ name, start, end: performance.now() });
        else refusals += 1;
      }
    };
    const requester = async (): Promise<void> => {
      while (performance.now() < stopAt) {
        const answer = await http.call('POST', '/oauth2/token', tokenForm, tokenBody);
        if (answer.status === 200) tokens.push({ token: (JSON.parse(answer.body) as { access_token: string }).access_token, end: performance.now() });
        else refusals += 1;
      }
    };
    const loadStarted = performance.now();
    const load = Promise.all([...Array.from({ length: WRITERS }, writer), ...Array.from({ length: TOKEN_REQUESTERS }, requester)]);
    await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_MS / 2));
    // A control: another process that starts and does nothing competes for the same two cores.
    const controlStart = performance.now();
    const control = spawn(process.execPath, [BIN, '--version'], { stdio: 'ignore' });
    await new Promise((resolve) => control.once('exit', resolve));
    const controlEnd = performance.now();
    await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_MS / 2));

    // The backup runs in its own process, as an operator's would: its SQLite calls block only it.
    const out = join(work, 'backup.tar');
    const backupStart = performance.now();
    const backup = spawn(process.execPath, [BIN, 'backup', '--data-dir', dataDir, '--out', out, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let printed = '';
    backup.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString('utf8')));
    const code = await new Promise((resolve) => backup.once('exit', resolve));
    const backupEnd = performance.now();
    stopAt = backupEnd + LOAD_AFTER_MS;
    await load;
    http.close();
    assert.equal(code, 0, 'tessera backup succeeded');
    assert.equal(refusals, 0, 'the load was answered');
    const summary = JSON.parse(printed) as { bytes: number; durationMs: number; snapshotMs: number; counts: Record<string, number> };
    await stop(first);

    const before = writes.filter((w) => w.end < backupStart);
    const overlapping = (from: number, to: number): number[] => writes.filter((w) => w.end > from && w.start < to).map((w) => w.end - w.start);
    const baseline = before.filter((w) => w.start > loadStarted + 500 && (w.end < controlStart || w.start > controlEnd)).map((w) => w.end - w.start);
    const beside = overlapping(controlStart, controlEnd);
    const during = overlapping(backupStart, backupEnd);
    console.log(
      `# dataset: ${summary.counts.domains} domains, ${summary.counts.audit_events} audit events, ${summary.counts.signing_keys} signing keys; ` +
        `${tokens.length} tokens issued, ${writes.length} admin writes acknowledged (${before.length} before the backup began)`,
    );
    console.log(
      `# backup: ${summary.bytes} bytes; command ${Math.round(backupEnd - backupStart)} ms wall (process start included), ` +
        `${summary.durationMs} ms in the command, of which the VACUUM INTO read transaction ${summary.snapshotMs} ms`,
    );
    console.log(
      `# admin write latency, ms: without a backup p50 ${percentile(baseline, 50).toFixed(1)} p99 ${percentile(baseline, 99).toFixed(1)} max ${Math.max(...baseline).toFixed(1)} (${baseline.length} writes); ` +
        `while a process that does nothing started and ended (${Math.round(controlEnd - controlStart)} ms) p50 ${percentile(beside, 50).toFixed(1)} max ${Math.max(...beside).toFixed(1)}; ` +
        `while the backup ran p50 ${percentile(during, 50).toFixed(1)} max ${Math.max(...during).toFixed(1)} (${during.length} writes)`,
    );
    assert.ok(before.length > 0 && during.length > 0, 'writes before and during the backup');

    const restored = join(work, 'restored');
    const keyFile = join(dataDir, 'master.key');
    const restore = await runCli(['restore', '--from', out, '--data-dir', restored, '--master-key-file', keyFile], { cwd: work });
    assert.equal(restore.code, 0, restore.stderr);
    const secondPort = await freePort();
    const second = serve(restored, secondPort, ['--master-key-file', keyFile]);
    children.push(second);
    await waitReady(restored, secondPort);
    const check = client(`https://127.0.0.1:${secondPort}`, await readFile(join(restored, 'ca.pem'), 'utf8'));
    // The restored database holds the admin's secret hash; the credential file stayed with the operator.
    const restoredToken = (JSON.parse((await check.call('POST', '/oauth2/token', tokenForm, tokenBody)).body) as { access_token: string }).access_token;
    const present = new Set<string>();
    for (let cursor: string | null = ''; cursor !== null;) {
      const page = JSON.parse(
        (
          await check.call('GET', `/admin/v1/domains?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
            authorization: `Bearer ${restoredToken}`,
          })
        ).body,
      ) as {
        domains: { name: string }[];
        nextCursor: string | null;
      };
      for (const domain of page.domains) present.add(domain.name);
      cursor = page.nextCursor;
    }
    const missing = before.filter((w) => !present.has(w.name)).map((w) => w.name);
    assert.deepEqual(missing, [], 'every admin write acknowledged before the backup began is restored');
    const duringKept = writes.filter((w) => w.end >= backupStart && present.has(w.name)).length;
    console.log(
      `# restored: all ${before.length} writes acknowledged before the backup; ${duringKept} of the ${writes.length - before.length} acknowledged after it began`,
    );

    const jwks = createLocalJWKSet(JSON.parse((await check.call('GET', '/oauth2/keys', {})).body) as Parameters<typeof createLocalJWKSet>[0]);
    check.close();
    let verified = 0;
    for (const { token } of tokens) {
      // The restored server listens on another port, so its issuer differs: the keys are what is checked.
      await jwtVerify(token, jwks);
      verified += 1;
    }
    assert.equal(verified, tokens.length);
    console.log(`# tokens: all ${verified} issued (${tokens.filter((t) => t.end < backupStart).length} before the backup) verify against the restored JWKS`);
    await stop(second);
  });
});
