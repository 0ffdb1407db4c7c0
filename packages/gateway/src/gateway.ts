// The gateway: one listener (https with client certificates, or http on loopback) in front of
// the routes' upstreams. Every request takes the same path: the authorization endpoint for a
// fronting proxy, or a route (default deny) → the caller identified → a token for the upstream
// → the request streamed through. Routes and certificate mappings reload on SIGHUP (through
// `reload()`) and when the config file changes; a reload that does not pass the checks is
// refused with a log line and the running configuration kept. Requests in flight finish on the
// route they started with.

import { watch, type FSWatcher } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { AUTHZ_PATH, isAuthzTarget, originalRequest } from './authz/endpoint.ts';
import { GatewayConfigError, loadConfig, type GatewayConfig, type RouteConfig } from './config/config.ts';
import { GatewayError, sendError, writeErrorToSocket } from './http/errors.ts';
import { headerValues } from './http/raw-headers.ts';
import { certificateTrust, type CertificateTrust } from './inbound/certificate.ts';
import { createIdentifier, type Caller } from './inbound/identify.ts';
import { createLogWriter } from './observability/log-writer.ts';
import { createMetrics, renderMetrics, type MetricsSnapshot } from './observability/metrics.ts';
import { createForwarder } from './proxy/forward.ts';
import type { ForwardedFrom } from './proxy/headers.ts';
import { createRouteTable, readHost, readTarget, type RouteTable } from './routes/match.ts';
import { createSouthboundTokens, type SouthboundTokens } from './southbound/tokens.ts';

export type LogEntry = Record<string, unknown>;

export interface GatewayOptions {
  /** Where JSON log lines go (access log and events); default stdout. */
  log?: (entry: LogEntry) => void;
  /** Upstream tokens from elsewhere than Tessera's token endpoint (tests, other issuers). */
  southbound?: SouthboundTokens;
  /** Reload when the config file changes (default true). */
  watchConfig?: boolean;
  /** Environment overrides used at start, applied again on reload. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Log the `gateway listening` line (default true; a cluster's primary logs one for all its workers). */
  announce?: boolean;
  /** What `/metrics` shows instead of this process's own counts (a cluster worker asks its primary for the total). */
  metricsTotal?: () => Promise<MetricsSnapshot>;
}

export interface Gateway {
  readonly url: string;
  readonly metricsUrl: string | undefined;
  /** Reads the config file again and applies its routes and mappings; false (and a log line) when it is refused. */
  reload(): boolean;
  /** Applies a configuration already loaded and checked (by a cluster's primary), without logging or counting it. */
  apply(next: GatewayConfig): ApplyOutcome;
  /** This process's request, failure and reload counts. */
  metrics(): MetricsSnapshot;
  close(): Promise<void>;
}

export type ApplyOutcome = { applied: true } | { applied: false; error: string };

interface Live {
  config: GatewayConfig;
  table: RouteTable;
  trust: CertificateTrust | undefined;
}

const UNMATCHED = '(no route)';
const RELOAD_REFUSED = 'config reload refused; the running configuration is kept';

interface Granted {
  route: RouteConfig;
  caller: Caller;
  token: string;
  /** The Host header the route was chosen on (checked by readHost), for X-Forwarded-Host. */
  host: string | undefined;
}

interface AccessEntry {
  started: number;
  method: string;
  path: string;
  route?: RouteConfig;
  caller?: Caller;
  status: number;
  error?: GatewayError;
  kind?: string;
}

/** The route and caller a refusal carries, when it got that far. */
function context(error: unknown): { route?: RouteConfig; caller?: Caller } {
  const { route, caller } = error as { route?: RouteConfig; caller?: Caller };
  return { ...(route && { route }), ...(caller && { caller }) };
}

export async function startGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const ownLog = options.log ? undefined : createLogWriter(process.stdout);
  const log = options.log ?? ownLog!.log;
  let live: Live = { config, table: createRouteTable(config.routes), trust: certificateTrust(config) };
  const identifier = createIdentifier(config.tessera, () => live.trust);
  const southbound = options.southbound ?? createSouthboundTokens(config.tessera, log);
  const forwarder = createForwarder();
  const metrics = createMetrics();
  const proto = config.listen.protocol === 'https:' ? 'https' : 'http';

  /** `host`: the Host the gateway routed on, never another reading of the caller's header. */
  const fromOf = (req: IncomingMessage, host: string | undefined): ForwardedFrom => ({
    remoteAddress: normalizeAddress(req.socket.remoteAddress),
    proto,
    host,
  });

  /** route, caller and token for a request, or the GatewayError that refuses it. */
  const authorize = async (method: string, target: string | undefined, req: IncomingMessage, state: Live): Promise<Granted> => {
    const read = readTarget(target);
    if (!read.ok) throw new GatewayError(400, 'invalid_request', `${read.reason}`);
    const hosts = headerValues(req, 'host');
    if (hosts !== undefined && hosts.length > 1) throw new GatewayError(400, 'invalid_request', 'the request carries more than one Host header');
    const hostRead = readHost(hosts?.[0]);
    if (!hostRead.ok) throw new GatewayError(400, 'invalid_request', hostRead.reason);
    const host = hostRead.name;
    const route = state.table.match(host, method, read.path);
    if (!route) {
      throw new GatewayError(404, 'not_found', `no route for ${method} ${read.path}${host ? ` on ${host}` : ''}; the gateway forwards configured routes only`);
    }
    const caller = await identifier.identify(req, route).catch((error: unknown) => {
      throw Object.assign(asGatewayError(error), { route });
    });
    const token = await southbound.forCaller(caller, route).catch((error: unknown) => {
      throw Object.assign(asGatewayError(error), { route, caller });
    });
    return { route, caller, token, host: hostRead.value };
  };

  const access = (entry: AccessEntry): void => {
    const seconds = (performance.now() - entry.started) / 1000;
    const routeName = entry.route?.name ?? UNMATCHED;
    metrics.request(routeName, entry.status, seconds);
    if (!live.config.accessLog) return;
    log({
      msg: 'access',
      ...(entry.kind && { kind: entry.kind }),
      method: entry.method,
      path: entry.path,
      route: routeName,
      principal: entry.caller?.principal ?? null,
      via: entry.caller?.via ?? null,
      status: entry.status,
      durationMs: Math.round(seconds * 10_000) / 10,
      ...(entry.error && { error: entry.error.error, reason: entry.error.message }),
      ...(entry.error?.extra.detail !== undefined && { detail: entry.error.extra.detail }),
    });
  };

  /** `expectsContinue`: the caller sent `Expect: 100-continue` and waits to be invited to send its body. */
  const handle = async (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> => {
    const started = performance.now();
    const state = live;
    const path = (req.url ?? '').split('?')[0]!;
    if (isAuthzTarget(req.url)) {
      await handleAuthz(req, res, state, started);
      return;
    }
    let granted: Granted;
    try {
      granted = await authorize(req.method ?? 'GET', req.url, req, state);
    } catch (error) {
      const refusal = asGatewayError(error);
      // A refusal never invites the body: the connection closes after the answer instead.
      if (expectsContinue) res.shouldKeepAlive = false;
      sendError(res, refusal);
      access({ started, method: req.method ?? '', path, ...context(error), status: refusal.status, error: refusal });
      return;
    }
    if (expectsContinue) res.writeContinue();
    const outcome = await forwarder.forward(req, res, granted.route, granted.token, fromOf(req, granted.host), state.config.stripHeaders);
    if (outcome.failure) metrics.upstreamFailure(granted.route.name, outcome.failure);
    access({
      started,
      method: req.method ?? '',
      path,
      route: granted.route,
      caller: granted.caller,
      status: outcome.status,
      ...(outcome.error && { error: outcome.error }),
    });
  };

  const handleAuthz = async (req: IncomingMessage, res: ServerResponse, state: Live, started: number): Promise<void> => {
    const allow = state.config.authz;
    const address = normalizeAddress(req.socket.remoteAddress);
    const original = originalRequest(req);
    const path = (original.target ?? '').split('?')[0]!;
    if (allow === null || (allow.allowFrom !== 'any' && !allow.allowFrom.has(address))) {
      const refusal =
        allow === null
          ? new GatewayError(404, 'not_found', `the authorization endpoint ${AUTHZ_PATH} is turned off (authz.enabled)`)
          : new GatewayError(403, 'forbidden', `the authorization endpoint answers the proxies listed in authz.allowFrom only, not ${address}`);
      sendError(res, refusal);
      access({ started, kind: 'authz', method: original.method, path, status: refusal.status, error: refusal });
      return;
    }
    if (original.problem !== undefined) {
      // 403, not 400: nginx's auth_request turns any status but 401 and 403 into a 500.
      const refusal = new GatewayError(403, 'forbidden', original.problem);
      sendError(res, refusal);
      access({ started, kind: 'authz', method: original.method, path, status: refusal.status, error: refusal });
      return;
    }
    try {
      const { route, caller, token } = await authorize(original.method, original.target, req, state);
      res.writeHead(200, {
        'x-tessera-principal': caller.principal,
        'x-tessera-token': token,
        authorization: `Bearer ${token}`,
        'x-tessera-route': route.name,
        'cache-control': 'no-store',
        'content-length': 0,
      });
      res.end();
      access({ started, kind: 'authz', method: original.method, path, route, caller, status: 200 });
    } catch (error) {
      let refusal = asGatewayError(error);
      // nginx's auth_request passes 401 and 403 on and turns any other status into a 500: a
      // request the gateway cannot route or read is one it does not allow.
      if (original.via === 'nginx' && (refusal.status === 400 || refusal.status === 404)) refusal = new GatewayError(403, 'forbidden', refusal.message);
      sendError(res, refusal);
      access({ started, kind: 'authz', method: original.method, path, ...context(error), status: refusal.status, error: refusal });
    }
  };

  const handleUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const started = performance.now();
    const state = live;
    const path = (req.url ?? '').split('?')[0]!;
    socket.on('error', () => socket.destroy());
    let granted: Granted;
    try {
      if (isAuthzTarget(req.url)) throw new GatewayError(400, 'invalid_request', `${AUTHZ_PATH} does not upgrade`);
      // Only WebSocket: an h2c (or other) upgrade would open a tunnel whose later requests no route checks.
      if (
        String(req.headers.upgrade ?? '')
          .trim()
          .toLowerCase() !== 'websocket'
      ) {
        throw new GatewayError(400, 'invalid_request', 'only WebSocket upgrades (Upgrade: websocket) are passed');
      }
      granted = await authorize(req.method ?? 'GET', req.url, req, state);
      if (!granted.route.websocket) {
        throw new GatewayError(403, 'forbidden', `route "${granted.route.name}" does not pass WebSocket upgrades (websocket: false)`);
      }
    } catch (error) {
      const refusal = asGatewayError(error);
      writeErrorToSocket(socket, refusal);
      access({ started, kind: 'upgrade', method: req.method ?? '', path, ...context(error), status: refusal.status, error: refusal });
      return;
    }
    const outcome = await forwarder.upgrade(req, socket, head, granted.route, granted.token, fromOf(req, granted.host), state.config.stripHeaders);
    if (outcome.failure) metrics.upstreamFailure(granted.route.name, outcome.failure);
    access({
      started,
      kind: 'upgrade',
      method: req.method ?? '',
      path,
      route: granted.route,
      caller: granted.caller,
      status: outcome.status,
      ...(outcome.error && { error: outcome.error }),
    });
  };

  const listener = (req: IncomingMessage, res: ServerResponse, expectsContinue = false): void => {
    handle(req, res, expectsContinue).catch((error: unknown) => {
      log({ level: 'error', msg: 'request failed', error: String((error as Error)?.stack ?? error) });
      sendError(res, new GatewayError(500, 'server_error', 'the gateway failed on this request; see its log'));
    });
  };
  let server: Server;
  if (config.tls) {
    server = createHttpsServer({ ...secureOptions(config.tls), rejectUnauthorized: false }, listener);
  } else {
    server = createHttpServer(listener);
  }
  // `Expect: 100-continue`: Node would invite the body before anyone looked at the request; the
  // gateway identifies and authorizes the caller first, and invites it only then.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => listener(req, res, true));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handleUpgrade(req, socket, head).catch(() => socket.destroy());
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A caller that went away: nothing to say.
    if (error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    // Body bytes after an answer that ended the connection: the answer is on its way; leave the
    // socket to finish it (destroying it now could reset the connection before the caller reads it).
    if (error.code === 'HPE_CLOSED_CONNECTION') {
      setTimeout(() => socket.destroy(), 5000).unref();
      return;
    }
    if ((socket as Socket).writable && !(socket as TLSSocket).destroyed) {
      const refusal =
        error.code === 'HPE_HEADER_OVERFLOW'
          ? new GatewayError(
              431,
              'invalid_request',
              'the request headers are larger than the gateway accepts (HPE_HEADER_OVERFLOW); send fewer or smaller headers',
            )
          : new GatewayError(400, 'invalid_request', `the request could not be parsed (${error.code ?? 'bad request'})`);
      writeErrorToSocket(socket, refusal);
    } else {
      socket.destroy();
    }
  });
  await listen(server, config.listen.host, config.listen.port);
  const address = server.address() as AddressInfo;
  const url = `${proto}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  let metricsServer: Server | undefined;
  let metricsUrl: string | undefined;
  if (config.metricsListen) {
    const { metricsTotal } = options;
    metricsServer = createHttpServer((req, res) => {
      if (req.url === '/metrics' && metricsTotal) {
        metricsTotal().then(
          (total) => {
            res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
            res.end(renderMetrics(total));
          },
          (error: unknown) => {
            res.writeHead(503, { 'content-type': 'text/plain' });
            res.end(`the workers' counts could not be gathered: ${(error as Error).message}\n`);
          },
        );
      } else if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(metrics.render());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('metrics are at /metrics\n');
      }
    });
    await listen(metricsServer, config.metricsListen.host, config.metricsListen.port);
    metricsUrl = `http://${config.metricsListen.host}:${(metricsServer.address() as AddressInfo).port}/metrics`;
  }

  /** Puts `next`'s routes, mappings, log and header settings (and a changed certificate) in place, or refuses it whole. */
  const apply = (next: GatewayConfig): ApplyOutcome => {
    let tls = live.config.tls;
    if (tls && next.tls && tlsChanged(tls, next.tls)) {
      // New connections get the renewed certificate and CAs; open ones keep theirs.
      try {
        (server as ReturnType<typeof createHttpsServer>).setSecureContext(secureOptions(next.tls));
        tls = next.tls;
      } catch (error) {
        return { applied: false, error: `tls: ${(error as Error).message}` };
      }
    }
    const trust = tls && { tessera: tls.clientCa, external: tls.externalCas, trustDomain: tls.trustDomain, mappings: next.certificateMappings };
    live = {
      config: {
        ...live.config,
        tls,
        routes: next.routes,
        certificateMappings: next.certificateMappings,
        accessLog: next.accessLog,
        stripHeaders: next.stripHeaders,
        authz: next.authz,
      },
      table: createRouteTable(next.routes),
      trust,
    };
    return { applied: true };
  };

  const reload = (): boolean => {
    let next: GatewayConfig;
    try {
      next = loadConfig(live.config.file, options.env ?? {});
    } catch (error) {
      metrics.reload('refused');
      const why = error instanceof GatewayConfigError ? error.message : String(error);
      log({ level: 'error', msg: RELOAD_REFUSED, file: live.config.file, error: why });
      return false;
    }
    const restartOnly = changedRestartSettings(live.config, next);
    const outcome = apply(next);
    if (!outcome.applied) {
      metrics.reload('refused');
      log({ level: 'error', msg: RELOAD_REFUSED, file: live.config.file, error: outcome.error });
      return false;
    }
    metrics.reload('applied');
    const pending = restartOnly.length > 0 && { notApplied: restartOnly, note: 'these settings take effect at the next start' };
    log({ level: 'info', msg: 'config reloaded', routes: next.routes.length, ...pending });
    return true;
  };

  const watching = options.watchConfig === false ? undefined : watchConfigFiles(config, reload);

  if (options.announce !== false)
    log({ level: 'info', msg: 'gateway listening', url, routes: config.routes.length, ...(metricsUrl && { metrics: metricsUrl }) });
  return {
    url,
    metricsUrl,
    reload,
    apply,
    metrics: () => metrics.snapshot(),
    async close() {
      watching?.close();
      await Promise.all([closeServer(server), metricsServer && closeServer(metricsServer)]);
      forwarder.close();
      await southbound.close();
      ownLog?.flush();
    },
  };
}

function asGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return GatewayError.unavailable('the request could not be judged; try again later', (error as Error)?.message ?? String(error));
}

function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * Calls `onChange` (200 ms after the last of a burst of events) when the config file or one of the
 * TLS files it names changes. Directories are watched, not files: editors, config managers and
 * `tessera cert` replace files by renaming.
 */
export function watchConfigFiles(config: GatewayConfig, onChange: () => void): { close(): void } {
  let debounce: ReturnType<typeof setTimeout> | undefined;
  const watchers: FSWatcher[] = [];
  const byDirectory = new Map<string, Set<string>>();
  for (const file of [config.file, ...(config.tls?.files ?? [])]) {
    const names = byDirectory.get(dirname(file)) ?? new Set<string>();
    names.add(basename(file));
    byDirectory.set(dirname(file), names);
  }
  for (const [directory, names] of byDirectory) {
    const watcher = watch(directory, (_event, name) => {
      if (name !== null && !names.has(name)) return;
      clearTimeout(debounce);
      debounce = setTimeout(onChange, 200);
    });
    watcher.unref();
    watchers.push(watcher);
  }
  return {
    close() {
      for (const w of watchers) w.close();
      clearTimeout(debounce);
    },
  };
}

/** The settings of `b` that differ from `a` and that a reload does not apply. */
export function changedRestartSettings(a: GatewayConfig, b: GatewayConfig): string[] {
  const changed: string[] = [];
  if (a.listen.url !== b.listen.url) changed.push('listen');
  if (JSON.stringify(a.tessera) !== JSON.stringify(b.tessera)) changed.push('tessera');
  if (JSON.stringify(a.metricsListen) !== JSON.stringify(b.metricsListen)) changed.push('metricsListen');
  if ((a.tls === undefined) !== (b.tls === undefined)) changed.push('tls');
  if (a.workers !== b.workers) changed.push('workers');
  return changed;
}

type Tls = NonNullable<GatewayConfig['tls']>;

export function secureOptions(tls: Tls): { cert: string; key: string; ca?: string[]; requestCert?: boolean } {
  const cas = [...tls.clientCa, ...tls.externalCas].map((cert) => cert.toString());
  return { cert: tls.cert, key: tls.key, ...(cas.length > 0 && { ca: cas, requestCert: true }) };
}

function tlsChanged(a: Tls, b: Tls): boolean {
  const fingerprints = (certs: readonly { fingerprint256: string }[]): string => certs.map((c) => c.fingerprint256).join(',');
  return (
    a.cert !== b.cert ||
    a.key !== b.key ||
    a.trustDomain !== b.trustDomain ||
    fingerprints(a.clientCa) !== fingerprints(b.clientCa) ||
    fingerprints(a.externalCas) !== fingerprints(b.externalCas)
  );
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 5000).unref();
  });
}
