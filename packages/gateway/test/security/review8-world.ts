// The world of review 8's attacks on `tessera gateway`: a real Tessera (callers' tokens, API keys,
// token exchange and proxy_for_principal as the server answers them, no fake exchange), an
// upstream that cannot verify anything and records every byte of what reached it, three PKIs
// (Tessera's client CA naming principals by SPIFFE SAN, a partner CA mapped by rules, a CA
// nobody trusts), the gateway spawned as `tessera gateway --config <file>`, and a raw TLS/TCP
// client for requests no HTTP library would send.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { send, type TestRequest, type TestResponse } from '@tessera/testkit/https';
import { createTestPki, issueCertificate, type Pem, type TestPki } from '@tessera/testkit/pki';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { spawnGateway, type RunningGateway } from '../helpers/world.ts';

export { spawnGateway, type RunningGateway };
export const ROOT = join(import.meta.dirname, '..', '..', '..', '..');
export const GATEWAY = 'edge.gw';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  trailers: IncomingMessage['trailers'];
  body: string;
  /** The upstream token's claims, decoded (not verified: this upstream cannot verify). */
  claims: Record<string, unknown> | null;
}

export interface Recorder {
  url: string;
  seen: Seen[];
  server: Server;
  close(): Promise<void>;
}

function claimsOf(authorization: string | undefined): Record<string, unknown> | null {
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  if (!token) return null;
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** An upstream that records what reached it and, on some paths, behaves as a malicious upstream would. */
export async function startRecorder(): Promise<Recorder> {
  const seen: Seen[] = [];
  let self = '';
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const record: Seen = {
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      trailers: req.trailers,
      body: Buffer.concat(chunks).toString('utf8'),
      claims: claimsOf(req.headers.authorization),
    };
    seen.push(record);
    const path = new URL(req.url!, 'http://upstream').pathname;
    if (path === '/svc/redirect') {
      res.writeHead(302, { location: `${self}/internal/secret`, 'set-cookie': 'session=upstream-chosen; Path=/; HttpOnly' });
      res.end();
      return;
    }
    if (path === '/svc/echo-token') {
      // An upstream that reflects what it received (a debugging endpoint, TRACE, an error page).
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(req.headers.authorization ?? '');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true, url: req.url, principal: record.claims?.['sub'] ?? null }));
  });
  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
    seen.push({
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      trailers: {},
      body: '',
      claims: claimsOf(req.headers.authorization),
    });
    const key = String(req.headers['sec-websocket-key'] ?? '');
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC11B65`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: self,
    seen,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface World {
  tessera: TestServer;
  upstream: Recorder;
  pki: TestPki;
  partner: TestPki;
  untrusted: TestPki;
  dir: string;
  secrets: Record<string, string>;
  apiKey: string;
  apiKeyId: string;
  admin(method: string, path: string, body?: unknown): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  token(who: 'alpha.api' | 'carol.api', scope: string): Promise<string>;
  /** A client certificate from `ca` with subject `subj` (e.g. /CN=x) and the given extension lines. */
  certificate(ca: Pem, subj: string, ext: string): Pem;
  /** A config file: the default one, changed by `edit`. */
  config(edit?: (config: Record<string, any>) => void, name?: string): string; // eslint-disable-line @typescript-eslint/no-explicit-any
  close(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-review8-'));
  const tessera = await startTestServer();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const admin = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await tessera.admin$(method, path, body);
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
    return res.json;
  };
  for (const name of ['orders', 'billing', 'edge', 'alpha', 'carol', 'partner']) await admin('POST', '/domains', { name });
  const secrets: Record<string, string> = {};
  secrets[GATEWAY] = (await admin('POST', '/domains/edge/services', { name: 'gw' })).clientSecret;
  secrets['alpha.api'] = (await admin('POST', '/domains/alpha/services', { name: 'api' })).clientSecret;
  secrets['carol.api'] = (await admin('POST', '/domains/carol/services', { name: 'api' })).clientSecret;
  await admin('POST', '/domains/partner/services', { name: 'billing' });
  const members = (...principals: string[]): { principal: string }[] => principals.map((principal) => ({ principal }));
  await admin('PUT', '/domains/orders/roles/readers', { members: members('alpha.api', 'carol.api', 'partner.billing', GATEWAY), actors: [GATEWAY] });
  await admin('PUT', '/domains/orders/roles/writers', { members: members('carol.api', GATEWAY), actors: [GATEWAY] });
  await admin('PUT', '/domains/billing/roles/readers', { members: members('alpha.api', GATEWAY), actors: [GATEWAY] });
  const key = await admin('POST', '/domains/alpha/services/api/api-keys', { audience: 'orders' });

  const upstream = await startRecorder();
  const pki = createTestPki();
  const partner = createTestPki();
  const untrusted = createTestPki();
  const files: Record<string, string> = {
    'gw.pem': pki.server.cert,
    'gw.key': pki.server.key,
    'client-ca.pem': pki.ca.cert,
    'partner-ca.pem': partner.ca.cert,
    'tessera-ca.pem': tessera.ca,
    'gw.secret': secrets[GATEWAY]!,
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o600 });

  const base = (): Record<string, unknown> => ({
    listen: 'https://127.0.0.1:0',
    tls: { cert: 'gw.pem', key: 'gw.key', clientCa: 'client-ca.pem', externalCas: ['partner-ca.pem'], trustDomain: 'tessera.local' },
    tessera: { url: tessera.url, ca: 'tessera-ca.pem', clientId: GATEWAY, clientSecretFile: 'gw.secret', apiKeyCacheTtl: 1 },
    certificateMappings: [
      { cas: ['partner-ca.pem'], subject: 'CN=billing', principal: 'partner.billing' },
      { cas: ['partner-ca.pem'], san: 'https://ci.partner.example/runner', principal: 'partner.billing' },
    ],
    routes: [
      {
        name: 'svc-read',
        pathPrefix: '/svc',
        methods: ['GET', 'HEAD', 'POST'],
        upstream: upstream.url,
        audience: 'orders',
        require: { scope: ['orders:role.readers'] },
      },
      { name: 'svc-admin', pathPrefix: '/svc/admin', methods: ['*'], upstream: upstream.url, audience: 'orders', require: { scope: ['orders:role.writers'] } },
      { name: 'ws', pathPrefix: '/ws', methods: ['GET'], upstream: upstream.url, audience: 'orders', require: { scope: ['orders:role.readers'] } },
      {
        name: 'nows',
        pathPrefix: '/nows',
        methods: ['GET'],
        upstream: upstream.url,
        audience: 'orders',
        require: { scope: ['orders:role.readers'] },
        websocket: false,
      },
      { name: 'billing', pathPrefix: '/billing', methods: ['GET'], upstream: upstream.url, audience: 'billing', require: { scope: ['billing:role.readers'] } },
    ],
  });

  return {
    tessera,
    upstream,
    pki,
    partner,
    untrusted,
    dir,
    secrets,
    apiKey: key.apiKey as string,
    apiKeyId: key.id as string,
    admin,
    async token(who, scope) {
      const res = await tessera.token(who, secrets[who]!, { grant_type: 'client_credentials', scope });
      assert.equal(res.status, 200, res.text);
      return res.json.access_token as string;
    },
    certificate: (ca, subj, ext) => issueCertificate(ca, subj, ext),
    config(edit, name = 'gateway.json') {
      const config = base();
      edit?.(config);
      const path = join(dir, name);
      writeFileSync(path, JSON.stringify(config, null, 2));
      return path;
    },
    async close() {
      await Promise.all([tessera.stop(), upstream.close()]);
      for (const p of [pki, partner, untrusted]) p.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A request through the gateway with the test PKI's CA trusted and a connection of its own. */
export function call(gw: RunningGateway, pki: TestPki, path: string, options: TestRequest = {}): Promise<TestResponse> {
  return send(`${gw.url}${path}`, { ca: pki.ca.cert, agent: false, ...options });
}

export interface RawAnswer {
  /** Everything the gateway wrote before it closed the connection or `waitMs` passed. */
  text: string;
  /** The status codes of every response in `text`, in order (100 Continue included). */
  statuses: number[];
  closed: boolean;
}

/**
 * Writes `bytes` as they are (in `parts`, `gapMs` apart) over a connection of their own to the
 * gateway (TLS when it listens on https), and collects what comes back.
 */
export async function raw(
  gw: RunningGateway,
  pki: TestPki,
  parts: (string | Buffer)[],
  options: { waitMs?: number; gapMs?: number; cert?: Pem; localAddress?: string } = {},
): Promise<RawAnswer> {
  const url = new URL(gw.url);
  const socket: Socket =
    url.protocol === 'https:'
      ? tlsConnect({
          host: url.hostname,
          port: Number(url.port),
          ca: pki.ca.cert,
          ...(options.localAddress && { localAddress: options.localAddress }),
          ...(options.cert && { cert: options.cert.cert, key: options.cert.key }),
        })
      : netConnect({ host: url.hostname, port: Number(url.port), ...(options.localAddress && { localAddress: options.localAddress }) });
  await once(socket, url.protocol === 'https:' ? 'secureConnect' : 'connect');
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const done = new Promise<void>((resolve) => socket.once('close', () => ((closed = true), resolve())));
  for (const part of parts) {
    if (socket.destroyed) break;
    socket.write(part);
    if (options.gapMs) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
  }
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, options.waitMs ?? 3000))]);
  socket.destroy();
  const text = Buffer.concat(chunks).toString('latin1');
  const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
  return { text, statuses, closed };
}
