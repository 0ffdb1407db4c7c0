// The fastify instance every route is added to: its logger, its listener (HTTPS with the server
// certificate kept fresh, or plain HTTP), the connection bounds and timeouts (connection-limits.ts),
// and the answers, in the API's own JSON shape, to requests that never become a fastify request.

import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import type { Config } from '../config/config.ts';
import { logDestination } from '../lib/log-format.ts';
import { requestForLog } from '../observability/request-log.ts';
import { ipAllowed } from '../policy/ip-ranges.ts';
import { createConnectionGuard } from './connection-limits.ts';
import type { ServerTls, TlsWatch } from './server-tls.ts';

export interface HttpAppDeps {
  config: Config;
  /** Where log lines go instead of stdout (a file, or a test collecting them). */
  logStream?: { write(line: string): void };
  /** The server certificate, for HTTPS (`config.listen` https:); null for plain HTTP. */
  tls: ServerTls | null;
  /** Where the connection bounds count their refusals. */
  metrics: Registry;
}

export interface HttpApp {
  app: FastifyInstance;
  /** Keeps the listener's certificate current (server-tls.ts); null for plain HTTP. */
  tlsWatch: TlsWatch | null;
}

export function createHttpApp({ config, logStream, tls, metrics }: HttpAppDeps): HttpApp {
  const connections = createConnectionGuard({
    limits: config.connections,
    exempt: (address) => config.trustedProxies.length > 0 && ipAllowed(config.trustedProxies, address),
    log: { warn: (details, message) => app.log.warn(details, message) },
    metrics,
  });
  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
      // A credential in a query string (`?token=`…) never reaches the log (observability/request-log.ts).
      serializers: { req: requestForLog },
      ...logDestination(config, logStream),
    },
    bodyLimit: config.bodyLimit,
    // X-Forwarded-For is believed only from these peers; with none, request.ip is the TCP peer.
    trustProxy: config.trustedProxies.length > 0 ? [...config.trustedProxies] : false,
    // A line per request costs more than the token itself at load; request lines come at debug and trace.
    logController: new LogController({ disableRequestLogging: config.logLevel !== 'debug' && config.logLevel !== 'trace' }),
    https: tls ? { ...tls.options, ...connections.listenerOptions, handshakeTimeout: connections.handshakeTimeout } : null,
    ...(tls ? {} : { http: connections.listenerOptions }),
    keepAliveTimeout: connections.listenerOptions.keepAliveTimeout,
    requestTimeout: connections.listenerOptions.requestTimeout,
    maxRequestsPerSocket: config.connections.maxRequestsPerSocket,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    // Requests Node's HTTP parser cannot read at all (408 for one that did not arrive in time, counted
    // as a refusal; 400 for one that is malformed; nothing on a connection already gone).
    clientErrorHandler: (error, socket) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ERR_HTTP_REQUEST_TIMEOUT') connections.refused('request_timeout', socket.remoteAddress);
      if (code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        const body = JSON.stringify({
          error: 'request_timeout',
          message: 'the request did not arrive in time; send it whole within connections.requestTimeout',
        });
        socket.end(
          `HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
        return;
      }
      const body = JSON.stringify({ error: 'invalid_request', message: `malformed HTTP request: ${error.message}` });
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
    // Errors fastify raises before routing (an undecodable path, say).
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      void reply.code(400).send({ error: 'invalid_request', message: `malformed request: ${error.message}` });
    },
  });
  connections.watch(app.server);
  // Last: nothing here throws after it, so the caller stops a watch it holds (TesseraServer.close).
  return { app, tlsWatch: tls?.keepFresh(app.server, app.log) ?? null };
}
