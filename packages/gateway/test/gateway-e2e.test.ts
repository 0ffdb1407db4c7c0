// End to end through `tessera gateway`: callers with a client certificate (curl), a Bearer token
// and an API key reach an upstream that verifies the gateway's token itself and sees the caller
// as `sub` and the gateway as `act`; every refusal in between, with its status, challenge and
// body; and nothing the caller claims about itself reaches the upstream.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { send, type TestRequest, type TestResponse } from '@tessera/testkit/https';
import { GATEWAY, spawnGateway, startWorld, type RunningGateway, type World } from './helpers/world.ts';

const run = promisify(execFile);

describe('tessera gateway, end to end', () => {
  let world: World;
  let gw: RunningGateway;
  const call = (path: string, options: TestRequest = {}): Promise<TestResponse> =>
    send(`${gw.url}${path}`, { ca: world.pki.ca.cert, agent: false, ...options });

  before(async () => {
    world = await startWorld();
    gw = await spawnGateway(world.config());
  });
  after(async () => {
    await gw?.stop();
    await world?.close();
  });

  describe('callers by client certificate', () => {
    it('curl with a Tessera (SPIFFE) certificate reaches the upstream as itself, through the gateway', async () => {
      const pem = world.certificate(world.pki.ca, 'whatever', 'spiffe://tessera.local/alpha/api');
      writeFileSync(join(world.dir, 'alpha.pem'), pem.cert);
      writeFileSync(join(world.dir, 'alpha.key'), pem.key, { mode: 0o600 });
      writeFileSync(join(world.dir, 'gw-ca.pem'), world.pki.ca.cert);
      const { stdout } = await run('curl', [
        '-sS',
        '--cacert',
        join(world.dir, 'gw-ca.pem'),
        '--cert',
        join(world.dir, 'alpha.pem'),
        '--key',
        join(world.dir, 'alpha.key'),
        '-w',
        '\n%{http_code}',
        `${gw.url}/orders/7`,
      ]);
      const [body, status] = stdout.split('\n');
      assert.equal(status, '200', body);
      const seen = JSON.parse(body!) as { principal: string; actors: string[]; url: string; scope: string[] };
      assert.equal(seen.principal, 'alpha.api');
      assert.deepEqual(seen.actors, [GATEWAY]);
      assert.deepEqual(seen.scope, ['orders:role.readers']);
      assert.equal(seen.url, '/orders/7');
      // Tessera issued it as proxy_for_principal: for alpha.api, the gateway the one actor, the route's scope.
      const last = (await world.tokenRequests()).at(-1)!;
      assert.deepEqual(
        { type: last.type, acting: last.acting, subject: last.subject, actors: last.actors, scope: last.scope },
        { type: 'token.issued', acting: 'proxy', subject: 'alpha.api', actors: [GATEWAY], scope: 'orders:role.readers' },
      );
    });

    it('maps a partner certificate by its subject or SAN, and only a certificate of that partner CA', async () => {
      const billing = world.certificate(world.partner.ca, 'billing');
      const res = await call('/orders/1', billing);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.principal, 'partner.billing');
      const ci = await call('/orders/1', world.certificate(world.partner.ca, 'runner-7', 'https://ci.partner.example/runner'));
      assert.equal(ci.status, 200, ci.text);
      assert.equal(ci.json.principal, 'partner.ci');
      assert.equal((await call('/orders/1', world.certificate(world.partner.ca, 'runner-7', 'https://ci.partner.example/other'))).status, 401);
      // The same subject from Tessera's CA names no one: no SPIFFE SAN, and mappings are the partner CA's.
      const impostor = await call('/orders/1', world.certificate(world.pki.ca, 'billing'));
      assert.equal(impostor.status, 401);
      assert.equal(impostor.json.error, 'invalid_token');
      assert.match(impostor.json.error_description, /names no principal/);
      // A partner cannot mint a SPIFFE name.
      const spiffe = await call('/orders/1', world.certificate(world.partner.ca, 'x', 'spiffe://tessera.local/alpha/api'));
      assert.equal(spiffe.status, 401);
      assert.match(spiffe.json.error_description, /no certificateMappings rule/);
    });

    it('refuses a certificate from a CA nobody trusts, a SPIFFE name of another trust domain, and a missing role', async () => {
      const stranger = await call('/orders/1', world.certificate(world.untrusted.ca, 'x', 'spiffe://tessera.local/alpha/api'));
      assert.equal(stranger.status, 401);
      assert.match(String(stranger.headers['www-authenticate']), /^Bearer realm="tessera-gateway", error="invalid_token"/);
      assert.match(stranger.json.error_description, /not trusted/);
      const foreign = await call('/orders/1', world.certificate(world.pki.ca, 'x', 'spiffe://evil.example/alpha/api'));
      assert.equal(foreign.status, 401);
      const alpha = world.certificate(world.pki.ca, 'x', 'spiffe://tessera.local/alpha/api');
      const write = await call('/orders/1', { ...alpha, method: 'POST', body: '{}' });
      assert.equal(write.status, 403);
      assert.equal(write.json.error, 'insufficient_scope');
      assert.equal(write.json.scope, 'orders:role.writers');
      assert.match(String(write.headers['www-authenticate']), /error="insufficient_scope".*scope="orders:role.writers"/);
      // alpha.api holds auditors, but the role does not list the gateway among its actors.
      const audit = await call('/orders/audit', alpha);
      assert.equal(audit.status, 403);
      assert.match(audit.json.error_description, /actors/);
    });
  });

  describe('callers by Bearer token', () => {
    it("exchanges the caller's token: the upstream sees the caller as sub and the gateway as act", async () => {
      const token = await world.token('carol', 'orders:domain');
      const before = (await world.tokenRequests()).length;
      const res = await call('/orders/9', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{"n":1}' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.principal, 'carol.api');
      assert.deepEqual(res.json.actors, [GATEWAY]);
      assert.notEqual(res.json.headers.authorization, `Bearer ${token}`, "never the caller's own token");
      // One token exchange (a delegation, not impersonation) of the caller's own token, for the route's scope.
      const requests = await world.tokenRequests();
      assert.equal(requests.length, before + 1);
      const exchange = requests[before]!;
      assert.deepEqual(
        { type: exchange.type, acting: exchange.acting, subject: exchange.subject, actors: exchange.actors, scope: exchange.scope },
        { type: 'token.issued', acting: 'delegation', subject: 'carol.api', actors: [GATEWAY], scope: 'orders:role.writers' },
      );
      const sent = claimsOf(String(res.json.headers.authorization).slice('Bearer '.length));
      assert.equal(sent['jti'], exchange.jti, 'the upstream got the token Tessera issued');
      assert.deepEqual(sent['exchanged_from'], [claimsOf(token)['jti']], "exchanged from the caller's token (subject_token)");
      // A steady stream costs no further round trip.
      for (let i = 0; i < 5; i++) {
        assert.equal((await call('/orders/9', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{}' })).status, 200);
      }
      assert.equal((await world.tokenRequests()).length, before + 1);
    });

    it('refuses without a round trip: no credential, a bad token, a token for another audience, a missing role', async () => {
      const before = (await world.tokenRequests()).length;
      const none = await call('/orders/1');
      assert.equal(none.status, 401);
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="tessera-gateway"');
      assert.equal(none.json.error, 'unauthorized');
      const bad = await call('/orders/1', { headers: { authorization: 'Bearer not.a.jwt' } });
      assert.equal(bad.status, 401);
      assert.equal(bad.json.error, 'invalid_token');
      const alphaOrders = await world.token('alpha', 'orders:domain');
      const tampered = await call('/orders/1', { headers: { authorization: `Bearer ${alphaOrders.slice(0, -4)}AAAA` } });
      assert.equal(tampered.status, 401);
      assert.equal(tampered.json.error, 'invalid_token');
      const write = await call('/orders/1', { method: 'PUT', headers: { authorization: `Bearer ${alphaOrders}` }, body: '{}' });
      assert.equal(write.status, 403);
      assert.equal(write.json.error, 'insufficient_scope');
      assert.match(write.json.error_description, /orders:role.writers/);
      assert.equal((await world.tokenRequests()).length, before, 'refused before any request to Tessera');
    });

    it('refuses a token for another audience with invalid_token', async () => {
      const admin = await world.tessera.adminToken();
      const res = await call('/orders/1', { headers: { authorization: `Bearer ${admin}` } });
      assert.equal(res.status, 401);
      assert.equal(res.json.error, 'invalid_token');
      assert.match(res.json.error_description, /audience/);
    });

    it('answers 403 when Tessera will not let the gateway act for the role', async () => {
      const token = await world.token('alpha', 'orders:domain');
      const res = await call('/orders/audit', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 403);
      assert.equal(res.json.error, 'insufficient_scope');
      // Tessera's own reason, and the gateway's advice after it (only Tessera's part is ever clipped).
      assert.match(res.json.error_description, /listing edge\.gw in its actors/);
      assert.match(res.json.error_description, /; the caller must hold the role, and the role must list edge\.gw among its actors$/);
    });

    it('refuses two Authorization headers and an unknown scheme', async () => {
      const token = await world.token('alpha', 'orders:domain');
      const raw = await rawRequest(
        gw.url,
        world.pki.ca.cert,
        `GET /orders/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nAuthorization: Bearer junk\r\nConnection: close\r\n\r\n`,
      );
      assert.match(raw, /^HTTP\/1.1 400/);
      const basic = await call('/orders/1', { headers: { authorization: 'Basic YTpi' } });
      assert.equal(basic.status, 401);
      assert.equal(basic.headers['www-authenticate'], 'Bearer realm="tessera-gateway"');
    });
  });

  describe('what is refused before any credential is read', () => {
    it('a path outside every route is 404; a path the upstream could read differently is 400', async () => {
      const token = await world.token('carol', 'orders:domain');
      const auth = { headers: { authorization: `Bearer ${token}` } };
      const unrouted = await call('/ordersX', auth);
      assert.equal(unrouted.status, 404);
      assert.equal(unrouted.json.error, 'not_found');
      // Written by hand: an HTTP client resolves dot segments (even encoded ones) before sending.
      for (const path of ['/orders/%2e%2e/admin', '/orders/../admin', '/orders//audit', '/orders%2faudit', '/orders/..;/admin', '/orders/.%2E/admin']) {
        const raw = await rawRequest(
          gw.url,
          world.pki.ca.cert,
          `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
        );
        assert.match(raw, /^HTTP\/1.1 400 /, path);
        assert.match(raw, /"error":"invalid_request"/, path);
      }
      // An absolute-form target would let the caller name a host beside the Host header.
      const absolute = await rawRequest(
        gw.url,
        world.pki.ca.cert,
        `GET http://internal.example/orders/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
      );
      assert.match(absolute, /^HTTP\/1.1 400 /);
      // A route bound to a host: by the Host header alone (any case, port or trailing dot), never X-Forwarded-Host.
      const viaHost = async (host: string, extra = ''): Promise<string> =>
        rawRequest(
          gw.url,
          world.pki.ca.cert,
          `GET /internal/x HTTP/1.1\r\nHost: ${host}\r\n${extra}Authorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
        );
      for (const host of ['internal.example', 'INTERNAL.example:9443', 'internal.example.']) assert.match(await viaHost(host), /^HTTP\/1.1 200 /, host);
      assert.match(await viaHost('public.example'), /^HTTP\/1.1 404 /);
      assert.match(await viaHost('public.example', 'X-Forwarded-Host: internal.example\r\n'), /^HTTP\/1.1 404 /);
      assert.match(await viaHost('internal.example\r\nHost: public.example'), /^HTTP\/1.1 400 /, 'two Host headers');
      // An encoded path is judged decoded: /orders/%61udit is the auditors' route, which carol cannot use.
      assert.equal((await call('/orders/%61udit', auth)).status, 403);
      assert.ok(!world.upstream.seen.some((s) => /admin|%61udit|ordersX/.test(s.url)), 'none of them reached the upstream');
    });
  });

  describe('what Tessera answers is checked before use', () => {
    // The real Tessera never answers so: a gateway of its own asks Tessera through a stub that rewrites the claims of what Tessera issued.
    it('a token for someone else is never sent on (502); one granting less than the route needs is 403', async () => {
      const misbehaving = await startTamperingIssuer(world.tessera);
      const tampered = await spawnGateway(world.config((c) => (c.tessera.tokenEndpoint = misbehaving.tokenEndpoint), 'tampering.json'));
      try {
        const pem = world.certificate(world.pki.ca, 'x', 'spiffe://tessera.local/carol/api');
        const via = (path: string, options: TestRequest = {}): Promise<TestResponse> =>
          send(`${tampered.url}${path}`, { ca: world.pki.ca.cert, agent: false, ...pem, ...options });
        misbehaving.tamper = (claims) => (claims['sub'] = 'sys.auth.admin');
        const res = await via('/orders/t1');
        assert.equal(res.status, 502);
        assert.equal(res.json.error, 'bad_gateway');
        misbehaving.tamper = (claims) => (claims['scope'] = 'orders:role.readers');
        const write = await via('/orders/t2', { method: 'POST', body: '{}' });
        assert.equal(write.status, 403);
        assert.equal(write.json.error, 'insufficient_scope');
        assert.equal(misbehaving.answered, 2, 'both tokens came from Tessera through the stub');
      } finally {
        await tampered.stop();
        await misbehaving.close();
      }
      assert.ok(!world.upstream.seen.some((s) => s.url.startsWith('/orders/t')));
    });
  });

  describe('callers by API key', () => {
    it("checks the key through introspection and gets a token on the caller's behalf", async () => {
      const res = await call('/orders/3', { headers: { authorization: `ApiKey ${world.apiKeys.alpha}` } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.principal, 'alpha.api');
      assert.deepEqual(res.json.actors, [GATEWAY]);
      const write = await call('/orders/3', { method: 'POST', headers: { authorization: `ApiKey ${world.apiKeys.alpha}` }, body: '{}' });
      assert.equal(write.status, 403);
      assert.equal(write.json.error, 'insufficient_scope');
      const malformed = await call('/orders/3', { headers: { authorization: 'ApiKey tsk_nope' } });
      assert.equal(malformed.status, 401);
      assert.equal(malformed.json.error, 'invalid_token');
    });
  });

  describe('what the upstream hears', () => {
    it("never the caller's Authorization, certificate headers or identity headers; X-Forwarded-* set by the gateway", async () => {
      const token = await world.token('alpha', 'orders:domain');
      const res = await call('/orders/h', {
        headers: {
          authorization: `Bearer ${token}`,
          'x-tessera-principal': 'sys.auth.admin',
          'x-tessera-token': 'forged',
          'x-ssl-client-cert': 'forged',
          'x-forwarded-client-cert': 'By=x',
          'x-forwarded-for': '10.9.9.9',
          'x-forwarded-host': 'evil.example',
          forwarded: 'for=10.9.9.9',
          'x-original-url': '/admin',
          'x-remote-user': 'root',
          connection: 'x-drop-me',
          'x-drop-me': 'hop',
          'x-app': 'kept',
          x_tessera_principal: 'sys.auth.admin',
          x_forwarded_for: '10.1.1.1',
        },
      });
      assert.equal(res.status, 200, res.text);
      const headers = res.json.headers as Record<string, string>;
      for (const name of [
        'x-tessera-principal',
        'x-tessera-token',
        'x-ssl-client-cert',
        'x-forwarded-client-cert',
        'forwarded',
        'x-original-url',
        'x-remote-user',
        'x-drop-me',
        'x_tessera_principal',
        'x_forwarded_for',
      ]) {
        assert.equal(headers[name], undefined, name);
      }
      assert.notEqual(headers['authorization'], `Bearer ${token}`);
      assert.equal(headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(headers['x-forwarded-proto'], 'https');
      assert.equal(headers['x-forwarded-host'], new URL(gw.url).host);
      assert.equal(headers['x-app'], 'kept');
      assert.equal(headers['host'], new URL(world.upstream.url).host);
      // Hop-by-hop headers of the upstream's answer stop at the gateway too.
      assert.equal(res.headers['x-upstream-secret'], undefined);
    });
  });

  describe('access log and metrics', () => {
    it('logs one JSON line per request with the caller, the route, the status and the duration, and counts per route', async () => {
      const token = await world.token('alpha', 'orders:domain');
      await call('/orders/logged?secret=1', { headers: { authorization: `Bearer ${token}` } });
      const entry = await gw.waitForLog((e) => e['msg'] === 'access' && e['path'] === '/orders/logged');
      assert.equal(entry['principal'], 'alpha.api');
      assert.equal(entry['via'], 'bearer');
      assert.equal(entry['route'], 'orders-read');
      assert.equal(entry['status'], 200);
      assert.equal(typeof entry['durationMs'], 'number');
      assert.ok(!JSON.stringify(gw.logs).includes(token), 'tokens never logged');
      await call('/orders/refused-for-log', { method: 'POST', body: '{}', headers: { authorization: `Bearer ${token}` } });
      const refused = await gw.waitForLog((e) => e['msg'] === 'access' && e['path'] === '/orders/refused-for-log');
      assert.equal(refused['status'], 403);
      assert.equal(refused['route'], 'orders-write');
      assert.equal(refused['principal'], 'alpha.api', 'the log says who was refused');
      assert.equal(refused['error'], 'insufficient_scope');
      const metrics = await send(gw.metricsUrl!);
      assert.match(metrics.text, /tessera_gateway_requests_total\{route="orders-read",status="200"\} \d+/);
      assert.match(metrics.text, /tessera_gateway_request_duration_seconds_count\{route="orders-read"\} \d+/);
    });
  });
});

/**
 * A token endpoint that misbehaves on purpose: it passes each request to the real Tessera and hands back
 * Tessera's answer with the access token's claims changed by `tamper` (the signature no longer matches).
 */
async function startTamperingIssuer(tessera: World['tessera']): Promise<{
  tokenEndpoint: string;
  answered: number;
  tamper: (claims: Record<string, unknown>) => void;
  close(): Promise<void>;
}> {
  const state = { tokenEndpoint: '', answered: 0, tamper: (_claims: Record<string, unknown>): void => {}, close: async () => {} };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void tessera
        .send('/oauth2/token', {
          method: 'POST',
          body: Buffer.concat(chunks).toString('utf8'),
          headers: {
            'content-type': String(req.headers['content-type']),
            authorization: String(req.headers.authorization),
          },
        })
        .then((answer) => {
          const body = answer.json as Record<string, unknown>;
          if (answer.status === 200) {
            const [header, payload, signature] = String(body['access_token']).split('.');
            const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
            state.tamper(claims);
            body['access_token'] = [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
            state.answered++;
          }
          res.writeHead(answer.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
          res.end(JSON.stringify(body));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.tokenEndpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`;
  state.close = () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve())));
  return state;
}

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** A request written by hand, for what an HTTP client would not send. */
export async function rawRequest(url: string, ca: string, text: string): Promise<string> {
  const { connect } = await import('node:tls');
  const { connect: plain } = await import('node:net');
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket =
      target.protocol === 'https:'
        ? connect({ host: target.hostname, port: Number(target.port), ca, servername: undefined })
        : plain({ host: target.hostname, port: Number(target.port) });
    const chunks: Buffer[] = [];
    socket.on(target.protocol === 'https:' ? 'secureConnect' : 'connect', () => socket.write(text));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
    setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    }, 5000).unref();
  });
}
