// Review finding on `tessera serve --workers 2`: the auth-failure alert counts failures per claimed
// client id, and each worker counts only the failures of the addresses it serves. Failures against
// one client id spread over addresses that land on different workers must still reach the
// configured threshold once, as they do on a single process.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addressesByWorker, serviceWithRole, startCluster, type Cluster } from './serve-cluster-support.ts';

const THRESHOLD = 6;

describe('tessera serve --workers 2: auth-failure alerts', () => {
  let dataDir: string;
  let cluster: Cluster;
  let byWorker: Map<number, string[]>;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-cluster-review-'));
    cluster = await startCluster({
      dataDir,
      args: ['--workers', '2'],
      env: { TESSERA_ALERT_FAILURE_THRESHOLD: String(THRESHOLD), TESSERA_ALERT_FAILURE_WINDOW: '300' },
    });
    byWorker = await addressesByWorker(cluster);
  });
  after(async () => {
    cluster.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('alerts on a client id whose failures come through both workers', async () => {
    await serviceWithRole(cluster.from(byWorker.get(0)![0]!), 'alpha.api', 'users');
    // THRESHOLD - 1 failures through each worker: 2 * (THRESHOLD - 1) in all, each address under its own threshold.
    for (const worker of [0, 1]) {
      for (let i = 0; i < THRESHOLD - 1; i += 1) {
        const address = byWorker.get(worker)![i % byWorker.get(worker)!.length]!;
        const res = await cluster.token(address, 'alpha.api', `wrong-${worker}-${i}`, 'alpha:domain');
        assert.equal(res.status, 401, res.text);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const view = cluster.from(byWorker.get(0)![0]!);
    const res = await view.admin$('GET', '/audit?type=alert.auth-failures&limit=50');
    assert.equal(res.status, 200, res.text);
    const targets = (res.json.events as { target: string }[]).map((event) => event.target);
    assert.ok(targets.includes('alpha.api'), `an alert for alpha.api after ${2 * (THRESHOLD - 1)} failures (threshold ${THRESHOLD}); alerts: ${JSON.stringify(targets)}`);
  });
});
