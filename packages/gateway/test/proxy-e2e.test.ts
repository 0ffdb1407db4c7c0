// The proxying itself, end to end through `tessera gateway`: bodies of 20 MB streamed both ways
// (and seen flowing before they end), WebSocket upgrades, 502 and 504, Tessera unreachable (503),
// an API key refused soon after it is revoked, and the authorization endpoint for nginx and Envoy.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createVerifier } from '@tessera/sdk';
import { send, type TestRequest, type TestResponse } from '@tessera/testkit/https';
import { GATEWAY, spawnGateway, startWorld, type RunningGateway, type World } from './helpers/world.ts';

const MB = 1024 * 1024;

/** An upstream that answers the first request of each connection and closes it at the second, without an answer. */
async function startFlakyUpstream(): Promise<{ url: string; connections: number; close(): Promise<void> }> {
  const state = { url: '', connections: 0, close: async () => {} };
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    let seen = '';
    let served = 0;
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      while (seen.includes('\r\n\r\n')) {
        const head = seen.slice(0, seen.indexOf('\r\n\r\n'));
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        seen = seen.slice(head.length + 4 + length);
        if (served++ === 0) socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
        else socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

/** An upstream that starts a chunked answer and closes its connection before the answer's end. */
async function startCuttingUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((socket) => {
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n');
      setTimeout(() => socket.destroy(), 50);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('gateway proxying, end to end', () => {
  let world: World;
  let gw: RunningGateway;
  let bearer: string;
  const call = (path: string, options: TestRequest = {}): Promise<TestResponse> =>
    send(`${gw.url}${path}`, { ca: world.pki.ca.cert, agent: false, ...options, headers: { authorization: `Bearer ${bearer}`, ...options.headers } });

  let flaky: { url: string; connections: number; close(): Promise<void> };
  let cutting: { url: string; close(): Promise<void> };

  before(async () => {
    world = await startWorld();
    flaky = await startFlakyUpstream();
    cutting = await startCuttingUpstream();
    gw = await spawnGateway(
      world.config((c) => {
        c.routes.push({
          name: 'cut',
          pathPrefix: '/cut',
          methods: ['GET'],
          upstream: cutting.url,
          audience: 'orders',
          require: { scope: ['orders:role.readers'] },
        });
        c.routes.push({
          name: 'flaky',
          pathPrefix: '/flaky',
          methods: ['GET', 'POST'],
          upstream: flaky.url,
          audience: 'orders',
          require: { scope: ['orders:role.readers'] },
        });
      }),
    );
    bearer = await world.token('carol', 'orders:domain');
  });
  after(async () => {
    await gw?.stop();
    await flaky?.close();
    await cutting?.close();
    await world?.close();
  });

  describe('streaming', () => {
    it('passes 20 MB down from the upstream, intact', async () => {
      const res = await call(`/orders/download?bytes=${20 * MB}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 20 * MB);
      assert.ok(res.body.every((byte) => byte === 7));
    });

    it('passes 20 MB up to the upstream, intact, with its hash', async () => {
      const body = randomBytes(20 * MB);
      const res = await call('/orders/upload', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.bytes, 20 * MB);
      assert.equal(res.json.sha256, createHash('sha256').update(body).digest('hex'));
    });

    it('hands on the first bytes of an answer before the upstream has finished it', async () => {
      const started = performance.now();
      const firstChunkAt = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest(`${gw.url}/orders/drip`, { ca: world.pki.ca.cert, agent: false, headers: { authorization: `Bearer ${bearer}` } }, (res) => {
          res.once('data', () => resolve(performance.now() - started));
          res.resume();
        });
        req.on('error', reject);
        req.end();
      });
      assert.ok(firstChunkAt < 1200, `the first chunk came after ${Math.round(firstChunkAt)} ms; the upstream waits 1500 ms before the rest`);
    });

    it('hands on a request body while the caller is still sending it', async () => {
      const req = httpsRequest(`${gw.url}/orders/upload?streaming`, {
        method: 'PUT',
        ca: world.pki.ca.cert,
        agent: false,
        headers: { authorization: `Bearer ${bearer}` },
      });
      const answer = new Promise<string>((resolve, reject) => {
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        });
        req.on('error', reject);
      });
      req.write(Buffer.alloc(MB, 1));
      const deadline = Date.now() + 5000;
      while (!world.upstream.seen.some((s) => s.url === '/orders/upload?streaming')) {
        assert.ok(Date.now() < deadline, 'the upstream never saw the request while its body was still being sent');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      req.end(Buffer.alloc(MB, 2));
      assert.equal(JSON.parse(await answer).bytes, 2 * MB);
    });
  });

  describe('WebSocket', () => {
    const upgrade = (headers: Record<string, string>): Promise<{ status: number; socket?: Socket; headers: Record<string, unknown> }> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(`${gw.url}/orders/live`, {
          ca: world.pki.ca.cert,
          agent: false,
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': randomBytes(16).toString('base64'),
            ...headers,
          },
        });
        req.on('upgrade', (res, socket) => resolve({ status: res.statusCode!, socket: socket as Socket, headers: res.headers }));
        req.on('response', (res) => {
          res.resume();
          resolve({ status: res.statusCode!, headers: res.headers });
        });
        req.on('error', reject);
        req.end();
      });

    it('upgrades an authenticated caller and joins the sockets both ways', async () => {
      const { status, socket, headers } = await upgrade({ authorization: `Bearer ${bearer}` });
      assert.equal(status, 101);
      assert.equal(headers['x-upstream-principal'], 'carol.api');
      socket!.write('hello through the gateway');
      const [echo] = (await new Promise<Buffer[]>((resolve) => socket!.once('data', (data: Buffer) => resolve([data])))) as [Buffer];
      assert.equal(echo.toString(), 'hello through the gateway');
      socket!.destroy();
    });

    it('refuses any upgrade but WebSocket: an h2c tunnel would carry requests no route checks', async () => {
      const { status } = await upgrade({ authorization: `Bearer ${bearer}`, upgrade: 'h2c', 'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA' });
      assert.equal(status, 400);
      assert.ok(!world.upstream.seen.some((s) => s.headers.upgrade === 'h2c'));
    });

    it('refuses an upgrade without credentials, as any request', async () => {
      const { status, headers } = await upgrade({});
      assert.equal(status, 401);
      assert.equal(headers['www-authenticate'], 'Bearer realm="tessera-gateway"');
    });
  });

  describe('upstream failures', () => {
    it('answers 502 with a JSON body when the upstream cannot be reached', async () => {
      const res = await call('/dead/x');
      assert.equal(res.status, 502);
      assert.equal(res.json.error, 'bad_gateway');
      assert.match(res.json.error_description, /route 'dead' could not be reached \(ECONNREFUSED\)/);
      // The upstream's address is for the log only.
      assert.doesNotMatch(res.text, /127\.0\.0\.1|:\d{2,5}\b/);
      const logged = await gw.waitForLog((entry) => entry['msg'] === 'access' && entry['path'] === '/dead/x');
      assert.match(String(logged['detail']), /ECONNREFUSED 127\.0\.0\.1:\d+/);
    });

    it('answers 502 to a request with a body, too', async () => {
      const res = await call('/dead/upload', { method: 'GET', body: Buffer.alloc(256 * 1024, 3), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(res.status, 502, res.text);
      assert.equal(res.json.error, 'bad_gateway');
    });

    it('sends a bodiless GET once more when the upstream closed the kept-alive connection it reused; never a POST', async () => {
      assert.equal((await call('/flaky/1')).status, 200);
      const again = await call('/flaky/2');
      assert.equal(again.status, 200, again.text);
      assert.equal(flaky.connections, 2, 'the second GET was sent again on a new connection');
      const post = await call('/flaky/3', { method: 'POST', body: 'x' });
      assert.equal(post.status, 502, 'a POST is not sent twice');
      assert.equal(post.json.error, 'bad_gateway');
    });

    it('cuts the answer off for the caller too when the upstream closes before its end: never ended as if whole', async () => {
      const seen = await new Promise<{ body: string; complete: boolean }>((resolve, reject) => {
        const req = httpsRequest(`${gw.url}/cut/it`, { ca: world.pki.ca.cert, agent: false, headers: { authorization: `Bearer ${bearer}` } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('error', () => {});
          res.on('close', () => resolve({ body, complete: res.complete }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(seen.body, 'first');
      assert.equal(seen.complete, false, 'the caller received a complete answer although the upstream never finished it');
      const logged = await gw.waitForLog((entry) => entry['msg'] === 'access' && entry['path'] === '/cut/it');
      assert.equal(logged['status'], 200);
    });

    it('answers 504 when the upstream is slower than the route allows', async () => {
      const started = performance.now();
      const res = await call('/orders/slow?ms=3000');
      assert.equal(res.status, 504);
      assert.equal(res.json.error, 'gateway_timeout');
      assert.match(res.json.error_description, /within 500 ms/);
      assert.ok(performance.now() - started < 2500);
    });

    it('answers 503 with Retry-After when Tessera cannot be reached for a token', async () => {
      // A gateway of its own whose token endpoint is a port nothing listens on any more (a Tessera
      // stopped); its callers' tokens are still checked against the running Tessera's keys.
      const stopped = createServer();
      await new Promise<void>((resolve) => stopped.listen(0, '127.0.0.1', resolve));
      const port = (stopped.address() as AddressInfo).port;
      await new Promise<void>((resolve) => stopped.close(() => resolve()));
      const cut = await spawnGateway(world.config((c) => (c.tessera.tokenEndpoint = `https://127.0.0.1:${port}/oauth2/token`), 'tessera-down.json'));
      try {
        const fresh = await world.token('alpha', 'orders:domain');
        const res = await send(`${cut.url}/orders/1`, { ca: world.pki.ca.cert, agent: false, headers: { authorization: `Bearer ${fresh}` } });
        assert.equal(res.status, 503);
        assert.equal(res.json.error, 'temporarily_unavailable');
        assert.equal(res.headers['retry-after'], '5');
        assert.match(res.json.error_description, /^Tessera could not be reached for the upstream's token; try again later$/);
        const logged = await cut.waitForLog((entry) => entry['msg'] === 'access' && entry['status'] === 503);
        assert.match(String(logged['detail']), new RegExp(`ECONNREFUSED.*127\\.0\\.0\\.1:${port}`));
      } finally {
        await cut.stop();
      }
    });
  });

  describe('metrics of failures', () => {
    it('counts unreachable and slow upstreams per route', async () => {
      const metrics = await send(gw.metricsUrl!);
      assert.match(metrics.text, /tessera_gateway_upstream_failures_total\{route="dead",kind="connect"\} [1-9]/);
      assert.match(metrics.text, /tessera_gateway_upstream_failures_total\{route="orders-slow",kind="timeout"\} [1-9]/);
      assert.match(metrics.text, /tessera_gateway_requests_total\{route="dead",status="502"\} [1-9]/);
      assert.equal((await send(gw.metricsUrl!.replace('/metrics', '/elsewhere'))).status, 404);
      assert.equal((await call('/metrics')).status, 404, "never on the proxy's listener");
    });
  });

  describe('API keys after revocation', () => {
    it('refuses a revoked key once its cached introspection answer (apiKeyCacheTtl) has run out', async () => {
      const created = await world.tessera.admin$('POST', '/domains/alpha/services/api/api-keys', { audience: 'orders' });
      assert.equal(created.status, 201, created.text);
      const key = created.json.apiKey as string;
      const withKey = { headers: { authorization: `ApiKey ${key}` } };
      assert.equal((await call('/orders/k', withKey)).status, 200);
      const revoked = await world.tessera.admin$('DELETE', `/domains/alpha/services/api/api-keys/${created.json.id as string}`);
      assert.equal(revoked.status, 204);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const res = await call('/orders/k', withKey);
      assert.equal(res.status, 401);
      assert.equal(res.json.error, 'invalid_token');
      assert.match(res.json.error_description, /not active/);
    });
  });

  describe('the authorization endpoint', () => {
    const upstreamVerifier = () =>
      createVerifier({ issuer: world.tessera.url, jwksUri: `${world.tessera.url}/oauth2/keys`, audience: 'orders', ca: world.tessera.ca });

    it('nginx auth_request: judges X-Original-Method and X-Original-URI, and answers the principal and the upstream token', async () => {
      const res = await call('/authz', { headers: { 'x-original-method': 'POST', 'x-original-uri': '/orders/5?x=1' } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-tessera-principal'], 'carol.api');
      const token = res.headers['x-tessera-token'] as string;
      assert.equal(res.headers['authorization'], `Bearer ${token}`);
      const context = await upstreamVerifier().verify(token, { scope: ['orders:role.writers'], delegation: { required: true, allowedActors: [GATEWAY] } });
      assert.equal(context.principal, 'carol.api');
      assert.deepEqual(context.actors, [GATEWAY]);
    });

    it('Envoy ext_authz: the original path after /authz, the method of the request itself', async () => {
      const res = await call('/authz/orders/5', { method: 'PUT' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-tessera-principal'], 'carol.api');
    });

    it('refuses as the proxy would: missing role, no credential, no route, a confusing path', async () => {
      const alpha = await world.token('alpha', 'orders:domain');
      const write = await call('/authz', { headers: { authorization: `Bearer ${alpha}`, 'x-original-method': 'POST', 'x-original-uri': '/orders/5' } });
      assert.equal(write.status, 403);
      assert.equal(write.json.error, 'insufficient_scope');
      assert.equal(write.headers['x-tessera-token'], undefined);
      const none = await send(`${gw.url}/authz`, { ca: world.pki.ca.cert, headers: { 'x-original-method': 'GET', 'x-original-uri': '/orders/5' } });
      assert.equal(none.status, 401);
      // For nginx (X-Original-URI), which turns any status but 401 and 403 into a 500: 403.
      const unrouted = await call('/authz', { headers: { 'x-original-method': 'GET', 'x-original-uri': '/admin' } });
      assert.equal(unrouted.status, 403);
      assert.match(unrouted.json.error_description, /no route for GET \/admin/);
      const dots = await call('/authz', { headers: { 'x-original-method': 'GET', 'x-original-uri': '/orders/../admin' } });
      assert.equal(dots.status, 403);
      assert.match(dots.json.error_description, /"\." or "\.\." segment|'\.' or '\.\.' segment/);
      // For Envoy, the gateway's own status.
      assert.equal((await call('/authz/admin')).status, 404);
    });

    it('refuses (403, never judged as GET) an nginx request without exactly one X-Original-Method, saying what the proxy must send', async () => {
      for (const method of [undefined, '', ['GET', 'GET']]) {
        const headers = { 'x-original-uri': '/orders/5', ...(method !== undefined && { 'x-original-method': method as string }) };
        const res = await call('/authz', { headers });
        assert.equal(res.status, 403, `${JSON.stringify(method)}: ${res.text}`);
        assert.equal(res.json.error, 'forbidden');
        assert.match(
          res.json.error_description,
          /X-Original-Method: the proxy must send exactly one \(nginx: proxy_set_header X-Original-Method \$request_method\)/,
        );
        assert.equal(res.headers['x-tessera-token'], undefined);
      }
    });

    it('answers only the proxies in authz.allowFrom', async () => {
      const res = await call('/authz', { localAddress: '127.0.0.2', headers: { 'x-original-uri': '/orders/5' } });
      assert.equal(res.status, 403);
      assert.equal(res.json.error, 'forbidden');
      assert.equal(res.headers['x-tessera-token'], undefined);
    });
  });
});
