// Review 8: config reloads as an attacker sees them. A kept-alive connection opened under the old
// configuration must be judged by the new one on its next request: a partner whose CA or mapping
// was removed, or a route that now needs more, gets no more than a new connection would.
// Every test here is an attack the gateway refuses today.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { raw, spawnGateway, startWorld, type RunningGateway, type World } from './review8-world.ts';

describe('review8: reloads', () => {
  let world: World;
  let gw: RunningGateway;
  let file: string;

  before(async () => {
    world = await startWorld();
    file = world.config();
    gw = await spawnGateway(file);
  });
  after(async () => {
    await gw?.stop();
    await world?.close();
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const reload = async (edit: (config: Record<string, any>) => void): Promise<void> => {
    const before = gw.logs.filter((entry) => entry['msg'] === 'config reloaded').length;
    world.config(edit);
    gw.process.kill('SIGHUP');
    await gw.waitForLog((entry) => entry['msg'] === 'config reloaded' && gw.logs.filter((e) => e['msg'] === 'config reloaded').length > before);
  };

  it('judges the next request of a kept-alive partner connection by the reloaded mappings (removed: 401)', async () => {
    const partner = world.certificate(world.partner.ca, '/CN=billing', 'extendedKeyUsage=clientAuth\n');
    const url = new URL(gw.url);
    const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`;
    // One connection: a request, a reload dropping the partner's mapping, the same connection again.
    const socket = connect({ host: url.hostname, port: Number(url.port), ca: world.pki.ca.cert, cert: partner.cert, key: partner.key });
    await once(socket, 'secureConnect');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const answers = async (count: number): Promise<number[]> => {
      for (let i = 0; i < 50 && (received.match(/HTTP\/1\.1 \d{3}/g) ?? []).length < count; i++) await new Promise((r) => setTimeout(r, 100));
      return [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    };
    socket.write(request('/svc/keepalive-before'));
    assert.deepEqual(await answers(1), [200], received);
    await reload((c) => {
      c['certificateMappings'] = [{ cas: ['partner-ca.pem'], subject: 'CN=someone-else', principal: 'partner.billing' }];
    });
    socket.write(request('/svc/keepalive-after'));
    const statuses = await answers(2);
    socket.destroy();
    assert.deepEqual(statuses, [200, 401], received);
    assert.ok(!world.upstream.seen.some((s) => s.url === '/svc/keepalive-after'));
    await reload(() => {});
  });

  it("applies a route's new, stricter requirement to the next request at once (403)", async () => {
    const token = await world.token('alpha.api', 'orders:domain');
    const host = new URL(gw.url).host;
    const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\n\r\n`;
    const first = await raw(gw, world.pki, [request('/svc/one')], { waitMs: 1000 });
    assert.equal(first.statuses[0], 200, first.text);
    await reload((c) => {
      c['routes'][0]['require'] = { scope: ['orders:role.writers'] };
    });
    const second = await raw(gw, world.pki, [request('/svc/two')], { waitMs: 1000 });
    assert.equal(second.statuses[0], 403, second.text);
    assert.ok(!world.upstream.seen.some((s) => s.url === '/svc/two'));
    await reload(() => {});
  });

  it('keeps the running configuration when a half-written file is reloaded (no route opens)', async () => {
    const token = await world.token('alpha.api', 'orders:domain');
    const host = new URL(gw.url).host;
    writeFileSync(file, '{"listen": "https://127.0.0.1:0", "routes": [');
    gw.process.kill('SIGHUP');
    await gw.waitForLog((entry) => entry['msg'] === 'config reload refused; the running configuration is kept');
    const admin = await raw(gw, world.pki, [`GET /svc/admin/x HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\n\r\n`], { waitMs: 1000 });
    assert.equal(admin.statuses[0], 403, admin.text);
    await reload(() => {});
  });
});
