// Fake token servers for the clients' tests (the SDK's token client, the CLI's commands): one that
// lives inside a `fetch` function (for tests that drive time with mock timers and must not wait on
// sockets), and one that listens on loopback over HTTP or HTTPS (for real sockets, mTLS and child
// processes). Both record every request and answer it with a handler the test may replace.

import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** One request as the fake server saw it. */
export interface SeenRequest {
  n: number;
  at: number;
  method: string;
  /** Path and query, as sent. */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  rawBody: string;
  /** The body as a form (whatever its content type). */
  form: URLSearchParams;
  /** The body parsed by its content type: JSON, a form as an object, else the text; `undefined` when empty. */
  body: unknown;
  /** SHA-256 fingerprint of the TLS client certificate, when one was presented. */
  clientCertificate?: string;
  /** Subject CN of the TLS client certificate, when one was presented. */
  clientCertificateCn?: string;
}

/** What the fake answers; `body` objects are sent as JSON. */
export interface FakeAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** An Error answer is a network failure: the fetch rejects with it, the HTTP server drops the connection. */
export type Handler = (request: SeenRequest) => FakeAnswer | Error | Promise<FakeAnswer | Error>;

/** A 200 token response: `token-<n>` living `expiresIn` seconds. */
export function tokenAnswer(request: SeenRequest, expiresIn = 100): FakeAnswer {
  return { body: { access_token: `token-${request.n}`, token_type: 'Bearer', expires_in: expiresIn, scope: request.form.get('scope') } };
}

export const ENDPOINT = 'https://tessera.test/oauth2/token';

export interface FakeFetchServer {
  fetch: (input: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<Response>;
  requests: SeenRequest[];
  handler: Handler;
}

/** A token server inside a fetch function; `handler` may be replaced at any time. */
export function fakeFetchServer(handler: Handler = (request) => tokenAnswer(request)): FakeFetchServer {
  const server: FakeFetchServer = {
    requests: [],
    handler,
    async fetch(input, init) {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(init.headers)) headers[name.toLowerCase()] = value;
      const seen = seenRequest(server.requests.length + 1, init.method, input, headers, init.body ?? '');
      server.requests.push(seen);
      const answer = await abortable(Promise.resolve(server.handler(seen)), init.signal);
      if (answer instanceof Error) throw answer;
      return toResponse(answer);
    },
  };
  return server;
}

function seenRequest(n: number, method: string, url: string, headers: Record<string, string>, rawBody: string): SeenRequest {
  const parsed = new URL(url, 'http://fake');
  return {
    n,
    at: Date.now(),
    method,
    url,
    path: parsed.pathname,
    query: parsed.searchParams,
    headers,
    rawBody,
    form: new URLSearchParams(rawBody),
    body: parseBody(rawBody, headers['content-type']),
  };
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw === '') return undefined;
  if (contentType?.startsWith('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  if (!contentType?.startsWith('application/json')) return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw; // a client's malformed JSON is for the test to see, not to crash the fake
  }
}

/** Like a real fetch, gives up when the signal aborts. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function toResponse(answer: FakeAnswer): Response {
  const body = answer.body === undefined ? null : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  const headers = new Headers(answer.headers);
  if (body !== null && !headers.has('content-type')) headers.set('content-type', 'application/json');
  return new Response(body, { status: answer.status ?? 200, headers });
}

export interface FakeHttpServer {
  url: string;
  requests: SeenRequest[];
  handler: Handler;
  close(): Promise<void>;
}

/** A token server on a free loopback port; HTTPS when `tls` is given (with `requestCert`, it sees client certificates). */
export async function startFakeHttpServer(handler: Handler = (request) => tokenAnswer(request), tls?: HttpsServerOptions): Promise<FakeHttpServer> {
  const state: FakeHttpServer = { url: '', requests: [], handler, close: async () => {} };
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
      const peer = (req.socket as Partial<TLSSocket>).getPeerCertificate?.();
      const cn = peer?.subject?.CN;
      const seen: SeenRequest = {
        ...seenRequest(state.requests.length + 1, req.method ?? 'GET', req.url ?? '/', headers, Buffer.concat(chunks).toString('utf8')),
        ...(peer && peer.fingerprint256 ? { clientCertificate: peer.fingerprint256 } : {}),
        ...(typeof cn === 'string' ? { clientCertificateCn: cn } : {}),
      };
      state.requests.push(seen);
      void Promise.resolve(state.handler(seen)).then((answer) => {
        if (answer instanceof Error) {
          res.socket?.destroy();
          return;
        }
        const body = answer.body === undefined ? undefined : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
        res.writeHead(answer.status ?? 200, { ...(body !== undefined && { 'content-type': 'application/json' }), ...answer.headers });
        res.end(body);
      });
    });
  };
  const server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  state.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
