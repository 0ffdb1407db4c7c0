// `Expect: 100-continue` is answered only after the caller is identified and authorized, and an
// upstream's redirect naming its own (internal) origin reaches the caller rewritten to the
// gateway's origin, as nginx's `proxy_redirect default` does.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { downstreamHeaders, type ForwardedFrom } from '../../src/proxy/headers.ts';
import { call, raw, spawnGateway, startWorld, type RunningGateway, type World } from './review8-world.ts';

describe('Expect: 100-continue and upstream redirects', () => {
  let world: World;
  let gw: RunningGateway;
  let token: string;
  let host: string;

  before(async () => {
    world = await startWorld();
    gw = await spawnGateway(world.config());
    token = await world.token('alpha.api', 'orders:domain');
    host = new URL(gw.url).host;
  });
  after(async () => {
    await gw?.stop();
    await world?.close();
  });

  it("invites an authorized caller's body (100 Continue) and passes it on", async () => {
    const head = `POST /svc/expect-ok HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`;
    const answer = await raw(gw, world.pki, [head, 'hello'], { gapMs: 300, waitMs: 1500 });
    assert.deepEqual(answer.statuses, [100, 200], answer.text);
    assert.equal(world.upstream.seen.findLast((s) => s.url === '/svc/expect-ok')?.body, 'hello');
  });

  it('refuses without inviting the body and closes the connection: no credential (401), a role missing (403), no route (404)', async () => {
    const cases: [string, string, number][] = [
      ['/svc/expect-none', '', 401],
      ['/svc/admin/expect', `Authorization: Bearer ${token}\r\n`, 403],
      ['/nowhere', `Authorization: Bearer ${token}\r\n`, 404],
    ];
    for (const [path, credential, status] of cases) {
      const request = `POST ${path} HTTP/1.1\r\nHost: ${host}\r\n${credential}Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n`;
      const answer = await raw(gw, world.pki, [request], { waitMs: 3000 });
      assert.deepEqual(answer.statuses, [status], `${path}: ${answer.text}`);
      assert.match(answer.text, /\r\nconnection: close\r\n/i, path);
      assert.ok(answer.closed, `${path}: the connection was left open`);
    }
    assert.ok(!world.upstream.seen.some((s) => s.url.includes('expect-none') || s.url === '/svc/admin/expect'));
  });

  it("rewrites a redirect to the upstream's own origin to the caller-facing one, and passes Set-Cookie unchanged", async () => {
    const res = await call(gw, world.pki, '/svc/redirect', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 302, res.text);
    assert.equal(res.headers['location'], `https://${host}/internal/secret`);
    assert.deepEqual(res.headers['set-cookie'], ['session=upstream-chosen; Path=/; HttpOnly']);
  });

  it("rewrites only Locations of the upstream's origin, removing its base path; others pass as sent", () => {
    const upstream = new URL('http://10.0.0.7:7001/app');
    const from: ForwardedFrom = { remoteAddress: '192.0.2.1', proto: 'https', host: 'gw.example:9443' };
    const location = (value: string, via: ForwardedFrom = from): unknown => downstreamHeaders({ location: value }, upstream, via)['location'];
    assert.equal(location('http://10.0.0.7:7001/app/orders/7?x=1#f'), 'https://gw.example:9443/orders/7?x=1#f');
    assert.equal(location('http://10.0.0.7:7001/app'), 'https://gw.example:9443/');
    assert.equal(location('http://10.0.0.7:7001/other'), 'https://gw.example:9443/other');
    assert.equal(location('http://10.0.0.7:7002/app/x'), 'http://10.0.0.7:7002/app/x');
    assert.equal(location('https://elsewhere.example/x'), 'https://elsewhere.example/x');
    assert.equal(location('/relative/x'), '/relative/x');
    // Without a usable Host from the caller: a relative Location, never the internal origin.
    assert.equal(location('http://10.0.0.7:7001/app/x', { ...from, host: undefined }), '/x');
    assert.equal(location('http://10.0.0.7:7001/app/x', { ...from, host: 'evil.example/@x' }), '/x');
  });
});
