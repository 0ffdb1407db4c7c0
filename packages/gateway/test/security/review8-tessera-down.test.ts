// Review 8: the gateway when Tessera is down or silent. Callers must get a prompt 503 that tells
// an outsider nothing about the inside (Tessera's address and endpoints), whichever way they
// authenticate. Holes are marked HOLE; every other test is an attack the gateway refuses today.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call, raw, spawnGateway, startWorld, type RunningGateway, type World } from './review8-world.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('review8: Tessera down or silent', () => {
  let world: World;
  let down: RunningGateway;
  let silent: RunningGateway;
  let deadPort: number;
  let blackhole: Server;
  const held: Socket[] = [];
  let alphaToken: string;

  const cert = (): { cert: string; key: string } =>
    world.certificate(world.pki.ca, '/CN=alpha.api', 'extendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://tessera.local/alpha/api\n');

  before(async () => {
    world = await startWorld();
    alphaToken = await world.token('alpha.api', 'orders:domain');
    deadPort = await freePort();
    down = await spawnGateway(
      world.config((c) => {
        c['tessera'] = { ...c['tessera'], url: `https://127.0.0.1:${deadPort}`, issuer: world.tessera.url };
      }, 'down.json'),
    );
    // A Tessera that accepts connections and never says a word.
    blackhole = createServer((socket) => {
      held.push(socket);
      socket.on('error', () => {});
    });
    blackhole.listen(0, '127.0.0.1');
    await once(blackhole, 'listening');
    const silentUrl = `https://127.0.0.1:${(blackhole.address() as { port: number }).port}`;
    silent = await spawnGateway(
      world.config((c) => {
        c['tessera'] = { ...c['tessera'], url: silentUrl, issuer: world.tessera.url };
      }, 'silent.json'),
    );
  });
  after(async () => {
    await down?.stop();
    await silent?.stop();
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => (blackhole ? blackhole.close(() => resolve()) : resolve()));
    await world?.close();
  });

  const leaks = (text: string, port: number): boolean => text.includes(`:${port}`) || text.includes('/oauth2/') || text.includes('127.0.0.1');

  // HOLE (low): with Tessera unreachable an API key caller's 503 quotes the SDK's message,
  // "introspection at https://<tessera host:port>/oauth2/introspect failed: fetch failed; try
  // again later", telling any outsider Tessera's internal address and endpoint (and for a 401 of
  // the gateway's own credentials, that its clientId and secret are wrong).
  it("answers an API key caller 503 without naming Tessera's address or endpoints", async () => {
    const res = await call(down, world.pki, '/svc/1', { headers: { authorization: `ApiKey ${world.apiKey}` } });
    assert.equal(res.status, 503, res.text);
    assert.equal(res.headers['retry-after'], '5');
    assert.ok(!leaks(res.text, deadPort), `the answer names Tessera's address: ${res.text}`);
    assert.ok(!leaks(String(res.headers['www-authenticate'] ?? ''), deadPort));
  });

  // HOLE (low, same fix): the Bearer caller's 503 quotes the JWKS fetch's error, "connect ECONNREFUSED <tessera ip:port>".
  it("answers a Bearer caller (keys unreachable) and a certificate caller (token endpoint unreachable) 503 without Tessera's address", async () => {
    const bearer = await call(down, world.pki, '/svc/1', { headers: { authorization: `Bearer ${alphaToken}` } });
    assert.equal(bearer.status, 503, bearer.text);
    assert.ok(!leaks(bearer.text, deadPort), bearer.text);
    const certificate = await call(down, world.pki, '/svc/1', { ...cert() });
    assert.equal(certificate.status, 503, certificate.text);
    assert.ok(!leaks(certificate.text, deadPort), certificate.text);
  });

  // HOLE (low): against a Tessera that accepts connections and never answers (overloaded, a
  // half-dead load balancer), a Bearer caller gets its 503 in about 5 s, but a certificate (or
  // API key) caller waits about 10 s: the exchange client makes two attempts of 5 s each, and
  // its retry budget (maxTotalMs: 3000) does not bound an attempt already running. Each waiting
  // request holds a caller connection and a socket to Tessera, so a Tessera brown-out costs the
  // gateway twice the connections it needs to.
  for (const [kind, path, who] of [
    ['Bearer', '/svc/1', 'bearer'],
    ['certificate', '/svc/2', 'certificate'],
  ] as const) {
    it(`answers a ${kind} caller 503 within 8 s when Tessera accepts connections and never answers`, async () => {
      const host = new URL(silent.url).host;
      const credential = who === 'bearer' ? `Authorization: Bearer ${alphaToken}\r\n` : '';
      const started = performance.now();
      const answer = await raw(silent, world.pki, [`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${credential}Connection: close\r\n\r\n`], {
        waitMs: 40_000,
        ...(who === 'certificate' && { cert: cert() }),
      });
      const seconds = Math.round((performance.now() - started) / 100) / 10;
      assert.equal(answer.statuses[0], 503, `after ${seconds} s: ${answer.text || '(nothing)'}`);
      assert.ok(seconds < 8, `the 503 came after ${seconds} s`);
    });
  }
});
