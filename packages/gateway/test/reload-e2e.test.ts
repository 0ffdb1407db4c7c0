// Policy reload of a running `tessera gateway`: a changed file (watched) and SIGHUP apply new
// routes while requests keep flowing, losing none; a file that does not pass the checks is
// refused with a log line and the running routes kept.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { send } from '@tessera/testkit/https';
import { spawnGateway, startWorld, type RunningGateway, type World } from './helpers/world.ts';

describe('gateway reload', () => {
  let world: World;
  let gw: RunningGateway;
  let file: string;
  let bearer: string;

  before(async () => {
    world = await startWorld();
    file = world.config();
    gw = await spawnGateway(file);
    bearer = await world.token('carol', 'orders:domain');
  });
  after(async () => {
    await gw?.stop();
    await world?.close();
  });

  const get = (path: string, agent: Agent | false = false) =>
    send(`${gw.url}${path}`, { ca: world.pki.ca.cert, agent, headers: { authorization: `Bearer ${bearer}` } });
  const reloads = (msg: string): number => gw.logs.filter((entry) => entry['msg'] === msg).length;

  it('applies new routes from a changed file and on SIGHUP under load, losing no request; refuses a bad file and keeps the old routes', async () => {
    assert.equal((await get('/v2/orders')).status, 404);
    const agent = new Agent({ keepAlive: true, maxSockets: 4, ca: world.pki.ca.cert });
    const statuses: number[] = [];
    let running = true;
    const loops = Array.from({ length: 4 }, async (_, n) => {
      for (let i = 0; running; i++) {
        const res = await get(`/orders/${n}-${i}`, agent).catch((error: Error) => ({ status: -1, text: error.message }));
        statuses.push(res.status);
      }
    });

    // 1. The file changes: the watcher reloads it.
    world.config((c) =>
      c.routes.push({
        name: 'v2',
        pathPrefix: '/v2',
        methods: ['GET'],
        upstream: world.upstream.url,
        audience: 'orders',
        require: { scope: ['orders:role.readers'] },
      }),
    );
    await gw.waitForLog((e) => e['msg'] === 'config reloaded');
    assert.equal((await get('/v2/orders')).status, 200);

    // 2. A file that does not pass the checks: refused, logged, the running routes kept.
    writeFileSync(file, '{ "routes": [ oops');
    await gw.waitForLog((e) => e['msg'] === 'config reload refused; the running configuration is kept');
    gw.process.kill('SIGHUP');
    await waitUntil(() => reloads('config reload refused; the running configuration is kept') >= 2);
    assert.equal((await get('/v2/orders')).status, 200);
    const refusal = gw.logs.find((e) => e['msg'] === 'config reload refused; the running configuration is kept')!;
    assert.match(String(refusal['error']), /not JSON/);

    // 3. SIGHUP after a good change: the v2 route goes away again (default deny).
    const applied = reloads('config reloaded');
    world.config();
    gw.process.kill('SIGHUP');
    await waitUntil(() => reloads('config reloaded') > applied);
    await waitUntil(async () => (await get('/v2/orders')).status === 404);

    running = false;
    await Promise.all(loops);
    agent.destroy();
    assert.ok(statuses.length > 20, `only ${statuses.length} requests ran during the reloads`);
    assert.deepEqual([...new Set(statuses)], [200], 'every request during the reloads was answered 200');
    const metrics = await send(gw.metricsUrl!);
    assert.match(metrics.text, /tessera_gateway_config_reloads_total\{result="refused"\} [1-9]/);
  });

  it('serves a renewed server certificate to new connections once its files change, without a restart', async () => {
    const renewed = world.certificate(world.pki.ca, '127.0.0.1', undefined, 'server');
    const applied = reloads('config reloaded');
    // As `tessera cert` writes them: new files renamed over the old ones.
    writeFileSync(join(world.dir, 'gw.pem.new'), renewed.cert);
    writeFileSync(join(world.dir, 'gw.key.new'), renewed.key, { mode: 0o600 });
    renameSync(join(world.dir, 'gw.key.new'), join(world.dir, 'gw.key'));
    renameSync(join(world.dir, 'gw.pem.new'), join(world.dir, 'gw.pem'));
    await waitUntil(() => reloads('config reloaded') > applied);
    const expected = new X509Certificate(renewed.cert).fingerprint256;
    await waitUntil(async () => (await peerFingerprint(gw.url, world.pki.ca.cert)) === expected);
    assert.equal((await get('/orders/after-renewal')).status, 200);
  });
});

function peerFingerprint(url: string, ca: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      socket.destroy();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
