// `tessera serve --workers 2` on the embedded SQLite database, as its own process. By default
// connections are dealt round robin: one address's connections reach both workers, and the
// address and client budgets, split between the workers, add up to the configured ones. With
// `--worker-distribution by-address` each loopback address lands on one worker, tokens from
// either worker verify against either's JWKS, the admin API and mutual TLS work through the
// handed-over connections, an address's rate limit holds its configured budget over many
// connections, slow requests still time out, a killed worker comes back, and SIGTERM exits 0
// with every acknowledged token request in the audit. `--workers 1` keeps whole budgets.

import assert from 'node:assert/strict';
import { connect, type ConnectionOptions } from 'node:tls';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { claimsOf, postForm, tesseraCertificate } from '../../server/test/e2e/mtls-support.ts';
import type { TestResponse } from '@tessera/testkit/https';
import { freePort } from '@tessera/testkit/port';
import { addressesByWorker, serviceWithRole, startCluster, type Cluster } from './serve-cluster-support.ts';

const RATE_BURST = 10;
const BIN = join(import.meta.dirname, '..', 'bin', 'tessera.ts');

/** Polls `check` every 100 ms for up to 30 s. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    assert.ok(Date.now() - started < 30_000, `${what} within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Two workers again, `gone` not among them. */
function replaced(pids: number[], gone: number): boolean {
  return pids.length === 2 && !pids.includes(gone);
}

/**
 * Sends `count` token requests one after the other, each over a fresh connection; answers how many were not refused
 * (429), the seconds they took, and the last refusal.
 */
async function admittedOf(
  count: number,
  request: (i: number) => Promise<TestResponse>,
): Promise<{ admitted: number; seconds: number; refusal?: TestResponse }> {
  const started = Date.now();
  let admitted = 0;
  let refusal: TestResponse | undefined;
  for (let i = 0; i < count; i += 1) {
    const res = await request(i);
    if (res.status !== 429) admitted += 1;
    else refusal = res;
  }
  return { admitted, seconds: (Date.now() - started) / 1000, ...(refusal === undefined ? {} : { refusal }) };
}

describe('tessera serve --workers 2, round robin (the default)', () => {
  // Odd budgets, so that they do not split evenly: 5 + 4 back to back, refilled at 1/s in all.
  const IP_BURST = 9;
  const CLIENT_BURST = 7;
  let dataDir: string;
  let cluster: Cluster;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-cluster-rr-'));
    cluster = await startCluster({
      dataDir,
      args: ['--workers', '2'],
      env: {
        TESSERA_RATE_LIMIT_IP: '1',
        TESSERA_RATE_LIMIT_IP_BURST: String(IP_BURST),
        TESSERA_RATE_LIMIT_CLIENT: '1',
        TESSERA_RATE_LIMIT_CLIENT_BURST: String(CLIENT_BURST),
        TESSERA_ALERT_FAILURE_THRESHOLD: '4',
      },
    });
  });
  after(async () => {
    cluster.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('logs the distribution on the serving line', () => {
    const serving = cluster.lines().find((line) => String(line['msg']).startsWith('tessera is serving'));
    assert.equal(serving?.['distribution'], 'round-robin');
    assert.equal(serving?.['workers'], 2);
  });

  it('uses both workers for the connections of one address', async () => {
    const seen: number[] = [];
    for (let i = 0; i < 6; i += 1) seen.push(await cluster.workerOf('127.0.0.1'));
    assert.deepEqual([...new Set(seen)].sort(), [0, 1], `workers seen: ${seen.join(', ')}`);
  });

  it('gives an address its configured burst in all over many connections, split between the workers, never more', async () => {
    // 127.0.0.2 is used by no other test here. Each worker holds its share of the burst (5 and 4)
    // and of the rate (0.5/s each); the connections alternate, so both shares run out.
    const { admitted, seconds, refusal } = await admittedOf(3 * IP_BURST, () => cluster.token('127.0.0.2', 'nobody.here', 'wrong'));
    console.log(`# round robin address budget: ${admitted} of ${3 * IP_BURST} admitted (burst ${IP_BURST}, ${seconds} s of refill at 1/s in all)`);
    assert.ok(admitted >= IP_BURST, `the whole burst is admitted (${admitted})`);
    // Each worker refills at 0.5/s: in t seconds the two add at most floor(t) whole tokens.
    assert.ok(admitted <= IP_BURST + Math.floor(seconds), `at most the configured budget: ${admitted} admitted in ${seconds} s`);
    // The refusal names the configured budget, which the caller never gets more of, not a worker's share.
    // A worker refills at 0.5/s, so the wait is up to 2 s: less when time has already refilled part
    // of a token (a slow machine takes long between requests). Header and sentence agree.
    const wait = refusal?.headers['retry-after'];
    assert.ok(wait === '1' || wait === '2', `Retry-After ${wait}`);
    assert.equal(refusal?.json.error_description, `too many requests for address 127.0.0.2 (at most 1 per second, bursts of 9); retry after ${wait} s`);
  });

  it('gives a client its configured burst in all, split between the workers, however many addresses it calls from', async () => {
    // One address per request, so that no address budget bites: only the admin client's own one.
    const { clientId, clientSecret } = cluster.admin;
    const { admitted, seconds } = await admittedOf(3 * CLIENT_BURST, (i) => cluster.token(`127.0.1.${i + 1}`, clientId, clientSecret, 'sys.auth:role.admin'));
    console.log(`# round robin client budget: ${admitted} of ${3 * CLIENT_BURST} admitted (burst ${CLIENT_BURST}, ${seconds} s of refill at 1/s in all)`);
    assert.ok(admitted >= CLIENT_BURST, `the whole burst is admitted (${admitted})`);
    assert.ok(admitted <= CLIENT_BURST + Math.floor(seconds), `at most the configured budget: ${admitted} admitted in ${seconds} s`);
  });

  it("raises the failed-authentication alert by the time an address's failures dealt to both workers reach the threshold", async () => {
    // Threshold 4: each worker alerts at its share, 2; four connections in a row give each worker two.
    for (let i = 0; i < 4; i += 1) assert.equal((await cluster.token('127.0.0.3', 'guess.er', 'wrong')).status, 401);
    const alerted = (target: string): boolean => cluster.lines().some((line) => line['alert'] === 'alert.auth-failures' && line['target'] === target);
    await until(async () => alerted('ip:127.0.0.3') && alerted('guess.er'), 'the alerts are logged');
    assert.equal(cluster.lines().find((line) => line['target'] === 'ip:127.0.0.3')?.['count'], 2);
  });

  it('exits 0 on SIGTERM', async () => {
    assert.equal(await cluster.stop(), 0);
  });
});

describe('tessera serve --workers 1', () => {
  it('keeps the whole address budget in its one process', async () => {
    const burst = 6;
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-cluster-one-'));
    const cluster = await startCluster({ dataDir, args: ['--workers', '1'], env: { TESSERA_RATE_LIMIT_IP: '1', TESSERA_RATE_LIMIT_IP_BURST: String(burst) } });
    try {
      const { admitted, seconds } = await admittedOf(3 * burst, () => cluster.token('127.0.0.1', 'nobody.here', 'wrong'));
      assert.ok(admitted >= burst && admitted <= burst + Math.floor(seconds), `the configured budget: ${admitted} admitted (burst ${burst}, ${seconds} s)`);
    } finally {
      assert.equal(await cluster.stop(), 0);
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('tessera serve --workers 2 --worker-distribution by-address (SQLite)', () => {
  let dataDir: string;
  let cluster: Cluster;
  let byWorker: Map<number, string[]>;
  const tokenFrom = async (address: string, clientId: string, secret: string, scope = 'sys.auth:role.admin'): Promise<string> => {
    const res = await cluster.token(address, clientId, secret, scope);
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-cluster-'));
    cluster = await startCluster({
      dataDir,
      args: ['--workers', '2', '--worker-distribution', 'by-address'],
      env: {
        TESSERA_RATE_LIMIT_IP: '1',
        TESSERA_RATE_LIMIT_IP_BURST: String(RATE_BURST),
        TESSERA_HEADERS_TIMEOUT: '2',
      },
    });
    byWorker = await addressesByWorker(cluster);
  });
  /** The first address of each worker. */
  const firsts = (): string[] => [byWorker.get(0)![0]!, byWorker.get(1)![0]!];
  after(async () => {
    cluster.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('logs where it serves with the worker count, and the bootstrap credential, once each', () => {
    const serving = cluster.lines().filter((line) => String(line['msg']).startsWith('tessera is serving'));
    assert.equal(serving.length, 1);
    assert.equal(serving[0]!['workers'], 2);
    assert.equal(serving[0]!['distribution'], 'by-address');
    assert.equal(serving[0]!['url'], cluster.url);
    assert.equal(cluster.lines().filter((line) => line['msg'] === 'bootstrap admin credential written').length, 1);
  });

  it('sends each address to one worker, and the addresses to both', async () => {
    assert.ok((byWorker.get(0)?.length ?? 0) >= 3 && (byWorker.get(1)?.length ?? 0) >= 3, JSON.stringify([...byWorker]));
    for (const [worker, addresses] of byWorker) {
      for (const address of addresses) assert.equal(await cluster.workerOf(address), worker, `${address} stays on worker ${worker}`);
    }
    for (const address of [...byWorker.get(0)!, ...byWorker.get(1)!]) {
      assert.equal((await cluster.from(address).send('/healthz')).status, 200);
      assert.equal((await cluster.from(address).send('/readyz')).status, 200);
    }
  });

  it("issues tokens on both workers, over fresh connections, that verify against either worker's JWKS", async () => {
    const { clientId, clientSecret } = cluster.admin;
    for (const address of [...byWorker.get(0)!, ...byWorker.get(1)!]) {
      const token = await tokenFrom(address, clientId, clientSecret);
      for (const verifier of [byWorker.get(0)![0]!, byWorker.get(1)![0]!]) {
        assert.equal((await cluster.verify(token, verifier)).sub, clientId);
      }
    }
  });

  it('serves the admin API on either worker: a service made through worker 0 gets a token through worker 1', async () => {
    const secret = await serviceWithRole(cluster.from(byWorker.get(0)![0]!), 'alpha.api', 'users');
    const token = await tokenFrom(byWorker.get(1)![0]!, 'alpha.api', secret, 'alpha:domain');
    const claims = await cluster.verify(token, byWorker.get(0)![0]!);
    assert.equal(claims.sub, 'alpha.api');
    assert.deepEqual(claims['scp'], ['users']);
  });

  it('keeps mutual TLS: a certificate issued through one worker authenticates through the other', async () => {
    const [zero, one] = [byWorker.get(0)![1]!, byWorker.get(1)![1]!];
    const certificate = await tesseraCertificate(cluster.from(zero), 'alpha.api');
    const res = await postForm(cluster.from(one), { grant_type: 'client_credentials', scope: 'alpha:domain' }, { client: certificate, localAddress: one });
    assert.equal(res.status, 200, res.text);
    cluster.issued.push(one);
    assert.equal(claimsOf(res).sub, 'alpha.api');
    assert.deepEqual(claimsOf(res).cnf, { 'x5t#S256': certificate.thumbprint });
  });

  it('gives an address its configured budget, not one per worker, however many connections it opens', async () => {
    // 127.0.0.1 is used by no other test here: its bucket is full (RATE_BURST), refilling at 1/s.
    const { admitted, seconds } = await admittedOf(3 * RATE_BURST, () => cluster.token('127.0.0.1', 'nobody.here', 'wrong'));
    const refilled = Math.ceil(seconds);
    console.log(`# address budget: ${admitted} of ${3 * RATE_BURST} requests admitted (burst ${RATE_BURST}, ${refilled} s of refill at 1/s)`);
    assert.ok(admitted >= RATE_BURST, `the whole burst is admitted (${admitted})`);
    assert.ok(admitted <= RATE_BURST + refilled, `at most one budget: ${admitted} admitted`);
  });

  it('still closes a connection whose request headers do not arrive within connections.headersTimeout', async () => {
    const port = Number(new URL(cluster.url).port);
    for (const address of [byWorker.get(0)![0]!, byWorker.get(1)![0]!]) {
      const started = Date.now();
      const answer = await new Promise<string>((resolve, reject) => {
        // localAddress reaches the TCP connect; Node's tls typings leave it out.
        const options = { host: '127.0.0.1', port, localAddress: address, ca: cluster.ca } as ConnectionOptions;
        const socket = connect(options, () => {
          socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
        });
        let text = '';
        socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
        setTimeout(() => socket.destroy(new Error('no timeout within 10 s')), 10_000).unref();
      });
      assert.match(answer, /^HTTP\/1\.1 408 /, `worker behind ${address}`);
      assert.ok(Date.now() - started < 6000);
    }
  });

  it('restarts a killed worker, and serves its addresses meanwhile', async () => {
    // The audit of acknowledged requests goes to the store within half a second; kill -9 after that.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const before = await cluster.workerPids();
    assert.equal(before.length, 2);
    process.kill(before[1]!, 'SIGKILL');
    while ((await cluster.workerPids()).includes(before[1]!)) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const address of [...byWorker.get(0)!, ...byWorker.get(1)!]) assert.equal((await cluster.from(address).send('/healthz')).status, 200);
    await until(async () => replaced(await cluster.workerPids(), before[1]!), 'the worker is back');
    while (
      cluster.lines().filter((line) => line['msg'] === 'worker 1 exited; restarting it' || line['msg'] === 'worker 0 exited; restarting it').length === 0
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Once the new one is ready, its addresses go back to it.
    await until(async () => new Set(await Promise.all(firsts().map((address) => cluster.workerOf(address)))).size === 2, 'both workers answer again');
    const { clientId, clientSecret } = cluster.admin;
    for (const address of [byWorker.get(0)![2]!, byWorker.get(1)![2]!]) await tokenFrom(address, clientId, clientSecret);
  });

  it('backs off when a worker keeps dying young, and logs it', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1200)); // the audit of acknowledged requests is written first
    for (let round = 0; round < 2; round += 1) {
      const pids = await cluster.workerPids();
      const young = pids.at(-1)!; // the newest worker, started less than 10 s ago
      process.kill(young, 'SIGKILL');
      await until(async () => replaced(await cluster.workerPids(), young), 'the worker is back');
    }
    const loop = cluster.lines().filter((line) => String(line['msg']).includes('keeps exiting soon after it starts'));
    assert.ok(loop.length >= 1, 'a crash loop is logged');
    assert.ok((loop.at(-1)!['restartInMs'] as number) >= 500, 'with a growing delay');
    assert.equal(loop.at(-1)!['level'], 50);
    await until(async () => new Set(await Promise.all(firsts().map((address) => cluster.workerOf(address)))).size === 2, 'both workers answer again');
  });

  it('takes concurrent token requests on both workers (their audit batches share the database)', async () => {
    const { clientId, clientSecret } = cluster.admin;
    const addresses = [...byWorker.get(0)!, ...byWorker.get(1)!];
    await Promise.all(addresses.flatMap((address) => [0, 1].map(() => tokenFrom(address, clientId, clientSecret))));
  });

  it("checkpoints the database in the primary: a change reaches the database file itself, short of the workers' own threshold", async () => {
    // What the database file alone holds (a copy without its write-ahead log) is what was checkpointed.
    const checkpointed = async (domain: string): Promise<boolean> => {
      const copy = join(dataDir, 'checkpointed-copy.db');
      await copyFile(join(dataDir, 'tessera.db'), copy);
      try {
        const db = new DatabaseSync(copy, { readOnly: true });
        try {
          return db.prepare('SELECT 1 FROM domains WHERE name = ?').get(domain) !== undefined;
        } finally {
          db.close();
        }
      } catch {
        return false;
      } finally {
        await rm(copy, { force: true });
      }
    };
    const view = cluster.from(firsts()[0]!);
    assert.equal((await view.admin$('POST', '/domains', { name: 'checkpointed' })).status, 201);
    await until(() => checkpointed('checkpointed'), 'the new domain in the database file');
  });

  it("exits 0 on SIGTERM with every acknowledged token request in the audit, from the client's own address", async () => {
    const { clientId, clientSecret } = cluster.admin;
    // Right before the signal: still in the workers' audit buffers.
    await Promise.all([byWorker.get(0)![0]!, byWorker.get(1)![0]!].map((address) => tokenFrom(address, clientId, clientSecret)));
    assert.equal(await cluster.stop(), 0);
    assert.equal(cluster.lines().filter((line) => String(line['msg']).startsWith('tessera stopped')).length, 1);
    const db = new DatabaseSync(join(dataDir, 'tessera.db'), { readOnly: true });
    try {
      const rows = db.prepare("SELECT after_json FROM audit_events WHERE type = 'token.issued'").all() as { after_json: string }[];
      const addresses = rows.map((row) => (JSON.parse(row.after_json) as { clientIp: string }).clientIp).sort();
      // Every token request answered 200 (each is audited from the client's own address).
      assert.deepEqual(addresses, [...cluster.issued].sort());
    } finally {
      db.close();
    }
  });
});

describe('tessera serve --workers 2, other settings', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("deals connections round robin behind trusted proxies (every caller then shares a proxy's address)", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-cluster-proxies-'));
    dirs.push(dataDir);
    const cluster = await startCluster({ dataDir, args: ['--workers', '2'], env: { TESSERA_TRUSTED_PROXIES: '127.0.0.0/8', TESSERA_LOG_LEVEL: 'warn' } });
    try {
      assert.equal(cluster.lines().find((line) => String(line['msg']).startsWith('tessera is serving'))?.['distribution'], 'round-robin');
      const seen = new Set<number>();
      for (let i = 0; i < 4; i += 1) seen.add(await cluster.workerOf('127.0.0.1'));
      assert.deepEqual([...seen].sort(), [0, 1]);
    } finally {
      assert.equal(await cluster.stop(), 0);
    }
  });

  it("exits 1 with the reason when worker 0 cannot start (a master key that is not the data dir's)", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-cluster-key-'));
    dirs.push(dataDir);
    const first = await startCluster({ dataDir, args: ['--workers', '2'], env: { TESSERA_LOG_LEVEL: 'warn' } });
    assert.equal(await first.stop(), 0);
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--listen', `https://127.0.0.1:${port}`, '--workers', '2'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, TESSERA_MASTER_KEY: Buffer.alloc(32, 1).toString('base64'), TESSERA_LOG_LEVEL: 'silent' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(stderr, /^error: cannot start the server: the master key differs from the one this database was created with/);
  });
});
