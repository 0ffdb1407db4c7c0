// Idle connections cannot exhaust the listener: one address is held to its share, the overall
// cap keeps descriptors free, and connections that never finish a handshake or a request are
// closed within seconds; each time a bound bites there is a metric and a warn line, and the
// JWKS keeps answering. Bounded: a few hundred loopback sockets, limits configured low. Every
// loopback address 127.0.0.0/8 reaches the server, so each "client" is its own source address.

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

interface LogLine {
  level: number;
  reason?: string;
  msg: string;
}

function collectLogs(): { lines: LogLine[]; stream: { write(line: string): void } } {
  const lines: LogLine[] = [];
  return { lines, stream: { write: (line) => void lines.push(JSON.parse(line) as LogLine) } };
}

/** `count` idle TCP connections from `localAddress`; resolves once each is connected or closed. */
async function idleConnections(port: number, localAddress: string, count: number): Promise<{ sockets: Socket[]; closed: () => number }> {
  let closed = 0;
  const sockets = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port, localAddress });
          socket.on('error', () => undefined);
          socket.once('close', () => (closed += 1));
          socket.once('connect', () => resolve(socket));
          socket.once('close', () => resolve(socket));
        }),
    ),
  );
  return { sockets, closed: () => closed };
}

async function until(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function metric(t: TestServer, reason: string): Promise<number> {
  // Through inject: no socket, so it answers even while the listener is full.
  const text = (await t.server.app.inject({ url: '/metrics' })).body;
  return Number(new RegExp(`^tessera_connections_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

const jwks = (t: TestServer) => t.send('/.well-known/jwks.json', { headers: { connection: 'close' } });

describe('connection caps: per address and overall', () => {
  let t: TestServer;
  const logs = collectLogs();
  const opened: Socket[] = [];
  const port = () => Number(new URL(t.url).port);
  before(async () => {
    t = await startTestServer({
      flags: { logLevel: 'warn' },
      logStream: logs.stream,
      edit: (config) => {
        config.connections = { ...config.connections, max: 60, maxPerAddress: 20 };
      },
    });
  });
  after(async () => {
    for (const socket of opened) socket.destroy();
    await t.stop();
  });

  it('one address flooding idle connections is held to its share: the JWKS keeps answering others, with a metric and one warn line', async () => {
    const flood = await idleConnections(port(), '127.0.0.2', 200);
    opened.push(...flood.sockets);
    await until('the connections over the share to be closed', () => flood.closed() === 180);
    const res = await jwks(t);
    assert.equal(res.status, 200, res.text);
    assert.ok(Array.isArray(res.json.keys) && res.json.keys.length > 0);
    assert.equal(await metric(t, 'per_address'), 180);
    const warned = logs.lines.filter((line) => line.level === 40 && line.reason === 'per_address');
    assert.equal(warned.length, 1, 'one line, not one per refused connection');
    assert.match(warned[0]!.msg, /connections\.maxPerAddress/);
  });

  it('the overall cap closes new connections once full, and lets them in again when some close', async () => {
    const held = await idleConnections(port(), '127.0.0.3', 20);
    const more = await idleConnections(port(), '127.0.0.4', 20);
    opened.push(...held.sockets, ...more.sockets);
    // 20 from 127.0.0.2 stay open: 60 is the cap, so the last connections (and the JWKS) are refused.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await assert.rejects(jwks(t));
    assert.ok((await metric(t, 'total')) >= 1);
    assert.ok(logs.lines.some((line) => line.level === 40 && line.reason === 'total'));
    for (const socket of held.sockets) socket.destroy();
    await until('the JWKS to answer again', async () => (await jwks(t).catch(() => ({ status: 0 }))).status === 200);
  });
});

describe('connection timeouts', () => {
  let t: TestServer;
  const logs = collectLogs();
  before(async () => {
    t = await startTestServer({
      flags: { logLevel: 'warn' },
      logStream: logs.stream,
      edit: (config) => {
        config.connections = { ...config.connections, handshakeTimeout: 1, headersTimeout: 1, requestTimeout: 2 };
      },
    });
  });
  after(() => t.stop());

  it('closes a connection that never starts the TLS handshake after connections.handshakeTimeout', async () => {
    const started = Date.now();
    const { sockets, closed } = await idleConnections(Number(new URL(t.url).port), '127.0.0.5', 5);
    await until('the idle connections to be closed', () => closed() === 5, 4000);
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 3500, `closed after ${took} ms`);
    for (const socket of sockets) socket.destroy();
    assert.equal(await metric(t, 'handshake_timeout'), 5);
    assert.ok(logs.lines.some((line) => line.level === 40 && line.reason === 'handshake_timeout'));
    assert.equal((await jwks(t)).status, 200);
  });

  it('closes a connection that finished the handshake but sends no request, with 408, after connections.headersTimeout', async () => {
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: Number(new URL(t.url).port), ca: t.ca, servername: 'localhost' });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
    });
    const took = Date.now() - started;
    assert.ok(took < 4000, `closed after ${took} ms`);
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok((await metric(t, 'request_timeout')) >= 1);
    assert.ok(logs.lines.some((line) => line.level === 40 && line.reason === 'request_timeout'));
  });
});
