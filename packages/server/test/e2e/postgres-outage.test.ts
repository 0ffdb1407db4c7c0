// PostgreSQL going away under load, without touching the real server: Tessera reaches it
// through a TCP proxy the test cuts (a stopped server: connections reset, new ones refused)
// or blackholes (a hung server or a silent network: nothing answers, nothing closes).
//
// What Tessera does meanwhile: whatever needs the database answers 503
// `temporarily_unavailable`, at once when the database refuses connections and within the
// driver's 5 s bounds when it is silent, never 500 and never hanging; /readyz answers 503 so a
// balancer stops sending traffic; /healthz stays 200 so nothing restarts a process that has
// nothing wrong with it; /oauth2/keys keeps serving the keys it holds in memory. When the
// database returns, the pool reconnects on its own: no restart.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SqlDriver } from '../../src/storage/drivers/driver.ts';
import { openPostgresDriver } from '../../src/storage/drivers/postgres.ts';
import { StorageUnavailableError } from '../../src/storage/errors.ts';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { SERVER_URL, createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const MASTER_KEY = Buffer.alloc(32, 5).toString('base64');
const POSTGRES = { host: new URL(SERVER_URL).hostname, port: Number(new URL(SERVER_URL).port || 5432) };
/** The driver's connect and query timeouts (storage/drivers/postgres.ts). */
const DRIVER_BOUND_MS = 5000;
/** One client per token worker, each paced under the per-client and per-address rate limits. */
const TOKEN_WORKERS = 4;
const TOKEN_PAUSE_MS = 25;
const CUT_MS = 2000;
/** Longer than the driver bound, so a request stuck on a silent connection shows up as one. */
const BLACKHOLE_MS = 9000;

type Kind = 'token' | 'admin' | 'write' | 'readyz' | 'healthz' | 'keys';

interface Sample {
  kind: Kind;
  start: number;
  end: number;
  status: number;
  /** A transport failure (reset, client timeout): never acceptable from Tessera. */
  failure?: string;
  res?: TestResponse;
}

interface Outage {
  samples: Sample[];
  /** When the proxy had gone down, and when it was told to come back. */
  downAt: number;
  upAt: number;
  /** Milliseconds from upAt to the end of the first token request (started after upAt) answered 200. */
  recoveryMs: number;
}

describe('PostgreSQL going away under load', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let tessera: TestServer;
  let adminToken = '';
  let writes = 0;
  const secrets: string[] = [];

  const tokenFor = (worker: number): Promise<TestResponse> =>
    tessera.token(`outage.client${worker}`, secrets[worker]!, { grant_type: 'client_credentials', scope: 'outage:domain' });

  /**
   * Steady traffic of every kind while the database is taken away for `outageMs` and brought
   * back, until a token request started after that succeeds.
   */
  const underLoad = async (takeDown: () => Promise<void> | void, outageMs: number, bringBack: () => Promise<void>): Promise<Outage> => {
    const samples: Sample[] = [];
    const state = { running: true };
    const worker = async (kind: Kind, call: () => Promise<TestResponse>, pauseMs: number): Promise<void> => {
      while (state.running) {
        const start = performance.now();
        try {
          const res = await call();
          samples.push({ kind, start, end: performance.now(), status: res.status, res });
        } catch (error) {
          samples.push({ kind, start, end: performance.now(), status: 0, failure: (error as Error).message });
        }
        await sleep(pauseMs);
      }
    };
    const workers = [
      ...Array.from({ length: TOKEN_WORKERS }, (_, i) => worker('token', () => tokenFor(i), TOKEN_PAUSE_MS)),
      worker('admin', () => tessera.admin$('GET', '/domains/outage/services', undefined, adminToken), 20),
      worker('write', () => tessera.admin$('PUT', `/domains/outage/roles/w${(writes += 1)}`, { members: [] }, adminToken), 20),
      worker('readyz', () => tessera.send('/readyz'), 20),
      worker('healthz', () => tessera.send('/healthz'), 20),
      worker('keys', () => tessera.send('/oauth2/keys'), 20),
    ];
    await sleep(500);
    await takeDown();
    const downAt = performance.now();
    await sleep(outageMs);
    const upAt = performance.now();
    await bringBack();
    const recovered = (): Sample | undefined => samples.find((s) => s.kind === 'token' && s.status === 200 && s.start >= upAt);
    while (recovered() === undefined && performance.now() - upAt < 10_000) await sleep(10);
    // A little traffic after recovery, to see that it holds.
    await sleep(300);
    state.running = false;
    await Promise.all(workers);
    const first = recovered();
    return { samples, downAt, upAt, recoveryMs: first ? first.end - upAt : Number.POSITIVE_INFINITY };
  };

  /** What holds through any outage: no transport failure, no 5xx but 503, liveness and the JWKS untouched. */
  const assertHeldUp = (outage: Outage, jwks: string): void => {
    const failures = outage.samples.filter((s) => s.failure !== undefined);
    assert.deepEqual(
      failures.map((s) => `${s.kind}: ${s.failure}`),
      [],
      'every request is answered',
    );
    const errors = outage.samples.filter((s) => s.status >= 500 && s.status !== 503);
    assert.deepEqual(
      errors.map((s) => `${s.kind} ${s.status} ${s.res?.text}`),
      [],
      'no 5xx but 503',
    );
    for (const s of outage.samples.filter((x) => x.kind === 'healthz')) assert.equal(s.status, 200, '/healthz stays 200');
    for (const s of outage.samples.filter((x) => x.kind === 'keys')) {
      assert.equal(s.status, 200, '/oauth2/keys keeps serving');
      assert.equal(s.res?.text, jwks, 'the same keys, from memory');
    }
    for (const s of outage.samples.filter((x) => x.kind === 'token')) assert.ok([200, 503].includes(s.status), `token: ${s.status} ${s.res?.text}`);
    for (const s of outage.samples.filter((x) => x.kind === 'admin')) assert.ok([200, 503].includes(s.status), `admin: ${s.status} ${s.res?.text}`);
    for (const s of outage.samples.filter((x) => x.kind === 'write')) assert.ok([201, 503].includes(s.status), `write: ${s.status} ${s.res?.text}`);
    for (const s of outage.samples.filter((x) => x.status === 503)) {
      assert.equal(s.res?.headers['retry-after'], '1', `${s.kind}: a 503 says when to retry`);
      if (s.kind === 'token') {
        assert.equal(s.res?.json.error, 'temporarily_unavailable');
        assert.match(s.res?.json.error_description as string, /storage is unavailable/);
        assert.equal(s.res?.headers['cache-control'], 'no-store');
      } else if (s.kind === 'admin' || s.kind === 'write') {
        assert.equal(s.res?.json.error, 'temporarily_unavailable');
        assert.match(s.res?.json.message as string, /storage is unavailable/);
      } else {
        assert.equal(s.kind, 'readyz');
        assert.deepEqual(s.res?.json, { status: 'unavailable', problems: ['storage is unreachable'] });
      }
    }
  };

  /** After recovery: nothing fails, /readyz is back, and every write acknowledged at any time is there. */
  const assertRecovered = async (outage: Outage): Promise<void> => {
    const firstOk = outage.samples.find((s) => s.kind === 'token' && s.status === 200 && s.start >= outage.upAt)!;
    const later = outage.samples.filter((s) => s.start > firstOk.end + 100);
    assert.deepEqual(
      later.filter((s) => s.status >= 300).map((s) => `${s.kind} ${s.status}`),
      [],
      'nothing fails once recovered',
    );
    assert.ok(
      later.some((s) => s.kind === 'readyz'),
      '/readyz was asked after recovery',
    );
    const acknowledged = outage.samples.filter((s) => s.kind === 'write' && s.status === 201).map((s) => s.res?.json.name as string);
    const roles = await tessera.admin$('GET', '/domains/outage/roles', undefined, adminToken);
    assert.equal(roles.status, 200, roles.text);
    const found = new Set((roles.json.roles as { name: string }[]).map((r) => r.name));
    console.log(`# writes acknowledged during the run: ${acknowledged.length}, found afterwards: ${acknowledged.filter((n) => found.has(n)).length}`);
    assert.deepEqual(
      acknowledged.filter((name) => !found.has(name)),
      [],
    );
  };

  const report = (label: string, outage: Outage): number => {
    // In flight at any moment of the outage, including requests it caught half-way.
    const down = outage.samples.filter((s) => s.end > outage.downAt && s.start < outage.upAt);
    const counts: Record<string, number> = {};
    for (const s of down) counts[`${s.kind} ${s.status || 'failed'}`] = (counts[`${s.kind} ${s.status || 'failed'}`] ?? 0) + 1;
    const worst = Math.max(...down.filter((s) => s.kind !== 'healthz' && s.kind !== 'keys').map((s) => s.end - s.start));
    console.log(`# ${label}: ${down.length} requests in flight while the database was down: ${JSON.stringify(counts)}`);
    console.log(`# ${label}: worst latency while down (token, admin read and write, /readyz): ${worst.toFixed(0)} ms`);
    console.log(`# ${label}: first token 200 ${outage.recoveryMs.toFixed(0)} ms after the database came back (no restart)`);
    return worst;
  };

  before(async () => {
    database = await createTestDatabase();
    proxy = await startTcpProxy(POSTGRES);
    tessera = await startTestServer({ flags: { database: proxy.urlFor(database.url) }, env: { TESSERA_MASTER_KEY: MASTER_KEY } });
    adminToken = await tessera.adminToken();
    assert.equal((await tessera.admin$('POST', '/domains', { name: 'outage' }, adminToken)).status, 201);
    for (let i = 0; i < TOKEN_WORKERS; i += 1) {
      const created = await tessera.admin$('POST', '/domains/outage/services', { name: `client${i}` }, adminToken);
      assert.equal(created.status, 201, created.text);
      secrets.push(created.json.clientSecret as string);
    }
    const members = secrets.map((_, i) => ({ principal: `outage.client${i}` }));
    const role = await tessera.admin$('PUT', '/domains/outage/roles/readers', { members }, adminToken);
    assert.equal(role.status, 201, role.text);
  });
  after(async () => {
    await tessera?.stop();
    await proxy?.close();
    await database?.drop();
  });

  it('stopped: answers 503 at once, keeps /healthz and the JWKS, recovers without a restart, loses nothing', async () => {
    assert.equal((await tessera.admin$('PUT', '/domains/outage/roles/before-cut', { members: [{ principal: 'outage.client0' }] }, adminToken)).status, 201);
    const jwks = (await tessera.send('/oauth2/keys')).text;

    const outage = await underLoad(
      () => proxy.cut(),
      CUT_MS,
      () => proxy.restore(),
    );
    const worst = report('stopped', outage);

    assertHeldUp(outage, jwks);
    const down = outage.samples.filter((s) => s.start >= outage.downAt && s.end <= outage.upAt);
    for (const kind of ['token', 'admin', 'write', 'readyz'] as const) {
      const ofKind = down.filter((s) => s.kind === kind);
      assert.ok(ofKind.length > 0, `${kind} was asked while the database was down`);
      assert.deepEqual([...new Set(ofKind.map((s) => s.status))], [503], `${kind} answers 503 while the database is down`);
    }
    // Refused connections fail at once: nothing waits for the connect timeout.
    assert.ok(worst < DRIVER_BOUND_MS / 5, `worst latency while down ${worst.toFixed(0)} ms`);
    assert.ok(outage.recoveryMs < 3000, `recovered ${outage.recoveryMs.toFixed(0)} ms after the database came back`);
    await assertRecovered(outage);

    // What was written before the cut is there, and writing works again.
    const kept = await tessera.admin$('GET', '/domains/outage/roles/before-cut', undefined, adminToken);
    assert.equal(kept.status, 200, kept.text);
    assert.deepEqual(
      kept.json.members.map((m: { principal: string }) => m.principal),
      ['outage.client0'],
    );
    const written = await tessera.admin$('PUT', '/domains/outage/roles/after-cut', { members: [{ principal: 'outage.client1' }] }, adminToken);
    assert.equal(written.status, 201, written.text);

    // The outage is one episode, not one per failed request (hundreds answered 503 above); it
    // ends once calls have succeeded for the quiet spell (5 s) without a failure.
    const metric = async (name: string): Promise<number> => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec((await tessera.send('/metrics')).text)?.[1]);
    assert.equal(await metric('tessera_storage_outages_total'), 1);
    // The token requests refused meanwhile are counted (and audited) as what they were told: 503.
    const counted = (await tessera.send('/metrics')).text;
    assert.match(counted, /^tessera_token_requests_total\{result="temporarily_unavailable"\} [1-9]/m);
    assert.doesNotMatch(counted, /result="server_error"/);
    const deadline = Date.now() + 10_000;
    while ((await metric('tessera_storage_up')) !== 1 && Date.now() < deadline) {
      await tessera.send('/readyz');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(await metric('tessera_storage_up'), 1, 'storage is up again once calls have succeeded for the quiet spell');
  });

  it('silent (hung server, dropped network): answers 503 within the driver bound instead of hanging', async () => {
    const jwks = (await tessera.send('/oauth2/keys')).text;
    const outage = await underLoad(
      () => proxy.blackhole(),
      BLACKHOLE_MS,
      () => proxy.restore(),
    );
    const worst = report('silent', outage);

    assertHeldUp(outage, jwks);
    // Requests on pooled connections the database stopped answering would otherwise wait
    // until the network came back; here each is cut off by the query timeout.
    assert.ok(worst < DRIVER_BOUND_MS + 2000, `worst latency while silent ${worst.toFixed(0)} ms`);
    // Answered by the bound, not set free by the database coming back.
    const answeredWhileDown = outage.samples.filter((s) => s.end > outage.downAt && s.end < outage.upAt);
    for (const kind of ['token', 'admin', 'write', 'readyz'] as const) {
      assert.ok(
        answeredWhileDown.some((s) => s.kind === kind && s.status === 503),
        `${kind} answered 503 while the database was silent`,
      );
    }
    // Readiness is a probe's answer: within its own bound (1 s), not the driver's.
    const readyWhileSilent = outage.samples.filter((s) => s.kind === 'readyz' && s.start >= outage.downAt && s.end <= outage.upAt);
    assert.ok(readyWhileSilent.length > 0);
    const slowestReady = Math.max(...readyWhileSilent.map((s) => s.end - s.start));
    assert.ok(slowestReady < 2500, `/readyz took ${slowestReady.toFixed(0)} ms while the database was silent`);
    assert.ok(outage.recoveryMs < 3000, `recovered ${outage.recoveryMs.toFixed(0)} ms after the database came back`);
    await assertRecovered(outage);
    assert.equal((await tessera.admin$('PUT', '/domains/outage/roles/after-silence', { members: [] }, adminToken)).status, 201);
  });
});

describe('the PostgreSQL driver when a connection fails inside a transaction', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let driver: SqlDriver;
  before(async () => {
    database = await createTestDatabase();
    proxy = await startTcpProxy(POSTGRES);
    driver = openPostgresDriver(proxy.urlFor(database.url));
  });
  after(async () => {
    await driver?.close();
    await proxy?.close();
    await database?.drop();
  });

  it('a reset between statements fails it as unavailable, not as an unhandled error event, and the pool reconnects', async () => {
    const transaction = driver.transaction(async (tx) => {
      await tx.get('SELECT 1 AS ok');
      await proxy.cut();
      // The reset arrives while no statement is in flight, so pg reports it as an 'error'
      // event on the checked-out client rather than as a failed query.
      await sleep(100);
      await tx.get('SELECT 1 AS ok');
    });
    await assert.rejects(transaction, StorageUnavailableError);
    await proxy.restore();
    assert.deepEqual(await driver.get('SELECT 1 AS ok'), { ok: 1 });
  });

  it('silence fails it within one query timeout: a dead connection is not asked to roll back', async () => {
    const started = performance.now();
    const transaction = driver.transaction(async (tx) => {
      await tx.get('SELECT 1 AS ok');
      proxy.blackhole();
      await tx.get('SELECT 1 AS ok');
    });
    await assert.rejects(transaction, StorageUnavailableError);
    const elapsed = performance.now() - started;
    console.log(`# a transaction on a silent connection failed after ${elapsed.toFixed(0)} ms`);
    // A ROLLBACK sent down the same connection would wait out a second timeout.
    assert.ok(elapsed < DRIVER_BOUND_MS + 1500, `failed after ${elapsed.toFixed(0)} ms`);
    await proxy.restore();
    assert.deepEqual(await driver.get('SELECT 1 AS ok'), { ok: 1 });
  });
});
