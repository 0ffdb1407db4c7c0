// Bounds on the listener's connections, so that connections which never finish a handshake or a
// request cannot use up the process's file descriptors (after which every request, the JWKS
// included, fails with nothing logged). Four bounds, each answering one way to hold a socket:
// - an overall cap (`connections.max`), kept below the descriptor limit: the last defence;
// - a cap per address (`connections.maxPerAddress`), so one client cannot starve the others
//   (trusted proxies are exempt: every client behind them shares their address); an IPv6
//   address is counted by its /64 (policy/ip-ranges.ts addressKey), which one host may hold whole;
// - timeouts for the TLS handshake, the request headers, the whole request and an idle
//   keep-alive connection, in seconds rather than Node's minutes;
// - a bound on requests per connection.
// A connection over a cap is closed as soon as it is accepted. Each time a bound bites it is
// counted in `tessera_connections_refused_total{reason}`, and a warn line says so, at most one
// per reason every `logEveryMs` (with the count since the last line), so a flood cannot turn
// into a flood of log lines.

import type { Server as NetServer, Socket } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from '../config/config.ts';
import { addressKey } from '../policy/ip-ranges.ts';
import { PLAIN_HTTP_ERROR, answerPlainHttp } from './plain-http.ts';

export type RefusalReason = 'total' | 'per_address' | 'handshake_timeout' | 'request_timeout' | 'plain_http';

const WHY: Record<RefusalReason, string> = {
  total: 'the listener holds connections.max connections: new connections are closed at once',
  per_address: 'an address holds connections.maxPerAddress connections: its new connections are closed at once',
  handshake_timeout: 'connections that did not finish the TLS handshake within connections.handshakeTimeout were closed',
  request_timeout: 'connections that did not send a whole request in time (connections.headersTimeout, requestTimeout) were closed',
  plain_http: 'connections sent plain HTTP to this HTTPS port were answered 400 and closed: the client must use an https:// URL',
};

export interface ConnectionGuardDeps {
  limits: Config['connections'];
  /** Addresses whose connections count toward the overall cap only (trusted proxies). */
  exempt: (address: string) => boolean;
  log: { warn(details: object, message: string): void };
  metrics: Registry;
  logEveryMs?: number;
}

export interface ConnectionGuard {
  /** Options for Node's http(s) server: timeouts and how often they are checked. */
  readonly listenerOptions: { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; connectionsCheckingInterval: number };
  /** The tls.Server option. */
  readonly handshakeTimeout: number;
  /** Counts and caps connections on `server` (Tessera's listener, before fastify routes anything). */
  watch(server: NetServer): void;
  /** Tells the guard a bound closed a connection (the listener's own timeouts). */
  refused(reason: RefusalReason, address: string | undefined): void;
  readonly open: number;
}

export function createConnectionGuard(deps: ConnectionGuardDeps): ConnectionGuard {
  const { limits } = deps;
  const logEveryMs = deps.logEveryMs ?? 10_000;
  const byAddress = new Map<string, number>();
  let open = 0;
  const refusedTotal = new Counter({
    name: 'tessera_connections_refused_total',
    help: 'Connections closed by a connection bound, by reason (total, per_address, handshake_timeout, request_timeout, plain_http)',
    labelNames: ['reason'],
    registers: [deps.metrics],
  });
  new Gauge({
    name: 'tessera_connections_open',
    help: 'Connections the listener holds now',
    registers: [deps.metrics],
    collect() {
      this.set(open);
    },
  });
  const lastLogged = new Map<RefusalReason, { at: number; unlogged: number }>();

  const refused = (reason: RefusalReason, address: string | undefined): void => {
    refusedTotal.inc({ reason });
    const now = Date.now();
    const last = lastLogged.get(reason);
    if (last !== undefined && now - last.at < logEveryMs) {
      last.unlogged += 1;
      return;
    }
    const count = (last?.unlogged ?? 0) + 1;
    lastLogged.set(reason, { at: now, unlogged: 0 });
    deps.log.warn(
      { reason, address, refused: count, open, max: limits.max, maxPerAddress: limits.maxPerAddress },
      `connection refused (${reason}): ${WHY[reason]}; ${count} since the last such line`,
    );
  };

  const release = (key: string): void => {
    open -= 1;
    const left = (byAddress.get(key) ?? 1) - 1;
    if (left === 0) byAddress.delete(key);
    else byAddress.set(key, left);
  };

  const admit = (socket: Socket): void => {
    const address = socket.remoteAddress ?? 'unknown';
    const key = addressKey(address);
    const held = byAddress.get(key) ?? 0;
    const reason: RefusalReason | null = open >= limits.max ? 'total' : held >= limits.maxPerAddress && !deps.exempt(address) ? 'per_address' : null;
    if (reason !== null) {
      socket.destroy();
      refused(reason, address);
      return;
    }
    open += 1;
    byAddress.set(key, held + 1);
    socket.once('close', () => release(key));
  };

  const seconds = (value: number): number => value * 1000;
  return {
    listenerOptions: {
      headersTimeout: seconds(limits.headersTimeout),
      requestTimeout: seconds(limits.requestTimeout),
      keepAliveTimeout: seconds(limits.keepAliveTimeout),
      // Node checks the header and request timeouts this often (30 s by default): a timeout of
      // seconds needs a check every second or so.
      connectionsCheckingInterval: Math.min(1000, seconds(limits.headersTimeout) / 2),
    },
    handshakeTimeout: seconds(limits.handshakeTimeout),
    watch(server) {
      server.on('connection', admit);
      server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: Socket) => {
        if (error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') refused('handshake_timeout', socket.remoteAddress);
        if (error.code === PLAIN_HTTP_ERROR) {
          refused('plain_http', socket.remoteAddress);
          if (answerPlainHttp(socket)) return;
        }
        socket.destroy();
      });
    },
    refused,
    get open() {
      return open;
    },
  };
}
