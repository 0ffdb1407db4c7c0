// The gateway's configuration: one JSON file (`--config`), a few settings also from TESSERA_GATEWAY_*
// variables (which win), checked whole before anything listens. Every mistake is a
// GatewayConfigError naming the setting and saying what to write instead, so a bad file stops the
// start, and a bad reload is refused with the running configuration kept (docs/gateway.md).

import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createVerifier } from '@tessera/sdk';

export class GatewayConfigError extends Error {
  override readonly name = 'GatewayConfigError';
}

export interface RouteConfig {
  /** For logs and metrics: `name`, or `<host or *> <pathPrefix>`. */
  name: string;
  /** Lower case, without port; undefined matches any Host. */
  host: string | undefined;
  /** Starts with `/`, no trailing `/` (except the root itself). */
  pathPrefix: string;
  /** Upper-case methods, or null for any. */
  methods: ReadonlySet<string> | null;
  upstream: URL;
  audience: string;
  /** Scope items the caller must hold, every one, all of the audience's domain (`<d>:role.<r>`). */
  require: readonly string[];
  /** What the upstream's token is asked for: the required items. */
  southboundScope: string;
  /** Until the upstream's response headers, in ms. */
  timeoutMs: number;
  websocket: boolean;
  /**
   * Bearer tokens a service obtained for the caller (an `act` chain) that this route accepts; undefined
   * (the default) accepts only tokens issued to the caller itself. Never the gateway's own tokens.
   */
  acceptDelegated: { maxDepth: number; allowedActors: readonly string[] } | undefined;
}

export interface CertificateMapping {
  /** SHA-256 fingerprints (hex) of the external CAs whose certificates this rule maps. */
  cas: ReadonlySet<string>;
  /** RDNs as `TYPE=value`, in certificate order (either order of the configured string is accepted). */
  subject: readonly string[] | undefined;
  san: string | undefined;
  fingerprint: string | undefined;
  principal: string;
}

export interface GatewayConfig {
  listen: { protocol: 'http:' | 'https:'; host: string; port: number; url: string };
  tls:
    | {
        cert: string;
        key: string;
        /** Tessera's CA bundle: its certificates name their principal by SPIFFE URI SAN. */
        clientCa: X509Certificate[];
        /** Other CAs, whose certificates name a principal only through `certificateMappings`. */
        externalCas: X509Certificate[];
        trustDomain: string;
        /** The files read for the above, watched for changes (a renewed certificate). */
        files: string[];
      }
    | undefined;
  tessera: {
    url: string;
    /** `iss` of callers' tokens: `tessera.issuer`, by default the URL. */
    issuer: string;
    jwksUri: string;
    ca: string | undefined;
    clientId: string;
    clientSecret: string;
    tokenEndpoint: string;
    introspectionEndpoint: string;
    algorithms: string[];
    /** Seconds an API key's introspection answer is reused. */
    apiKeyCacheTtl: number;
    /** Seconds an upstream token is reused for a caller before Tessera is asked (and judges the caller's roles) again. */
    identityRecheck: number;
  };
  certificateMappings: CertificateMapping[];
  routes: RouteConfig[];
  metricsListen: { host: string; port: number } | undefined;
  accessLog: boolean;
  /** The authorization endpoint (`/authz`) answers these addresses only; null when it is off. */
  authz: { allowFrom: ReadonlySet<string> | 'any' } | null;
  /** Headers the caller sent that never reach the upstream (lower case, `_` read as `-`), beyond the built-in list. */
  stripHeaders: readonly string[];
  /** Processes that serve (`workers`, TESSERA_GATEWAY_WORKERS, --workers): 1 serves from the process itself. */
  workers: number;
  /** The file it was read from, for reloads. */
  file: string;
}

/** Settings from the environment; each overrides the file's. */
export const ENVIRONMENT: Readonly<Record<string, string>> = {
  TESSERA_GATEWAY_CONFIG: 'the config file (instead of --config)',
  TESSERA_GATEWAY_LISTEN: 'listen',
  TESSERA_GATEWAY_TESSERA_URL: 'tessera.url',
  TESSERA_GATEWAY_TESSERA_CA: 'tessera.ca',
  TESSERA_GATEWAY_CLIENT_ID: 'tessera.clientId',
  TESSERA_GATEWAY_CLIENT_SECRET_FILE: 'tessera.clientSecretFile',
  TESSERA_GATEWAY_METRICS_LISTEN: 'metricsListen',
  TESSERA_GATEWAY_WORKERS: 'workers',
};

/** More worker processes than this is a typo: each holds its own caches, upstream connections and memory. */
export const MAX_WORKERS = 256;

/**
 * `auto` (one per core, as `os.availableParallelism()` counts them) or a whole number from 1 to
 * MAX_WORKERS, as a number (the file) or as text (the flag, the variable); `where` names the source.
 */
export function parseWorkers(value: unknown, where: string, cores: () => number = availableParallelism): number {
  if (value === 'auto') return Math.min(Math.max(1, cores()), MAX_WORKERS);
  const number = typeof value === 'string' && /^\s*[+-]?\d+(\.\d*)?\s*$/.test(value) ? Number(value) : value;
  if (typeof number === 'number' && Number.isSafeInteger(number) && number >= 1 && number <= MAX_WORKERS) return number;
  const got = typeof value === 'string' ? `"${value}"` : JSON.stringify(value);
  const why =
    typeof number === 'number' && Number.isInteger(number) && number < 1
      ? 'at least one process must serve'
      : typeof number === 'number' && Number.isInteger(number) && number > MAX_WORKERS
        ? `more than ${MAX_WORKERS} is refused as a likely typo`
        : 'it is not a whole number';
  throw new GatewayConfigError(
    `${where} must be "auto" (one worker process per core) or a whole number of worker processes from 1 to ${MAX_WORKERS}, not ${got} (${why})`,
  );
}

const DEFAULT_TIMEOUT_MS = 30_000;
const PRINCIPAL = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$/;
const DOMAIN = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;
const ROLE_ITEM = /^([a-z0-9][a-z0-9_.-]*):(?:role\.)?([a-z0-9_][a-z0-9_.-]*)$/;
const METHOD = /^[A-Z]+$/;

type Json = Record<string, unknown>;

/** Reads and checks the config file; `env` overrides some settings (ENVIRONMENT). */
export function loadConfig(file: string, env: Readonly<Record<string, string | undefined>> = {}): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new GatewayConfigError(`cannot read the config file ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new GatewayConfigError(`the config file ${file} is not JSON: ${(error as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new GatewayConfigError(`the config file ${file} must hold a JSON object`);
  return parseConfig(raw as Json, { base: dirname(resolve(file)), env, file: resolve(file) });
}

export function parseConfig(raw: Json, context: { base: string; env: Readonly<Record<string, string | undefined>>; file: string }): GatewayConfig {
  const { base, env } = context;
  const path = (value: string): string => (isAbsolute(value) ? value : resolve(base, value));
  const read = (value: unknown, where: string): string => {
    const name = str(value, where);
    try {
      return readFileSync(path(name), 'utf8');
    } catch (error) {
      throw new GatewayConfigError(`${where}: cannot read ${path(name)}: ${(error as Error).message}`);
    }
  };
  const known = new Set([
    'listen',
    'tls',
    'tessera',
    'routes',
    'certificateMappings',
    'metricsListen',
    'accessLog',
    'stripHeaders',
    'authz',
    'workers',
    '$comment',
  ]);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) {
      throw new GatewayConfigError(`unknown setting "${key}"; the settings are ${[...known].filter((k) => k !== '$comment').join(', ')}`);
    }
  }

  const listen = parseListen(env['TESSERA_GATEWAY_LISTEN'] ?? raw['listen']);
  let tls: GatewayConfig['tls'];
  if (listen.protocol === 'https:') {
    const t = obj(raw['tls'], 'tls', 'listen is https: give "tls": { "cert", "key", "clientCa" }');
    const clientCa = t['clientCa'] === undefined ? [] : certificates(read(t['clientCa'], 'tls.clientCa'), 'tls.clientCa');
    const externalFiles = list(t['externalCas'] ?? [], 'tls.externalCas');
    const externalCas = externalFiles.flatMap((file, i) => certificates(read(file, `tls.externalCas[${i}]`), `tls.externalCas[${i}]`));
    const trustDomain = t['trustDomain'] === undefined ? 'tessera.local' : str(t['trustDomain'], 'tls.trustDomain');
    const files = [t['cert'], t['key'], t['clientCa'], ...externalFiles].filter((f): f is string => typeof f === 'string').map(path);
    tls = { cert: read(t['cert'], 'tls.cert'), key: read(t['key'], 'tls.key'), clientCa, externalCas, trustDomain, files };
  } else {
    if (raw['tls'] !== undefined) throw new GatewayConfigError('"tls" is set but listen is http://; listen on https:// or remove "tls"');
    if (!isLoopback(listen.host)) {
      throw new GatewayConfigError(
        `listen is plain http on ${listen.host}: http is allowed on loopback only (behind a TLS terminator on the same host); listen on https:// otherwise`,
      );
    }
  }

  const t = obj(raw['tessera'], 'tessera', 'give "tessera": { "url", "clientId", "clientSecretFile" }');
  const url = str(env['TESSERA_GATEWAY_TESSERA_URL'] ?? t['url'], 'tessera.url').replace(/\/+$/, '');
  checkUrl(url, 'tessera.url');
  const caFile = env['TESSERA_GATEWAY_TESSERA_CA'] ?? t['ca'];
  const secretFile = env['TESSERA_GATEWAY_CLIENT_SECRET_FILE'] ?? t['clientSecretFile'];
  const clientSecret = read(secretFile, 'tessera.clientSecretFile').trim();
  if (clientSecret === '') throw new GatewayConfigError("tessera.clientSecretFile is empty; write the gateway service's client secret into it");
  const clientId = str(env['TESSERA_GATEWAY_CLIENT_ID'] ?? t['clientId'], 'tessera.clientId');
  if (!PRINCIPAL.test(clientId)) throw new GatewayConfigError(`tessera.clientId "${clientId}" is not a principal; write "<domain>.<service>", e.g. "edge.gw"`);
  const tokenEndpoint = t['tokenEndpoint'] === undefined ? `${url}/oauth2/token` : str(t['tokenEndpoint'], 'tessera.tokenEndpoint');
  checkUrl(tokenEndpoint, 'tessera.tokenEndpoint');
  const introspectionEndpoint =
    t['introspectionEndpoint'] === undefined ? `${url}/oauth2/introspect` : str(t['introspectionEndpoint'], 'tessera.introspectionEndpoint');
  checkUrl(introspectionEndpoint, 'tessera.introspectionEndpoint');
  const algorithms = t['algorithms'] === undefined ? ['ES256', 'EdDSA', 'RS256'] : list(t['algorithms'], 'tessera.algorithms');
  const apiKeyCacheTtl = t['apiKeyCacheTtl'] === undefined ? 10 : num(t['apiKeyCacheTtl'], 'tessera.apiKeyCacheTtl', 0, 300);
  const identityRecheck =
    t['identityRecheck'] === undefined
      ? 10
      : num(t['identityRecheck'], 'tessera.identityRecheck', 0, 300, {
          unit: 'seconds',
          why: "how long an upstream token is reused before Tessera checks the caller's roles again; default 10",
        });
  const issuer = t['issuer'] === undefined ? url : str(t['issuer'], 'tessera.issuer');
  checkUrl(issuer, 'tessera.issuer');
  const jwksUri = t['jwksUri'] === undefined ? `${url}/oauth2/keys` : str(t['jwksUri'], 'tessera.jwksUri');
  checkUrl(jwksUri, 'tessera.jwksUri');
  const tessera = {
    url,
    issuer,
    jwksUri,
    ca: caFile === undefined ? undefined : read(caFile, 'tessera.ca'),
    clientId,
    clientSecret,
    tokenEndpoint,
    introspectionEndpoint,
    algorithms,
    apiKeyCacheTtl,
    identityRecheck,
  };
  // The SDK checks the verifier's settings (URLs, algorithms) the same way it will use them.
  try {
    createVerifier({ issuer, jwksUri, audience: 'check', algorithms, ca: tessera.ca, apiKeys: { clientId, clientSecret, cacheTtl: apiKeyCacheTtl } });
  } catch (error) {
    throw new GatewayConfigError(`tessera: ${(error as Error).message}`);
  }

  const externalByFile = new Map<string, X509Certificate[]>();
  const certificateMappings = list(raw['certificateMappings'] ?? [], 'certificateMappings', true).map((entry, i) => {
    const where = `certificateMappings[${i}]`;
    const m = obj(entry, where, 'a mapping is { "cas": [...], "subject" | "san" | "fingerprint", "principal" }');
    const cas = list(m['cas'], `${where}.cas`);
    if (cas.length === 0) throw new GatewayConfigError(`${where}.cas is empty; name the tls.externalCas files whose certificates this rule maps`);
    const externalFiles = list((raw['tls'] as Json | undefined)?.['externalCas'] ?? [], 'tls.externalCas').map(path);
    const fingerprints = new Set<string>();
    for (const file of cas) {
      if (!externalFiles.includes(path(file))) {
        throw new GatewayConfigError(`${where}.cas names ${file}, which is not in tls.externalCas; a rule maps certificates of external CAs only`);
      }
      const certs = externalByFile.get(path(file)) ?? certificates(read(file, `${where}.cas`), `${where}.cas`);
      externalByFile.set(path(file), certs);
      for (const cert of certs) fingerprints.add(fingerprintOf(cert));
    }
    const principal = str(m['principal'], `${where}.principal`);
    if (!PRINCIPAL.test(principal)) throw new GatewayConfigError(`${where}.principal "${principal}" is not a principal; write "<domain>.<service>"`);
    const subject = m['subject'] === undefined ? undefined : parseDn(str(m['subject'], `${where}.subject`), `${where}.subject`);
    const san = m['san'] === undefined ? undefined : str(m['san'], `${where}.san`);
    let fingerprint: string | undefined;
    if (m['fingerprint'] !== undefined) {
      fingerprint = str(m['fingerprint'], `${where}.fingerprint`).replaceAll(':', '').toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(fingerprint)) {
        throw new GatewayConfigError(`${where}.fingerprint must be the SHA-256 of the DER certificate in hex (64 digits, colons allowed)`);
      }
    }
    if (subject === undefined && san === undefined && fingerprint === undefined) {
      throw new GatewayConfigError(`${where} would map every certificate of its CAs; give at least one of subject, san or fingerprint`);
    }
    return { cas: fingerprints, subject, san, fingerprint, principal };
  });

  const routesRaw = list(raw['routes'], 'routes', true);
  if (routesRaw.length === 0) throw new GatewayConfigError('"routes" is empty: with no route every request is refused; add at least one');
  const routes = routesRaw.map((entry, i) => parseRoute(entry, `routes[${i}]`, clientId));
  const seen = new Map<string, string>();
  for (const route of routes) {
    for (const method of route.methods ?? ['*']) {
      const key = `${route.host ?? '*'} ${method} ${route.pathPrefix}`;
      const other = seen.get(key);
      if (other !== undefined) {
        const on = route.host ? ` on ${route.host}` : '';
        throw new GatewayConfigError(`routes "${other}" and "${route.name}" both match ${method} ${route.pathPrefix}${on}; merge them`);
      }
      seen.set(key, route.name);
    }
  }

  const metricsRaw = env['TESSERA_GATEWAY_METRICS_LISTEN'] ?? raw['metricsListen'];
  let metricsListen: GatewayConfig['metricsListen'];
  if (metricsRaw !== undefined) {
    const m = parseListen(metricsRaw, 'metricsListen');
    if (m.protocol !== 'http:') throw new GatewayConfigError('metricsListen must be http://host:port (scraped from inside the host or network)');
    metricsListen = { host: m.host, port: m.port };
  }
  const accessLog = raw['accessLog'] === undefined ? true : bool(raw['accessLog'], 'accessLog');
  // Compared with underscores read as dashes, as the built-in list is (proxy/headers.ts).
  const stripHeaders = list(raw['stripHeaders'] ?? [], 'stripHeaders').map((h) => h.toLowerCase().replaceAll('_', '-'));
  let authz: GatewayConfig['authz'] = { allowFrom: new Set(['127.0.0.1', '::1']) };
  if (raw['authz'] !== undefined) {
    const a = obj(raw['authz'], 'authz', 'write "authz": { "enabled": true, "allowFrom": ["127.0.0.1"] }');
    const enabled = a['enabled'] === undefined ? true : bool(a['enabled'], 'authz.enabled');
    const allowFrom = a['allowFrom'] === undefined ? ['127.0.0.1', '::1'] : list(a['allowFrom'], 'authz.allowFrom');
    for (const address of allowFrom) {
      if (address !== '*' && !isIP(address)) {
        throw new GatewayConfigError(`authz.allowFrom: "${address}" is not an IP address (or "*" for any, which lets every caller mint upstream tokens)`);
      }
    }
    authz = enabled ? { allowFrom: allowFrom.includes('*') ? 'any' : new Set(allowFrom) } : null;
  }
  const workersEnv = env['TESSERA_GATEWAY_WORKERS'];
  const workers =
    workersEnv !== undefined ? parseWorkers(workersEnv, 'TESSERA_GATEWAY_WORKERS') : raw['workers'] === undefined ? 1 : parseWorkers(raw['workers'], 'workers');
  return { listen, tls, tessera, certificateMappings, routes, metricsListen, accessLog, authz, stripHeaders, workers, file: context.file };
}

function parseRoute(entry: unknown, where: string, gateway: string): RouteConfig {
  const r = obj(entry, where, 'a route is { "pathPrefix", "methods", "upstream", "audience", "require": { "scope": [...] } }');
  const known = new Set(['name', 'host', 'pathPrefix', 'methods', 'upstream', 'audience', 'require', 'timeoutMs', 'websocket', 'acceptDelegated']);
  for (const key of Object.keys(r)) {
    if (!known.has(key)) {
      throw new GatewayConfigError(`${where}: unknown setting "${key}"; a route has ${[...known].join(', ')}`);
    }
  }
  const prefix = str(r['pathPrefix'], `${where}.pathPrefix`);
  if (!prefix.startsWith('/')) throw new GatewayConfigError(`${where}.pathPrefix "${prefix}" must start with "/"`);
  const segments = prefix.split('/').slice(1);
  if (/[%;\\?#\s]/.test(prefix) || segments.some((s, i) => s === '.' || s === '..' || (s === '' && i < segments.length - 1))) {
    throw new GatewayConfigError(`${where}.pathPrefix "${prefix}" must be a plain path: no "%", ";", "\\", "?", "#", spaces, empty, "." or ".." segments`);
  }
  const pathPrefix = prefix.length > 1 ? prefix.replace(/\/+$/, '') : prefix;
  let methods: Set<string> | null;
  const methodList = list(r['methods'], `${where}.methods`);
  if (methodList.length === 0) throw new GatewayConfigError(`${where}.methods is empty; list the methods (e.g. ["GET", "HEAD"]) or ["*"] for any`);
  if (methodList.includes('*')) {
    if (methodList.length > 1) throw new GatewayConfigError(`${where}.methods: "*" stands alone`);
    methods = null;
  } else {
    methods = new Set(methodList.map((m) => m.toUpperCase()));
    for (const m of methods) if (!METHOD.test(m)) throw new GatewayConfigError(`${where}.methods: "${m}" is not an HTTP method`);
  }
  const upstreamText = str(r['upstream'], `${where}.upstream`);
  let upstream: URL;
  try {
    upstream = new URL(upstreamText);
  } catch {
    throw new GatewayConfigError(`${where}.upstream "${upstreamText}" is not a URL; write e.g. "http://127.0.0.1:7001"`);
  }
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') throw new GatewayConfigError(`${where}.upstream must be http:// or https://`);
  if (upstream.search || upstream.hash || upstream.username || upstream.password) {
    throw new GatewayConfigError(`${where}.upstream may hold a scheme, host, port and path only`);
  }
  const audience = str(r['audience'], `${where}.audience`);
  if (!DOMAIN.test(audience)) throw new GatewayConfigError(`${where}.audience "${audience}" is not a Tessera domain name`);
  const req = obj(r['require'], `${where}.require`, 'give "require": { "scope": ["<domain>:role.<role>", ...] }');
  const scope = list(req['scope'], `${where}.require.scope`);
  if (scope.length === 0) {
    throw new GatewayConfigError(`${where}.require.scope is empty; name the role(s) a caller must hold, e.g. ["${audience}:role.readers"]`);
  }
  const require = scope.map((item) => {
    const match = ROLE_ITEM.exec(item);
    if (!match) throw new GatewayConfigError(`${where}.require.scope: "${item}" is not "<domain>:role.<role>" or "<domain>:<role>"`);
    if (match[1] !== audience) {
      throw new GatewayConfigError(
        `${where}.require.scope: "${item}" is a role of ${match[1]}, but the route's audience is ${audience}; ` +
          `a caller's token for ${audience} carries roles of ${audience} only`,
      );
    }
    return `${match[1]}:role.${match[2]}`;
  });
  const host = r['host'] === undefined ? undefined : str(r['host'], `${where}.host`).toLowerCase().replace(/\.$/, '');
  if (host !== undefined && !/^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$/.test(host)) {
    throw new GatewayConfigError(`${where}.host "${host}" must be a host name without port`);
  }
  const timeoutMs = r['timeoutMs'] === undefined ? DEFAULT_TIMEOUT_MS : num(r['timeoutMs'], `${where}.timeoutMs`, 1, 3_600_000);
  const websocket = r['websocket'] === undefined ? true : bool(r['websocket'], `${where}.websocket`);
  const name = r['name'] === undefined ? `${host ?? '*'} ${pathPrefix}` : str(r['name'], `${where}.name`);
  const required = [...new Set(require)];
  const acceptDelegated = r['acceptDelegated'] === undefined ? undefined : parseAcceptDelegated(r['acceptDelegated'], `${where}.acceptDelegated`, gateway);
  return {
    name,
    host,
    pathPrefix,
    methods,
    upstream,
    audience,
    require: required,
    southboundScope: [...required].sort().join(' '),
    timeoutMs,
    websocket,
    acceptDelegated,
  };
}

/** `{ "maxDepth"?: 1…8, "allowedActors": [principals] }`: the gateway itself may never be one of them. */
function parseAcceptDelegated(value: unknown, where: string, gateway: string): NonNullable<RouteConfig['acceptDelegated']> {
  const hint = 'write "acceptDelegated": { "maxDepth": 1, "allowedActors": ["<domain>.<service>"] } to accept tokens those services got for callers';
  const a = obj(value, where, hint);
  for (const key of Object.keys(a)) {
    if (key !== 'maxDepth' && key !== 'allowedActors') throw new GatewayConfigError(`${where}: unknown setting "${key}"; it has maxDepth and allowedActors`);
  }
  const maxDepth = a['maxDepth'] === undefined ? 1 : num(a['maxDepth'], `${where}.maxDepth`, 1, 8);
  if (!Number.isInteger(maxDepth)) throw new GatewayConfigError(`${where}.maxDepth must be a whole number from 1 to 8`);
  if (a['allowedActors'] === undefined) {
    throw new GatewayConfigError(`${where}.allowedActors is missing; name the services whose tokens obtained for a caller this route accepts`);
  }
  const allowedActors = list(a['allowedActors'], `${where}.allowedActors`);
  if (allowedActors.length === 0) throw new GatewayConfigError(`${where}.allowedActors is empty; name at least one service, or remove acceptDelegated`);
  for (const actor of allowedActors) {
    if (!PRINCIPAL.test(actor)) throw new GatewayConfigError(`${where}.allowedActors: "${actor}" is not a principal; write "<domain>.<service>"`);
    if (actor === gateway) {
      throw new GatewayConfigError(
        `${where}.allowedActors names the gateway itself (${gateway}): its upstream tokens are never accepted from callers; remove it`,
      );
    }
  }
  return { maxDepth, allowedActors: [...new Set(allowedActors)] };
}

function parseListen(value: unknown, where = 'listen'): GatewayConfig['listen'] {
  const text = str(value, where);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new GatewayConfigError(`${where} "${text}" is not a URL; write https://host:port or http://127.0.0.1:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GatewayConfigError(`${where} must be https://host:port or http://host:port`);
  if (url.pathname !== '/' || url.search || url.hash) throw new GatewayConfigError(`${where} is a scheme, host and port only`);
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { protocol: url.protocol, host, port, url: text };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

function checkUrl(value: string, where: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GatewayConfigError(`${where} "${value}" is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname.replace(/^\[|\]$/g, '')))) {
    throw new GatewayConfigError(`${where} must be https:// (http:// only to loopback): the gateway's secret and its callers' tokens travel there`);
  }
}

/** RFC 4514 `CN=billing,O=Partner` → ['CN=billing', 'O=Partner']; multi-valued RDNs and escapes are not supported. */
function parseDn(text: string, where: string): string[] {
  if (/[+\\"]/.test(text)) {
    throw new GatewayConfigError(`${where}: multi-valued RDNs ("+"), escapes and quotes are not supported; match such a certificate by san or fingerprint`);
  }
  const rdns = text.split(',').map((part) => part.trim());
  for (const rdn of rdns) {
    if (!/^[A-Za-z][A-Za-z0-9.-]*=.+$/.test(rdn)) {
      throw new GatewayConfigError(`${where} "${text}" is not a distinguished name; write e.g. "CN=billing,O=Example Corp"`);
    }
  }
  return rdns.map((rdn) => {
    const eq = rdn.indexOf('=');
    return `${rdn.slice(0, eq).toUpperCase()}=${rdn.slice(eq + 1)}`;
  });
}

export function fingerprintOf(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

function certificates(pem: string, where: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new GatewayConfigError(`${where} holds no PEM certificate`);
  return blocks.map((block) => {
    try {
      const cert = new X509Certificate(block);
      if (!cert.ca) throw new Error('it is not a CA certificate (basicConstraints CA:TRUE)');
      return cert;
    } catch (error) {
      throw new GatewayConfigError(`${where}: a certificate cannot be used: ${(error as Error).message}`);
    }
  });
}

function obj(value: unknown, where: string, hint: string): Json {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new GatewayConfigError(`${where} is missing or not an object; ${hint}`);
  return value as Json;
}

function str(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new GatewayConfigError(`${where} must be a non-empty string`);
  return value;
}

/** `detail`: the unit, and what the setting does, for the refusal's sentence. */
function num(value: unknown, where: string, min: number, max: number, detail: { unit?: string; why?: string } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const unit = detail.unit === undefined ? '' : ` of ${detail.unit}`;
    const why = detail.why === undefined ? '' : ` (${detail.why})`;
    throw new GatewayConfigError(`${where} must be a number${unit} from ${min} to ${max}${why}, not ${JSON.stringify(value)}`);
  }
  return value;
}

function bool(value: unknown, where: string): boolean {
  if (typeof value !== 'boolean') throw new GatewayConfigError(`${where} must be true or false`);
  return value;
}

function list(value: unknown, where: string): string[];
function list(value: unknown, where: string, objects: true): unknown[];
function list(value: unknown, where: string, objects = false): unknown[] {
  if (!Array.isArray(value)) throw new GatewayConfigError(`${where} must be an array`);
  if (!objects) for (const item of value) if (typeof item !== 'string' || item === '') throw new GatewayConfigError(`${where} must hold non-empty strings`);
  return value;
}
