// The upstream the gateway forwards to: a node:http service that cannot use the gateway's
// word for anything. It verifies the Authorization it receives with the SDK's verifier (issuer:
// whoever signs the gateway's tokens; audience `orders`; delegation required, through the
// gateway only) and answers what it saw, streams large bodies both ways, stalls on demand, and
// echoes a WebSocket tunnel byte for byte.

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier, type AuthContext } from '@tessera/sdk';

export interface Seen {
  principal: string;
  actors: readonly string[];
  scope: readonly string[];
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export interface Upstream {
  url: string;
  /** Every request that reached the upstream, in order (refused ones included, with principal ''). */
  seen: Seen[];
  server: Server;
  close(): Promise<void>;
}

export async function startUpstream(options: { issuer: string; jwksUri: string; gateway: string; ca?: string }): Promise<Upstream> {
  const verifier = createVerifier({
    issuer: options.issuer,
    jwksUri: options.jwksUri,
    audience: 'orders',
    ...(options.ca !== undefined && { ca: options.ca }),
  });
  const seen: Seen[] = [];
  const authenticate = async (req: IncomingMessage): Promise<AuthContext | string> => {
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Bearer ')) return 'no bearer token';
    try {
      return await verifier.verify(header.slice(7), { delegation: { required: true, allowedActors: [options.gateway], maxDepth: 1 } });
    } catch (error) {
      return (error as Error).message;
    }
  };
  const server = createServer((req, res) => {
    void authenticate(req).then(async (auth) => {
      if (typeof auth === 'string') {
        seen.push({ principal: '', actors: [], scope: [], method: req.method!, url: req.url!, headers: req.headers });
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ upstream: 'refused', reason: auth }));
        return;
      }
      const record: Seen = { principal: auth.principal, actors: auth.actors, scope: auth.scope, method: req.method!, url: req.url!, headers: req.headers };
      seen.push(record);
      const url = new URL(req.url!, 'http://upstream');
      if (url.pathname === '/orders/download') {
        const size = Number(url.searchParams.get('bytes'));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-size': String(size) });
        const chunk = Buffer.alloc(64 * 1024, 7);
        let left = size;
        const pump = (): void => {
          while (left > 0) {
            const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
            left -= part.length;
            if (!res.write(part)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      if (url.pathname === '/orders/upload') {
        const hash = createHash('sha256');
        let bytes = 0;
        for await (const chunk of req) {
          hash.update(chunk as Buffer);
          bytes += (chunk as Buffer).length;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
        return;
      }
      if (url.pathname === '/orders/drip') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first\n');
        await new Promise((resolve) => setTimeout(resolve, 1500));
        res.end('last\n');
        return;
      }
      if (url.pathname.startsWith('/orders/slow')) {
        await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get('ms') ?? 2000)));
      }
      req.resume();
      await once(req, 'end');
      res.writeHead(200, { 'content-type': 'application/json', connection: 'x-upstream-secret', 'x-upstream-secret': 'hop', 'keep-alive': 'timeout=5' });
      res.end(JSON.stringify(record));
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
    void authenticate(req).then((auth) => {
      if (typeof auth === 'string') {
        socket.end(`HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${JSON.stringify({ reason: auth })}`);
        return;
      }
      const key = String(req.headers['sec-websocket-key'] ?? '');
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC11B65`).digest('base64');
      const head101 = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`];
      socket.write(`${[...head101, `X-Upstream-Principal: ${auth.principal}`].join('\r\n')}\r\n\r\n`);
      if (head.length > 0) socket.write(head);
      socket.pipe(socket);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
