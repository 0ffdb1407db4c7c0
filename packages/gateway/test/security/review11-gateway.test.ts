// Review 11: the gateway's per-request shortcuts (plain paths read without decoding, Host and
// Authorization read from rawHeaders, the granted-token check keyed by the token, header
// filtering without per-request sets) attacked from outside, together with the rest of the
// gateway (routes, default deny, the three inbound credentials, identity headers, /authz, reload).
// The four holes it found are fixed; their tests say so. Every other test is an attack refused already.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call, GATEWAY, raw, spawnGateway, startWorld, type RunningGateway, type World } from './review8-world.ts';

/** What Express's `req.hostname` reads from X-Forwarded-Host (trust proxy on): the first list element, without port. */
function expressHostname(forwarded: string): string {
  let host = forwarded;
  if (host.includes(',')) host = host.slice(0, host.indexOf(',')).trimEnd();
  const offset = host.startsWith('[') ? host.indexOf(']') + 1 : 0;
  const colon = host.indexOf(':', offset);
  return colon < 0 ? host : host.slice(0, colon);
}

/** What Rails's `request.host` reads from X-Forwarded-Host: the last list element, without port. */
function railsHostname(forwarded: string): string {
  const last = forwarded.split(/,\s?/).at(-1)!;
  return last.replace(/:.*$/, '');
}

/** A JWT-shaped token (unsigned: the recorder upstream and the gateway's grant check only read it). */
function fakeToken(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'ES256', typ: 'at+jwt' })}.${part({ iss: 'fake', iat: now, exp: now + 3600, ...claims })}.c2ln`;
}

describe('review11: the gateway per-request shortcuts', () => {
  let world: World;
  let gw: RunningGateway;
  let alphaToken: string;
  let carolToken: string;
  let host: string;

  before(async () => {
    world = await startWorld();
    gw = await spawnGateway(
      world.config((c) => {
        c['authz'] = { allowFrom: ['127.0.0.1'] };
        c['stripHeaders'] = ['X-Auth-Role', 'x_remote_groups'];
        // Upstream tokens reused for 1 s at most before Tessera judges the caller again (default 10 s).
        c['tessera'] = { ...c['tessera'], identityRecheck: 1 };
        // The same upstream behind a host-specific route (writers) and the host-less one (readers).
        c['routes'].push({
          name: 'svc-internal',
          host: 'internal.example',
          pathPrefix: '/svc',
          methods: ['GET'],
          upstream: world.upstream.url,
          audience: 'orders',
          require: { scope: ['orders:role.writers'] },
        });
      }),
    );
    alphaToken = await world.token('alpha.api', 'orders:domain');
    carolToken = await world.token('carol.api', 'orders:domain');
    host = new URL(gw.url).host;
  });
  after(async () => {
    await gw?.stop();
    await world?.close();
  });

  const get = (target: string, lines: string[] = [`Host: ${host}`, `Authorization: Bearer ${alphaToken}`]): string =>
    `GET ${target} HTTP/1.1\r\n${lines.map((line) => `${line}\r\n`).join('')}Connection: close\r\n\r\n`;
  const status = async (request: string): Promise<number | undefined> => (await raw(gw, world.pki, [request], { waitMs: 5000 })).statuses[0];
  const seen = (marker: string) => world.upstream.seen.filter((s) => s.url.includes(marker));

  describe('paths (match.ts: the plain-path shortcut and the full reading)', () => {
    it('judges every spelling of the writers-only /svc/admin by the writers route, refuses ambiguous ones, and denies unrouted ones', async () => {
      // alpha.api reads orders but does not write: /svc is open to it, /svc/admin is not.
      assert.equal(await status(get('/svc/plain-ok')), 200);
      const expected: [string, number][] = [
        ['/svc/admin', 403],
        ['/svc/admin/', 403],
        ['/svc/admin?x=1', 403],
        ['/svc/%61dmin', 403],
        ['/svc/admin;x', 403],
        ['/svc;x/admin', 403],
        ['/svc/admin;/', 403],
        ['/svc/./admin', 400],
        ['/svc/x/../admin', 400],
        ['/svc/.%2e/admin', 400],
        ['/svc/%2e/admin', 400],
        ['/svc/..;/svc/admin', 400],
        ['/svc//admin', 400],
        ['//svc/admin', 400],
        ['/svc%2fadmin', 400],
        ['/svc%5cadmin', 400],
        ['/svc/%2561dmin', 400],
        ['/svc/%c0%afadmin', 400],
        ['/svc/%e0%80%aeadmin', 400],
        ['/svc/admin#x', 400],
        ['/svc/admin%00', 400],
        ['https://internal.example/svc/admin', 400],
        ['*', 400],
        ['svc/admin', 400],
        ['/SVC/admin', 404],
        ['/svcadmin', 404],
        ['/sv', 404],
      ];
      for (const [target, want] of expected) assert.equal(await status(get(target)), want, target);
      // Raw bytes no HTTP library sends: a tab, a bare CR, an overlong slash, DEL.
      for (const target of ['/svc/\tadmin', '/svc/\radmin', '/svc/\xc0\xafadmin', '/svc/\x7fadmin']) {
        const answer = await raw(gw, world.pki, [Buffer.from(get(target), 'latin1')]);
        assert.equal(answer.statuses[0], 400, JSON.stringify(target));
      }
      assert.deepEqual(
        world.upstream.seen.filter((s) => /admin/i.test(s.url)).map((s) => s.url),
        [],
        'no spelling of /svc/admin reached the upstream',
      );
    });

    it('judges /authz targets (nginx X-Original-URI and the Envoy path) with the same reading', async () => {
      const nginx = (uri: string, method = 'GET'): string =>
        get('/authz', [`Host: ${host}`, `Authorization: Bearer ${alphaToken}`, `X-Original-URI: ${uri}`, `X-Original-Method: ${method}`]);
      assert.equal(await status(nginx('/svc/ok')), 200);
      for (const uri of ['/svc/admin', '/svc/%61dmin', '/svc;x/admin', '/svc/./admin', '/svc/.%2e/admin', '//svc/admin', 'http://h/svc/admin', '*', '']) {
        assert.equal(await status(nginx(uri)), 403, `X-Original-URI ${JSON.stringify(uri)}`);
      }
      assert.equal(await status(nginx('/svc/ok', 'DELETE')), 403, 'svc-read does not allow DELETE');
      // Two X-Original-URI (a client's and the proxy's): refused, never the first one judged.
      const two = get('/authz', [
        `Host: ${host}`,
        `Authorization: Bearer ${alphaToken}`,
        'X-Original-URI: /svc/ok',
        'X-Original-URI: /svc/admin',
        'X-Original-Method: GET',
      ]);
      assert.equal(await status(two), 403);
      assert.equal(await status(get('/authz/svc/ok')), 200);
      assert.equal(await status(get('/authz/svc/admin')), 403);
      assert.equal(await status(get('/authz/svc/./admin')), 400);
      assert.equal(await status(get('/authz%2fsvc/admin')), 400);
      assert.equal(await status(get('/authzsvc/admin')), 404, 'not the endpoint, and no route');
    });

    // Found by the round-11 review and fixed: a decoded "?" or "#" stayed inside the segment it was
    // encoded in, so `/svc/admin%3F` and `/svc/admin%23` (segments `admin?`, `admin#`) missed the
    // writers-only prefix /svc/admin and passed the readers route /svc, while an upstream that
    // decodes the path once before parsing it (`decodeURIComponent(req.url).split('?')[0]`, PHP's
    // PATH_INFO...) serves /svc/admin. Now refused with 400 like `%2f`, `%5c` and `%25XX`, also
    // through /authz (match.ts, readBySegments).
    it('refuses an encoded "?" or "#" that would end the path for an upstream decoding once', async () => {
      const reachedAs: string[] = [];
      for (const target of ['/svc/admin%3F', '/svc/admin%3fdelete=1', '/svc/admin%23']) {
        const got = await status(get(target));
        if (got === 200) reachedAs.push(target);
        assert.equal(got, 400, target);
        const naive = new URL(decodeURIComponent(target), 'http://upstream').pathname;
        assert.equal(naive, '/svc/admin', 'what a decode-first upstream serves');
      }
      const viaAuthz = await status(
        get('/authz', [`Host: ${host}`, `Authorization: Bearer ${alphaToken}`, 'X-Original-URI: /svc/admin%3F', 'X-Original-Method: GET']),
      );
      assert.deepEqual(reachedAs, [], `alpha.api (no writers role) reached the upstream with ${reachedAs.join(', ')} under route svc-read`);
      assert.notEqual(viaAuthz, 200, '/authz allowed /svc/admin%3F for alpha.api');
    });
  });

  describe('Host and Authorization (raw-headers.ts)', () => {
    it('refuses duplicates in any case, reads Host case-, port- and trailing-dot-insensitively, and Authorization strictly', async () => {
      const auth = `Authorization: Bearer ${alphaToken}`;
      // Host spelled as the host route expects: the writers route judges it (alpha.api: 403).
      for (const h of ['internal.example', 'INTERNAL.example', 'internal.example.', 'internal.example:443', 'Internal.Example.:8443', 'internal.example:']) {
        assert.equal(await status(get('/svc/host-route', [`Host: ${h}`, auth])), 403, `Host: ${h}`);
      }
      assert.equal(await status(get('/svc/host-route', [`Host: ${host}`, `host: internal.example`, auth])), 400, 'two Host, different case');
      assert.equal(await status(get('/svc/host-route', [`HOST: internal.example`, `Host: ${host}`, auth])), 400);
      assert.equal(await status(get('/svc/host-route', [auth])), 400, 'HTTP/1.1 without Host');
      // Absolute-form target naming one host, Host naming another: refused, neither is judged.
      assert.equal(await status(get('http://internal.example/svc/x', [`Host: ${host}`, auth])), 400);
      assert.equal(await status(get('http://localhost/svc/x', [`Host: internal.example`, auth])), 400);
      // Two Authorization in different cases (a valid one and a forged one): refused.
      assert.equal(await status(get('/svc/two-auth', [`Host: ${host}`, auth, 'authorization: Bearer forged'])), 400);
      assert.equal(await status(get('/svc/two-auth', [`Host: ${host}`, `authorization: ApiKey ${world.apiKey}`, `AUTHORIZATION: Bearer ${carolToken}`])), 400);
      // Folded, empty, schemeless, doubled-space and tab-separated values.
      assert.equal(await status(get('/svc/fold', [`Host: ${host}`, 'Authorization: Bearer', ` ${alphaToken}`])), 400);
      assert.equal(await status(get('/svc/empty', [`Host: ${host}`, 'Authorization:'])), 401);
      assert.equal(await status(get('/svc/empty', [`Host: ${host}`, 'Authorization: Bearer'])), 400);
      assert.equal(await status(get('/svc/empty', [`Host: ${host}`, 'Authorization: Bearer    '])), 400);
      assert.equal(await status(get('/svc/empty', [`Host: ${host}`, `Authorization: Bearer ${alphaToken} ${carolToken}`])), 400);
      assert.equal(await status(get('/svc/empty', [`Host: ${host}`, `Authorization: ${alphaToken}`])), 401);
      assert.equal(await status(get('/svc/spaces', [`Host: ${host}`, `Authorization:   Bearer   ${alphaToken}  `])), 200);
      assert.equal(await status(get('/svc/spaces', [`Host: ${host}`, `Authorization:\tbearer\t${alphaToken}`])), 200);
      // A forged X-Forwarded-Host never replaces the gateway's (the caller's Host).
      assert.equal(await status(get('/svc/xfh-forged', [`Host: ${host}`, auth, 'X-Forwarded-Host: internal.example'])), 200);
      assert.deepEqual(
        seen('/svc/xfh-forged').map((s) => s.headers['x-forwarded-host']),
        [host],
      );
      assert.deepEqual(seen('/svc/host-route'), []);
      assert.deepEqual(seen('/svc/two-auth'), []);
    });

    // Found by the round-11 review and fixed: the Host value was never checked to be a host name
    // (and port). A Host the route table could not read as `internal.example` (`internal.example:evil`,
    // `internal.example, x`, `x, internal.example`) missed the host route (writers), fell to the
    // host-less /svc route (readers), and went on as X-Forwarded-Host, which Express (first list
    // element, cut at ":") and Rails (last element) read as internal.example. Such a Host is now
    // refused with 400, and X-Forwarded-Host carries only the Host the gateway routed on
    // (match.ts readHost, gateway.ts).
    it('refuses a Host that is not a host name and port, or forwards only the name it judged', async () => {
      const auth = `Authorization: Bearer ${alphaToken}`;
      const passed: string[] = [];
      const cases: [string, (xfh: string) => string][] = [
        ['internal.example:evil', expressHostname],
        ['internal.example, elsewhere', expressHostname],
        ['internal.example,', expressHostname],
        ['elsewhere, internal.example', railsHostname],
      ];
      for (const [value, upstreamReads] of cases) {
        const marker = `/svc/host-${passed.length}-${value.length}`;
        const got = await status(get(marker, [`Host: ${value}`, auth]));
        assert.equal(got, 400, `Host: ${value}`);
        for (const s of seen(marker)) {
          const xfh = String(s.headers['x-forwarded-host']);
          if (upstreamReads(xfh) === 'internal.example') passed.push(`Host: ${value} → ${got}, upstream read internal.example from X-Forwarded-Host "${xfh}"`);
        }
      }
      assert.deepEqual(passed, [], 'alpha.api (no writers role) reached internal.example through the readers route');
    });
  });

  describe('identity headers (headers.ts)', () => {
    it('strips inbound identity headers in every case and spelling, also when Connection names them or they repeat', async () => {
      const lines = [
        `Host: ${host}`,
        `Authorization: Bearer ${alphaToken}`,
        'X-TESSERA-PRINCIPAL: carol.api',
        'X_Tessera_Principal: carol.api',
        'x_tessera_token: forged',
        'X-Tessera-Route: svc-admin',
        'x-tessera-principal: carol.api',
        'X_Forwarded_User: carol.api',
        'X-Remote_User: carol.api',
        'X-Auth-Request-User: carol.api',
        'X_SSL_Client_Cert: forged',
        'X-Envoy_Original_Path: /svc/admin',
        'X-Auth-Role: admin',
        'x_auth_role: admin',
        'X_AUTH_ROLE: admin',
        'X-Kept: yes',
        'Connection: X-Tessera-Principal, x_auth_role, keep-alive, X-Kept-Too',
        'X-Kept-Too: dropped because Connection names it',
      ];
      const request = `GET /svc/identity HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
      assert.equal((await raw(gw, world.pki, [request], { waitMs: 1500 })).statuses[0], 200);
      const [record] = seen('/svc/identity');
      assert.ok(record);
      const names = Object.keys(record.headers);
      const leaked = names.filter((n) => /tessera|forwarded.user|remote.user|auth.request|ssl.client|envoy|auth.role|kept.too/i.test(n));
      assert.deepEqual(leaked, []);
      assert.equal(record.headers['x-kept'], 'yes');
      assert.equal(record.claims?.['sub'], 'alpha.api');
      // Connection naming Authorization or Host does not remove the gateway's own.
      const own = `GET /svc/own HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${alphaToken}\r\nConnection: authorization, host, x-forwarded-for\r\n\r\n`;
      assert.equal((await raw(gw, world.pki, [own], { waitMs: 1500 })).statuses[0], 200);
      const [ownRecord] = seen('/svc/own');
      assert.equal(ownRecord?.claims?.['sub'], 'alpha.api');
      assert.equal(ownRecord?.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(ownRecord?.headers.host, new URL(world.upstream.url).host);
    });

    // Found by the round-11 review and fixed: stripHeaders entries were compared as written (lower
    // case), not with underscores read as dashes: a configured `x_remote_groups` (how a PHP/CGI
    // upstream names HTTP_X_REMOTE_GROUPS) stripped `X_Remote_Groups` but let `X-Remote-Groups`
    // through. The configured names are now read as the built-in list is (config.ts, headers.ts).
    it('strips a configured header written with underscores in its dash spelling too', async () => {
      const request = get('/svc/strip-underscore', [`Host: ${host}`, `Authorization: Bearer ${alphaToken}`, 'X-Remote-Groups: orders-admins']);
      assert.equal(await status(request), 200);
      const [record] = seen('/svc/strip-underscore');
      assert.equal(record?.headers['x-remote-groups'], undefined, 'X-Remote-Groups reached the upstream although stripHeaders lists x_remote_groups');
    });
  });

  describe('upstream tokens (tokens.ts)', () => {
    // Found by the round-11 review and fixed: a certificate caller's roles were checked only when
    // Tessera granted the upstream token (proxy_for_principal), and that token was reused while a
    // quarter of its life remained: once removed from the role, the caller kept being forwarded for
    // up to half the token's lifetime. A cached upstream token is now reused for at most
    // tessera.identityRecheck seconds (1 s here) before Tessera is asked again (southbound/tokens.ts,
    // the SDK exchange client's maxReuseMs).
    it('stops forwarding a certificate caller within tessera.identityRecheck after it leaves the role', async () => {
      const partner = world.certificate(world.partner.ca, '/CN=billing', 'extendedKeyUsage=clientAuth\n');
      const asPartner = { cert: partner.cert, key: partner.key };
      assert.equal((await call(gw, world.pki, '/svc/revoke-before', asPartner)).status, 200);
      const role = await world.admin('GET', '/domains/orders/roles/readers');
      const members = (role.members as { principal: string }[]).map((m) => ({ principal: m.principal }));
      await world.admin('PUT', '/domains/orders/roles/readers', { members: members.filter((m) => m.principal !== 'partner.billing'), actors: [GATEWAY] });
      try {
        // Longer than tessera.identityRecheck (1 s here): the next request needs a fresh token.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        // Tessera itself no longer grants it: asked afresh, it refuses.
        const fresh = await world.tessera.token(GATEWAY, world.secrets[GATEWAY]!, {
          grant_type: 'client_credentials',
          scope: 'orders:role.readers',
          proxy_for_principal: 'partner.billing',
        });
        assert.ok(fresh.status >= 400, `Tessera granted partner.billing afresh: ${fresh.status} ${fresh.text}`);
        const afterRemoval = await call(gw, world.pki, '/svc/revoke-after', asPartner);
        assert.equal(afterRemoval.status, 403, `partner.billing left orders:readers 1.5 s ago and still got ${afterRemoval.status}`);
      } finally {
        await world.admin('PUT', '/domains/orders/roles/readers', { members, actors: [GATEWAY] });
      }
    });
  });

  describe('reload (stripHeaders and routes)', () => {
    it('applies a reloaded stripHeaders list and route table to the next request', async () => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON document under test
      const reload = async (edit: (c: Record<string, any>) => void): Promise<void> => {
        const count = gw.logs.filter((e) => e['msg'] === 'config reloaded').length;
        world.config((c) => {
          c['authz'] = { allowFrom: ['127.0.0.1'] };
          edit(c);
        });
        gw.process.kill('SIGHUP');
        await gw.waitForLog((e) => e['msg'] === 'config reloaded' && gw.logs.filter((x) => x['msg'] === 'config reloaded').length > count);
      };
      const lines = [`Host: ${host}`, `Authorization: Bearer ${alphaToken}`, 'X-Auth-Role: admin', 'X_New_Secret: s', 'X-New-Secret: s'];
      await reload((c) => {
        c['stripHeaders'] = ['x-new-secret'];
        c['routes'] = c['routes'].filter((r: { name: string }) => r.name !== 'svc-read');
        c['routes'].push({
          name: 'svc-narrow',
          pathPrefix: '/svc/open',
          methods: ['GET'],
          upstream: world.upstream.url,
          audience: 'orders',
          require: { scope: ['orders:role.readers'] },
        });
      });
      assert.equal(await status(get('/svc/reloaded-denied', lines)), 404, 'the removed route is gone');
      assert.equal(await status(get('/svc/open/reloaded', lines)), 200);
      const [record] = seen('/svc/open/reloaded');
      assert.equal(record?.headers['x-new-secret'], undefined);
      assert.equal(record?.headers['x_new_secret'], undefined);
      assert.equal(record?.headers['x-auth-role'], 'admin', 'the old list no longer applies');
      await reload((c) => {
        c['stripHeaders'] = ['X-Auth-Role'];
      });
      assert.equal(await status(get('/svc/reloaded-back', lines)), 200);
      const [back] = seen('/svc/reloaded-back');
      assert.equal(back?.headers['x-auth-role'], undefined);
      assert.equal(back?.headers['x-new-secret'], 's');
    });
  });
});

describe('review11: the granted-token check against a token endpoint that hands out the wrong token', () => {
  let world: World;
  let gw: RunningGateway;
  let fake: Server;
  let answer = '';
  let asked = 0;

  before(async () => {
    world = await startWorld();
    fake = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        asked++;
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(
          JSON.stringify({ access_token: answer, token_type: 'Bearer', expires_in: 3600, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' }),
        );
      });
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    const tokenEndpoint = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/oauth2/token`;
    gw = await spawnGateway(
      world.config((c) => {
        c['tessera'] = { ...c['tessera'], tokenEndpoint };
      }, 'fake-tokens.json'),
    );
  });
  after(async () => {
    await gw?.stop();
    fake?.closeAllConnections();
    await new Promise<void>((resolve) => (fake ? fake.close(() => resolve()) : resolve()));
    await world?.close();
  });

  it("never hands one caller a token checked for another, nor a token checked for another route's scope", async () => {
    const alpha = await world.token('alpha.api', 'orders:domain');
    const carol = await world.token('carol.api', 'orders:domain');
    const forAlpha = fakeToken({ sub: 'alpha.api', act: { sub: GATEWAY }, aud: 'orders', scope: 'orders:role.readers' });
    answer = forAlpha;
    const first = await call(gw, world.pki, '/svc/t-alpha', { headers: { authorization: `Bearer ${alpha}` } });
    assert.equal(first.status, 200, first.text);
    // The same string again, now for carol.api: the check remembered for alpha.api must not pass it.
    const second = await call(gw, world.pki, '/svc/t-carol', { headers: { authorization: `Bearer ${carol}` } });
    assert.equal(second.status, 502, second.text);
    assert.deepEqual(
      world.upstream.seen.filter((s) => s.url === '/svc/t-carol'),
      [],
    );
    // A certificate caller (its roles are checked by the grant alone): a readers token, checked for
    // the readers route, handed back for the writers route /svc/admin.
    const partner = world.certificate(world.partner.ca, '/CN=billing', 'extendedKeyUsage=clientAuth\n');
    answer = fakeToken({ sub: 'partner.billing', act: { sub: GATEWAY }, aud: 'orders', scope: 'orders:role.readers' });
    assert.equal((await call(gw, world.pki, '/svc/t-partner', { cert: partner.cert, key: partner.key })).status, 200);
    const admin = await call(gw, world.pki, '/svc/admin/t-partner', { cert: partner.cert, key: partner.key });
    assert.equal(admin.status, 403, admin.text);
    // Another audience (billing), same principal and scope text shape: refused too.
    answer = fakeToken({ sub: 'alpha.api', act: { sub: GATEWAY }, aud: 'orders', scope: 'billing:role.readers orders:role.readers' });
    const alphaBilling = await world.token('alpha.api', 'billing:domain');
    const billing = await call(gw, world.pki, '/billing/t', { headers: { authorization: `Bearer ${alphaBilling}` } });
    assert.equal(billing.status, 502, billing.text);
    // A token whose actor is not the gateway, or with no actor at all.
    answer = fakeToken({ sub: 'alpha.api', aud: 'orders', scope: 'orders:role.readers' });
    const alphaAgain = await world.token('alpha.api', 'orders:domain');
    assert.equal((await call(gw, world.pki, '/svc/t-noact', { headers: { authorization: `Bearer ${alphaAgain}` } })).status, 502);
    assert.ok(asked >= 4);
    assert.deepEqual(
      world.upstream.seen.filter((s) => s.url.startsWith('/svc/admin') || s.url.startsWith('/billing')).map((s) => s.url),
      [],
    );
  });
});
