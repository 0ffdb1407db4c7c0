// Streaming the request to the upstream and its answer back: bodies flow through with
// backpressure in both directions and are never held whole. The route's `timeoutMs` bounds the
// wait for the upstream's response headers (504) and any later silence of the connection; an
// upstream that cannot be reached is 502. A bodiless GET, HEAD or OPTIONS whose kept-alive
// connection the upstream had just closed is sent once more on a new connection. WebSocket
// upgrades are authenticated like any request, then the two sockets are joined.

import { request as httpRequest, Agent as HttpAgent, type IncomingMessage, type ServerResponse, type ClientRequest } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';
import type { RouteConfig } from '../config/config.ts';
import { GatewayError, sendError, writeErrorToSocket } from '../http/errors.ts';
import { downstreamHeaders, upstreamHeaders, type ForwardedFrom } from './headers.ts';

const REPLAYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface ForwardOutcome {
  status: number;
  /** `connect` (502) or `timeout` (504) when the upstream failed before answering. */
  failure?: 'connect' | 'timeout';
  /** The refusal sent, for the access log (its `detail` says what failed). */
  error?: GatewayError;
}

export interface Forwarder {
  forward(req: IncomingMessage, res: ServerResponse, route: RouteConfig, token: string, from: ForwardedFrom, strip: readonly string[]): Promise<ForwardOutcome>;
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    route: RouteConfig,
    token: string,
    from: ForwardedFrom,
    strip: readonly string[],
  ): Promise<ForwardOutcome>;
  close(): void;
}

/** ` (ECONNREFUSED)`: the error's code alone, never its message (which names the upstream's address). */
function codeOf(error: Error | undefined): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code) ? ` (${code})` : '';
}

export function createForwarder(): Forwarder {
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

  const open = (route: RouteConfig, req: IncomingMessage, headers: ReturnType<typeof upstreamHeaders>): ClientRequest => {
    const { upstream } = route;
    const base = upstream.pathname.replace(/\/+$/, '');
    const secure = upstream.protocol === 'https:';
    return (secure ? httpsRequest : httpRequest)({
      protocol: upstream.protocol,
      hostname: upstream.hostname.replace(/^\[|\]$/g, ''),
      port: upstream.port || (secure ? 443 : 80),
      method: req.method,
      path: base + req.url!,
      headers,
      agent: secure ? agents.https : agents.http,
    });
  };

  const failure = (route: RouteConfig, timedOut: boolean, error: Error | undefined): GatewayError =>
    timedOut
      ? new GatewayError(504, 'gateway_timeout', `the upstream of route "${route.name}" did not answer within ${route.timeoutMs} ms`)
      : new GatewayError(502, 'bad_gateway', `the upstream of route "${route.name}" could not be reached${codeOf(error)}`, {
          detail: error?.message ?? 'connection failed',
        });

  return {
    forward(req, res, route, token, from, strip) {
      const headers = upstreamHeaders(req.headers, token, route.upstream.host, from, strip);
      // A request that is safe to send twice and has no body to replay.
      const replayable = REPLAYABLE.has(req.method ?? '') && req.headers['transfer-encoding'] === undefined && (req.headers['content-length'] ?? '0') === '0';
      return new Promise<ForwardOutcome>((resolve) => {
        let answered = false;
        let timedOut = false;
        let current: ClientRequest | undefined;
        const expire = (): void => {
          timedOut = true;
          current?.destroy(new Error('timeout'));
        };
        const timer = setTimeout(expire, route.timeoutMs);
        const send = (retried: boolean): void => {
          const upstreamReq = (current = open(route, req, headers));
          upstreamReq.setTimeout(route.timeoutMs, expire);
          upstreamReq.on('response', (upstreamRes) => {
            answered = true;
            clearTimeout(timer);
            const status = upstreamRes.statusCode ?? 502;
            if (res.closed) {
              // The caller went away while the upstream was answering.
              upstreamReq.destroy();
              resolve({ status });
              return;
            }
            res.writeHead(status, upstreamRes.statusMessage, downstreamHeaders(upstreamRes.headers, route.upstream, from));
            // pipe, not pipeline: pipeline costs an AbortController and a DOMException per answer
            // (a tenth of the gateway's CPU for small answers). What pipeline did on failure is
            // done here: an answer cut off upstream is cut off for the caller too (never ended as
            // if whole), and a caller gone drops the upstream's connection (the 'close' below).
            upstreamRes.on('error', () => {});
            upstreamRes.once('close', () => {
              if (!upstreamRes.complete) {
                upstreamReq.destroy();
                res.destroy();
              }
            });
            res.once('close', () => resolve({ status }));
            upstreamRes.pipe(res);
          });
          upstreamReq.on('error', (error: NodeJS.ErrnoException) => {
            if (answered) return;
            // A kept-alive connection the upstream closed just as it was reused: once more on a new one.
            if (!retried && !timedOut && replayable && upstreamReq.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
              send(true);
              return;
            }
            clearTimeout(timer);
            answered = true;
            const refusal = failure(route, timedOut, error);
            // The caller may still be sending its body: it is read and dropped, so the answer reaches it.
            req.unpipe(upstreamReq);
            req.resume();
            sendError(res, refusal);
            resolve({ status: refusal.status, failure: timedOut ? 'timeout' : 'connect', error: refusal });
          });
          if (replayable) {
            upstreamReq.end();
          } else {
            // pipe, not pipeline: a failing upstream must not tear down the caller's connection
            // before the 502 or 504 is written to it.
            req.pipe(upstreamReq);
            req.on('error', () => upstreamReq.destroy());
          }
        };
        // The caller went away: so does the upstream request.
        res.on('close', () => {
          if (!res.writableFinished) current?.destroy();
        });
        send(false);
      });
    },

    upgrade(req, socket, head, route, token, from, strip) {
      return new Promise<ForwardOutcome>((resolve) => {
        const upstreamReq = open(route, req, upstreamHeaders(req.headers, token, route.upstream.host, from, strip, true));
        let settled = false;
        const timer = setTimeout(() => upstreamReq.destroy(Object.assign(new Error('timeout'), { timedOut: true })), route.timeoutMs);
        upstreamReq.on('upgrade', (upstreamRes, upstreamSocket, upstreamHead) => {
          clearTimeout(timer);
          settled = true;
          const lines = [`HTTP/1.1 101 ${upstreamRes.statusMessage || 'Switching Protocols'}`];
          for (let i = 0; i < upstreamRes.rawHeaders.length; i += 2) lines.push(`${upstreamRes.rawHeaders[i]}: ${upstreamRes.rawHeaders[i + 1]}`);
          socket.write(`${lines.join('\r\n')}\r\n\r\n`);
          if (upstreamHead.length > 0) socket.write(upstreamHead);
          if (head.length > 0) upstreamSocket.write(head);
          const end = (): void => {
            socket.destroy();
            upstreamSocket.destroy();
          };
          socket.on('error', end).on('close', end);
          upstreamSocket.on('error', end).on('close', end);
          socket.pipe(upstreamSocket).pipe(socket);
          resolve({ status: 101 });
        });
        upstreamReq.on('response', (upstreamRes) => {
          // The upstream declined the upgrade: its answer goes back as it is.
          clearTimeout(timer);
          settled = true;
          const lines = [`HTTP/1.1 ${upstreamRes.statusCode} ${upstreamRes.statusMessage ?? ''}`];
          const headers = downstreamHeaders(upstreamRes.headers, route.upstream, from);
          for (const [name, value] of Object.entries(headers)) for (const v of [value].flat()) lines.push(`${name}: ${String(v)}`);
          lines.push('connection: close');
          socket.write(`${lines.join('\r\n')}\r\n\r\n`);
          upstreamRes.pipe(socket);
          resolve({ status: upstreamRes.statusCode ?? 502 });
        });
        upstreamReq.on('error', (error) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          const timedOut = (error as { timedOut?: boolean }).timedOut === true;
          const refusal = failure(route, timedOut, error);
          writeErrorToSocket(socket, refusal);
          resolve({ status: refusal.status, failure: timedOut ? 'timeout' : 'connect', error: refusal });
        });
        upstreamReq.end();
      });
    },

    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
