// The shipped nginx setup (deploy/nginx/gateway-auth-request.conf, only its addresses and TLS
// replaced) with a real nginx in front of the upstream, asking the gateway's /authz: an allowed
// caller reaches the upstream with the gateway's token (caller as sub, gateway as act) and never
// its own credentials or forged identity headers; refusals come back as 401 (with the challenge)
// and 403. Without nginx the test is skipped, unless TESSERA_REQUIRE_NGINX=1.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { send } from '@tessera/testkit/https';
import { freePort } from '@tessera/testkit/port';
import { findNginx, nginxConf, nginxDir, startNginx, substituteOnce, type RunningNginx } from '@tessera/testkit/nginx';
import { GATEWAY, ROOT, spawnGateway, startWorld, type RunningGateway, type World } from './helpers/world.ts';

const found = await findNginx();
const skip = 'skip' in found ? found.skip : false;

describe('nginx auth_request in front of an upstream (deploy/nginx/gateway-auth-request.conf)', { skip }, () => {
  let world: World;
  let gw: RunningGateway;
  let nginx: RunningNginx;
  let url: string;

  before(async () => {
    world = await startWorld();
    const gwPort = await freePort();
    gw = await spawnGateway(
      world.config((c) => {
        c.listen = `http://127.0.0.1:${gwPort}`;
        delete c.tls;
        c.certificateMappings = [];
        c.authz = { allowFrom: ['127.0.0.1'] };
      }),
    );
    const port = await freePort();
    const dir = await nginxDir();
    let server = readFileSync(join(ROOT, 'deploy', 'nginx', 'gateway-auth-request.conf'), 'utf8');
    server = substituteOnce(server, 'listen 443 ssl;', `listen 127.0.0.1:${port};`);
    server = substituteOnce(server, /\s*ssl_certificate .*;/, '');
    server = substituteOnce(server, /\s*ssl_certificate_key .*;/, '');
    server = substituteOnce(server, 'http://127.0.0.1:7001', world.upstream.url);
    server = substituteOnce(server, 'http://127.0.0.1:9443/authz', `http://127.0.0.1:${gwPort}/authz`);
    nginx = await startNginx((found as { nginx: Parameters<typeof startNginx>[0] }).nginx, dir, nginxConf(dir, { http: server }), [port]);
    url = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await nginx?.stop();
    await gw?.stop();
    await world?.close();
  });

  it("lets an allowed caller through with the gateway's token in place of its own credentials", async () => {
    const token = await world.token('carol', 'orders:domain');
    const res = await send(`${url}/orders/42?q=1`, {
      method: 'POST',
      body: '{}',
      headers: { authorization: `Bearer ${token}`, 'x-tessera-principal': 'sys.auth.admin', 'x-tessera-token': 'forged' },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.principal, 'carol.api');
    assert.deepEqual(res.json.actors, [GATEWAY]);
    assert.equal(res.json.url, '/orders/42?q=1');
    assert.equal(res.json.headers['x-tessera-principal'], 'carol.api', 'nginx sets the principal the gateway vouched for');
    assert.equal(res.json.headers['x-tessera-token'], undefined);
    assert.notEqual(res.json.headers.authorization, `Bearer ${token}`);
  });

  it('refuses with 401 and the challenge, and 403 for a missing role or an unrouted path', async () => {
    const none = await send(`${url}/orders/1`);
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="tessera-gateway"');
    const alpha = await world.token('alpha', 'orders:domain');
    assert.equal((await send(`${url}/orders/1`, { method: 'PUT', body: '{}', headers: { authorization: `Bearer ${alpha}` } })).status, 403);
    assert.equal((await send(`${url}/admin`, { headers: { authorization: `Bearer ${alpha}` } })).status, 403);
    assert.ok(!world.upstream.seen.some((s) => s.url === '/admin' || s.method === 'PUT'), 'no refused request reached the upstream');
  });
});
