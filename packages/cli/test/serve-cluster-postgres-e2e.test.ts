// `tessera serve --workers 2 --worker-distribution by-address` on PostgreSQL (by address, so
// that a test can reach a chosen worker from a chosen loopback address), as its own process,
// with signing keys rotating every few seconds: tokens from either worker verify against
// either's JWKS through the rotations, worker 0 alone takes the rotation steps (one new key per
// step), killing it brings it back as the owner, and Ctrl-C exits 0 with every acknowledged
// token request in the audit.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../server/test/storage/postgres-database.ts';
import { addressesByWorker, serviceWithRole, startCluster, type Cluster } from './serve-cluster-support.ts';

const ROTATION_S = 4;
const CHECK_S = 1;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('tessera serve --workers 2 (PostgreSQL)', () => {
  let dataDir: string;
  let database: TestDatabase;
  let cluster: Cluster;
  let byWorker: Map<number, string[]>;
  const query = async <T extends pg.QueryResultRow>(sql: string): Promise<T[]> => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  const adminToken = async (address: string): Promise<string> => {
    const res = await cluster.token(address, cluster.admin.clientId, cluster.admin.clientSecret, 'sys.auth:role.admin');
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };

  before(async () => {
    database = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-cluster-pg-'));
    cluster = await startCluster({
      dataDir,
      args: ['--workers', '2', '--worker-distribution', 'by-address', '--database', database.url],
      env: {
        TESSERA_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'),
        TESSERA_SIGNING_ROTATION_INTERVAL: String(ROTATION_S),
        TESSERA_SIGNING_PRE_PUBLICATION: '2',
        TESSERA_JWKS_MAX_AGE: '0',
        TESSERA_SIGNING_CHECK_INTERVAL: String(CHECK_S),
        // 2 connections for each worker's pool.
        TESSERA_DATABASE_POOL_SIZE: '4',
      },
    });
    byWorker = await addressesByWorker(cluster);
  });
  after(async () => {
    cluster.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    await database.drop();
  });

  it('starts both workers with the bootstrap credential written once', () => {
    const serving = cluster.lines().find((line) => String(line['msg']).startsWith('tessera is serving'));
    assert.equal(serving?.['storage'], 'postgres');
    assert.equal(serving?.['workers'], 2);
    assert.equal(cluster.lines().filter((line) => line['msg'] === 'bootstrap admin credential written').length, 1);
    assert.ok((byWorker.get(0)?.length ?? 0) >= 1 && (byWorker.get(1)?.length ?? 0) >= 1);
  });

  it("holds at most its databasePoolSize in the workers' pools, and says how many connections it holds in all", async () => {
    const serving = cluster.lines().find((line) => String(line['msg']).startsWith('tessera is serving'));
    assert.equal(serving?.['databaseConnections'], 6, '2 workers, each a pool of 2 and its LISTEN connection');
    const tokens = await Promise.all([byWorker.get(0)![0]!, byWorker.get(1)![0]!].map((address) => adminToken(address)));
    // Many admin reads at once on both workers: each pool grows to its bound (idle connections stay 10 s).
    const reads = [0, 1].flatMap((worker) =>
      Array.from({ length: 60 }, (_, i) => cluster.from(byWorker.get(worker)![0]!).admin$('GET', `/domains?limit=${1 + (i % 5)}`, undefined, tokens[worker])),
    );
    for (const res of await Promise.all(reads)) assert.equal(res.status, 200, res.text);
    const [afterwards] = await query<{ pool: string; listen: string }>(
      `SELECT count(*) FILTER (WHERE application_name <> 'tessera-change-listener') AS pool,
              count(*) FILTER (WHERE application_name = 'tessera-change-listener') AS listen
       FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    assert.equal(Number(afterwards!.listen), 2);
    assert.ok(Number(afterwards!.pool) <= 4, `${afterwards!.pool} pool connections`);
  });

  it('serves the admin API on either worker: a service made through worker 1 gets a token through worker 0', async () => {
    const secret = await serviceWithRole(cluster.from(byWorker.get(1)![0]!), 'beta.batch', 'jobs');
    const res = await cluster.token(byWorker.get(0)![0]!, 'beta.batch', secret, 'beta:domain');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual((await cluster.verify(res.json.access_token as string, byWorker.get(1)![0]!))['scp'], ['jobs']);
  });

  it('rotates once per step, on worker 0, and both workers sign with each new key and publish it', async () => {
    const [zero, one] = [byWorker.get(0)![0]!, byWorker.get(1)![0]!];
    const kids = new Set<string>();
    const started = Date.now();
    while (Date.now() - started < 3 * ROTATION_S * 1000) {
      for (const address of [zero, one]) {
        const token = await adminToken(address);
        kids.add(String(decodeProtectedHeader(token).kid));
        for (const verifier of [zero, one]) await cluster.verify(token, verifier);
      }
      await sleep(500);
    }
    assert.ok(kids.size >= 3, `tokens were signed by ${kids.size} keys in ${3 * ROTATION_S} s`);
    const keys = await query<{ kid: string; created_at: string }>('SELECT kid, created_at FROM signing_keys ORDER BY created_at');
    const created = keys.map((key) => Number(key.created_at));
    for (let i = 1; i < created.length; i += 1) {
      // Each step made one key: successors come a rotation interval apart, give or take a check.
      assert.ok(created[i]! - created[i - 1]! >= (ROTATION_S - 2 * CHECK_S) * 1000, `keys created ${created.join(', ')}`);
    }
    for (const kid of kids) assert.ok(keys.some((key) => key.kid === kid));
  });

  it('restarts worker 0 when it dies; it owns the rotation again', async () => {
    await sleep(1200); // the audit of acknowledged requests is written within half a second
    const ownerPid = cluster.lines().find((line) => line['msg'] === 'bootstrap admin credential written')?.['pid'] as number;
    assert.ok((await cluster.workerPids()).includes(ownerPid));
    process.kill(ownerPid, 'SIGKILL');
    while (!cluster.lines().some((line) => line['msg'] === 'worker 0 is back and owns key and CA rotation again')) await sleep(50);
    assert.ok(!(await cluster.workerPids()).includes(ownerPid));
    const before = await query<{ n: string }>('SELECT count(*) AS n FROM signing_keys');
    await sleep((ROTATION_S + 2 * CHECK_S) * 1000);
    const afterwards = await query<{ n: string }>('SELECT count(*) AS n FROM signing_keys');
    assert.ok(Number(afterwards[0]!.n) > Number(before[0]!.n), 'keys keep rotating');
    for (const address of [byWorker.get(0)![0]!, byWorker.get(1)![0]!]) await cluster.verify(await adminToken(address), address);
  });

  it('exits 0 on Ctrl-C (SIGINT to every process) with every acknowledged token request in the audit', async () => {
    await Promise.all([byWorker.get(0)![0]!, byWorker.get(1)![0]!].map((address) => adminToken(address)));
    assert.equal(await cluster.stop('group SIGINT'), 0);
    assert.equal(cluster.lines().filter((line) => String(line['msg']).startsWith('tessera stopped')).length, 1);
    const rows = await query<{ after_json: string }>("SELECT after_json FROM audit_events WHERE type = 'token.issued'");
    const addresses = rows.map((row) => (JSON.parse(row.after_json) as { clientIp: string }).clientIp).sort();
    assert.deepEqual(addresses, [...cluster.issued].sort());
  });
});
