// kill -9 of `tessera serve` on PostgreSQL while it is acknowledging admin writes and token
// requests at once, then a restart on the same data dir and database. What was acknowledged
// must hold: every write is there, the signing keys and the CA are the same, every token
// issued before the crash verifies against the restarted server's JWKS, and it issues again.
// (The SQLite counterpart is packages/cli/test/serve-e2e.test.ts.)

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { send, type TestResponse } from '@tessera/testkit/https';
import { basic } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const BIN = join(import.meta.dirname, '..', '..', '..', 'cli', 'bin', 'tessera.ts');
const ISSUER = 'https://tessera.crash.test';
const MASTER_KEY = Buffer.alloc(32, 3).toString('base64');
const WRITERS = 3;
/** One client per token worker, each paced under the per-client and per-address rate limits. */
const TOKEN_WORKERS = 4;
const TOKEN_PAUSE_MS = 25;
/** The kill comes with the acknowledgement that reaches both. */
const KILL_AFTER = { writes: 60, tokens: 120 };

interface Serving {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

function serve(dataDir: string, port: number, database: string): Serving {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--data-dir', dataDir, '--listen', `https://127.0.0.1:${port}`, '--issuer', ISSUER, '--database', database, '--log-level', 'warn'],
    // Only what the server needs: the test's own TESSERA_* variables are not its config.
    { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env['PATH'] ?? '', TESSERA_MASTER_KEY: MASTER_KEY } },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
  return { child, stderr: () => stderr, exited };
}

/** Polls /readyz until it answers 200; returns the CA bundle the server wrote. */
async function waitReady(serving: Serving, dataDir: string, url: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (serving.child.exitCode !== null) throw new Error(`tessera serve exited with ${serving.child.exitCode}:\n${serving.stderr()}`);
    const ca = await readFile(join(dataDir, 'ca.pem'), 'utf8').catch(() => null);
    if (ca !== null && (await send(`${url}/readyz`, { ca }).catch(() => null))?.status === 200) return ca;
    if (Date.now() > deadline) throw new Error(`tessera serve was not ready within 30 s:\n${serving.stderr()}`);
    await sleep(25);
  }
}

describe('tessera serve on PostgreSQL, killed with -9 mid-load', () => {
  const children: ChildProcess[] = [];
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const step of cleanup.reverse()) await step();
  });

  it('keeps every acknowledged write, its keys and CA, and every token it issued', async () => {
    const database: TestDatabase = await createTestDatabase();
    cleanup.push(() => database.drop());
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-pg-crash-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;

    const first = serve(dataDir, port, database.url);
    children.push(first.child);
    const ca = await waitReady(first, dataDir, url);
    const call = (path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<TestResponse> =>
      send(`${url}${path}`, { ...options, ca });
    const token = (clientId: string, secret: string, scope: string): Promise<TestResponse> =>
      call('/oauth2/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret) },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
      });
    const admin = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as { clientId: string; clientSecret: string };
    const adminRes = await token(admin.clientId, admin.clientSecret, 'sys.auth:role.admin');
    assert.equal(adminRes.status, 200, adminRes.text);
    const adminToken = adminRes.json.access_token as string;
    const admin$ = (method: string, path: string, body?: unknown): Promise<TestResponse> =>
      call(`/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    assert.equal((await admin$('POST', '/domains', { name: 'crash' })).status, 201);
    const clients: string[] = [];
    for (let i = 0; i < TOKEN_WORKERS; i += 1) {
      const created = await admin$('POST', '/domains/crash/services', { name: `client${i}` });
      assert.equal(created.status, 201, created.text);
      clients.push(created.json.clientSecret as string);
    }
    const readers = await admin$('PUT', '/domains/crash/roles/readers', { members: clients.map((_, i) => ({ principal: `crash.client${i}` })) });
    assert.equal(readers.status, 201, readers.text);
    const jwksBefore = (await call('/oauth2/keys')).json as JSONWebKeySet;
    const keysBefore = (await admin$('GET', '/signing-keys')).json;

    // Writers create a service and then a role holding it; token workers ask for tokens. The
    // kill lands on the acknowledgement that reaches both thresholds, with the rest in flight.
    const services = new Map<string, string>();
    const roles: string[] = [];
    const tokens: string[] = [];
    const state = { killed: false, inFlight: 0, inFlightAtKill: 0, unanswered: 0, counter: 0 };
    const acknowledged = (): void => {
      if (state.killed || services.size + roles.length < KILL_AFTER.writes || tokens.length < KILL_AFTER.tokens) return;
      state.killed = first.child.kill('SIGKILL');
      state.inFlightAtKill = state.inFlight;
    };
    const attempt = async (request: () => Promise<TestResponse>): Promise<TestResponse | null> => {
      state.inFlight += 1;
      try {
        return await request();
      } catch {
        // Cut off by the kill: unknown whether it happened, so it counts for nothing.
        state.unanswered += 1;
        return null;
      } finally {
        state.inFlight -= 1;
      }
    };
    const writer = async (): Promise<void> => {
      while (!state.killed) {
        const name = `s${(state.counter += 1)}`;
        const service = await attempt(() => admin$('POST', '/domains/crash/services', { name }));
        if (service === null) return;
        assert.equal(service.status, 201, service.text);
        services.set(name, service.json.clientSecret as string);
        acknowledged();
        if (state.killed) return;
        const role = await attempt(() => admin$('PUT', `/domains/crash/roles/r-${name}`, { members: [{ principal: `crash.${name}` }] }));
        if (role === null) return;
        assert.equal(role.status, 201, role.text);
        roles.push(name);
        acknowledged();
      }
    };
    const tokenWorker = async (i: number): Promise<void> => {
      while (!state.killed) {
        const res = await attempt(() => token(`crash.client${i}`, clients[i]!, 'crash:domain'));
        if (res === null) return;
        assert.equal(res.status, 200, res.text);
        tokens.push(res.json.access_token as string);
        acknowledged();
        await sleep(TOKEN_PAUSE_MS);
      }
    };
    const loadStarted = performance.now();
    await Promise.race([
      Promise.all([...Array.from({ length: WRITERS }, writer), ...Array.from({ length: TOKEN_WORKERS }, (_, i) => tokenWorker(i))]),
      sleep(20_000, undefined, { ref: false }).then(() => {
        throw new Error(`no kill within 20 s: ${services.size + roles.length} writes, ${tokens.length} tokens acknowledged`);
      }),
    ]);
    const [, signal] = await first.exited;
    assert.equal(signal, 'SIGKILL', `the server ended on its own:\n${first.stderr()}`);
    assert.ok(state.inFlightAtKill > 0, 'the kill caught requests in flight');
    console.log(
      `# kill -9 after ${(performance.now() - loadStarted).toFixed(0)} ms of load, ${state.inFlightAtKill} requests in flight ` +
        `(${state.unanswered} cut off unanswered)`,
    );

    const restartedAt = performance.now();
    const second = serve(dataDir, port, database.url);
    children.push(second.child);
    const caAfter = await waitReady(second, dataDir, url);
    console.log(`# restart after kill -9: /readyz 200 ${(performance.now() - restartedAt).toFixed(0)} ms after spawn`);

    // The same CA (the old bundle still verifies the new server certificate) and the same keys.
    assert.equal(caAfter, ca, 'the CA bundle is unchanged');
    const jwksAfter = (await call('/oauth2/keys')).json as JSONWebKeySet;
    assert.deepEqual(jwksAfter, jwksBefore, 'the JWKS is unchanged');
    assert.deepEqual((await admin$('GET', '/signing-keys')).json, keysBefore, 'the signing keys and their states are unchanged');

    // Every acknowledged write, whole: the service, its secret, the role holding it.
    // Every page: a fast run acknowledges more than one page (100) of services before the kill.
    const everyPage = async <T>(path: string, key: string): Promise<T[]> => {
      const items: T[] = [];
      for (let cursor: string | null = null; ;) {
        const page = await admin$('GET', `${path}?limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
        assert.equal(page.status, 200, page.text);
        items.push(...(page.json[key] as T[]));
        cursor = (page.json.nextCursor as string | null | undefined) ?? null;
        if (cursor === null) return items;
      }
    };
    const listedServices = new Set((await everyPage<{ name: string }>('/domains/crash/services', 'services')).map((s) => s.name));
    const listedRoles = new Map(
      (await everyPage<{ name: string; members: { principal: string }[] }>('/domains/crash/roles', 'roles')).map((r) => [
        r.name,
        r.members.map((m) => m.principal),
      ]),
    );
    const lostServices = [...services.keys()].filter((name) => !listedServices.has(name));
    const lostRoles = roles.filter((name) => !listedRoles.has(`r-${name}`));
    const writesAcknowledged = services.size + roles.length;
    console.log(`# writes acknowledged: ${writesAcknowledged}, found after kill -9: ${writesAcknowledged - lostServices.length - lostRoles.length}`);
    assert.deepEqual(lostServices, [], 'acknowledged services lost');
    assert.deepEqual(lostRoles, [], 'acknowledged roles lost');
    for (const name of roles) {
      assert.deepEqual(listedRoles.get(`r-${name}`), [`crash.${name}`]);
      const res = await token(`crash.${name}`, services.get(name)!, 'crash:domain');
      assert.equal(res.status, 200, `${name}'s secret still works: ${res.text}`);
    }

    // Every token acknowledged before the kill verifies against the restarted server's keys.
    const keys = createLocalJWKSet(jwksAfter);
    let verified = 0;
    for (const issued of tokens) {
      await jwtVerify(issued, keys, { issuer: ISSUER, audience: 'crash' });
      verified += 1;
    }
    console.log(`# tokens acknowledged: ${tokens.length}, verifying after restart: ${verified}`);
    assert.equal(verified, tokens.length);
    // Not asserted: token-request audit is batched in memory (up to 500 ms) by design, so a
    // kill -9 may cost the newest events; admin writes carry theirs in the same transaction.
    const audited = new Set(
      ((await admin$('GET', '/audit?type=token.issued&limit=1000')).json.events as { after: { jti?: string } }[]).map((e) => e.after.jti),
    );
    console.log(`# token.issued audit events found for acknowledged tokens: ${tokens.filter((t) => audited.has(decodeJwt(t).jti)).length} of ${tokens.length}`);

    // And it issues again, with a key that was there before the crash.
    const fresh = await token('crash.client0', clients[0]!, 'crash:domain');
    assert.equal(fresh.status, 200, fresh.text);
    const { payload } = await jwtVerify(fresh.json.access_token as string, keys, { issuer: ISSUER, audience: 'crash' });
    assert.deepEqual(payload['scp'], ['readers']);
    assert.ok(jwksBefore.keys.some((k) => k.kid === decodeProtectedHeader(fresh.json.access_token as string).kid));

    second.child.kill('SIGTERM');
    assert.deepEqual(await second.exited, [0, null], `SIGTERM shuts down cleanly:\n${second.stderr()}`);
  });
});
