// Every setting once, with the flag and environment variable that set it; the config-file key is
// the setting's own dotted path (`tokens.maxLifetime` is `{"tokens": {"maxLifetime": …}}`).
// Each source becomes a layer of raw values that remember where they came from, so that an
// error can point at the exact flag, variable or file to fix.

import { DEFAULTS } from './config.ts';

export const SETTINGS = [
  { key: 'dataDir', flag: 'dataDir', env: 'TESSERA_DATA_DIR' },
  { key: 'listen', flag: 'listen', env: 'TESSERA_LISTEN' },
  { key: 'issuer', flag: 'issuer', env: 'TESSERA_ISSUER' },
  // `--tls-name` is repeatable; the CLI joins its values with commas, as the environment lists them.
  { key: 'tls.names', flag: 'tlsName', env: 'TESSERA_TLS_NAMES' },
  { key: 'tls.certFile', flag: 'tlsCert', env: 'TESSERA_TLS_CERT' },
  { key: 'tls.keyFile', flag: 'tlsKey', env: 'TESSERA_TLS_KEY' },
  { key: 'database', flag: 'database', env: 'TESSERA_DATABASE' },
  { key: 'sharedDataDir', flag: 'sharedDataDir', env: 'TESSERA_SHARED_DATA_DIR' },
  { key: 'databasePoolSize', env: 'TESSERA_DATABASE_POOL_SIZE' },
  { key: 'masterKeyFile', flag: 'masterKeyFile', env: 'TESSERA_MASTER_KEY_FILE' },
  { key: 'logLevel', flag: 'logLevel', env: 'TESSERA_LOG_LEVEL' },
  { key: 'logFormat', flag: 'logFormat', env: 'TESSERA_LOG_FORMAT' },
  { key: 'workers', flag: 'workers', env: 'TESSERA_WORKERS' },
  { key: 'workerDistribution', flag: 'workerDistribution', env: 'TESSERA_WORKER_DISTRIBUTION' },
  { key: 'tokens.defaultLifetime', env: 'TESSERA_TOKEN_DEFAULT_LIFETIME' },
  { key: 'tokens.maxLifetime', env: 'TESSERA_TOKEN_MAX_LIFETIME' },
  { key: 'signing.alg', flag: 'signingAlg', env: 'TESSERA_SIGNING_ALG' },
  { key: 'signing.rotationInterval', env: 'TESSERA_SIGNING_ROTATION_INTERVAL' },
  { key: 'signing.prePublication', env: 'TESSERA_SIGNING_PRE_PUBLICATION' },
  { key: 'signing.jwksMaxAge', env: 'TESSERA_JWKS_MAX_AGE' },
  { key: 'signing.checkInterval', env: 'TESSERA_SIGNING_CHECK_INTERVAL' },
  { key: 'signing.thread', env: 'TESSERA_SIGNING_THREAD' },
  { key: 'clockSkew', env: 'TESSERA_CLOCK_SKEW' },
  { key: 'bodyLimit', env: 'TESSERA_BODY_LIMIT' },
  { key: 'trustedProxies', env: 'TESSERA_TRUSTED_PROXIES' },
  { key: 'rateLimits.client.rate', env: 'TESSERA_RATE_LIMIT_CLIENT' },
  { key: 'rateLimits.client.burst', env: 'TESSERA_RATE_LIMIT_CLIENT_BURST' },
  { key: 'rateLimits.ip.rate', env: 'TESSERA_RATE_LIMIT_IP' },
  { key: 'rateLimits.ip.burst', env: 'TESSERA_RATE_LIMIT_IP_BURST' },
  { key: 'consoleSignInRateLimit.rate', env: 'TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN' },
  { key: 'consoleSignInRateLimit.burst', env: 'TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN_BURST' },
  { key: 'alerts.failureThreshold', env: 'TESSERA_ALERT_FAILURE_THRESHOLD' },
  { key: 'alerts.failureWindow', env: 'TESSERA_ALERT_FAILURE_WINDOW' },
  { key: 'alerts.webhookUrl', env: 'TESSERA_ALERT_WEBHOOK_URL' },
  { key: 'tokenReuse.enabled', env: 'TESSERA_TOKEN_REUSE' },
  { key: 'tokenReuse.window', env: 'TESSERA_TOKEN_REUSE_WINDOW' },
  { key: 'tokenExchange.maxDepth', env: 'TESSERA_TOKEN_EXCHANGE_MAX_DEPTH' },
  { key: 'registryCache.maxClients', env: 'TESSERA_REGISTRY_CACHE_MAX_CLIENTS' },
  { key: 'serviceAccounts.domain', env: 'TESSERA_SERVICE_ACCOUNTS_DOMAIN' },
  { key: 'ca.trustDomain', env: 'TESSERA_TRUST_DOMAIN' },
  { key: 'ca.dnsSuffix', env: 'TESSERA_CA_DNS_SUFFIX' },
  { key: 'ca.certLifetime', env: 'TESSERA_CA_CERT_LIFETIME' },
  { key: 'ca.maxCertLifetime', env: 'TESSERA_CA_MAX_CERT_LIFETIME' },
  { key: 'ca.prePublication', env: 'TESSERA_CA_PRE_PUBLICATION' },
  { key: 'ca.import.keyFile', env: 'TESSERA_CA_KEY_FILE' },
  { key: 'ca.import.chainFile', env: 'TESSERA_CA_CHAIN_FILE' },
  { key: 'mtls.externalCas', env: 'TESSERA_MTLS_EXTERNAL_CAS' },
  { key: 'mtls.proxyCertHeader', env: 'TESSERA_MTLS_PROXY_CERT_HEADER' },
  { key: 'joinTokens.defaultTtl', env: 'TESSERA_JOIN_TOKEN_TTL' },
  { key: 'joinTokens.maxTtl', env: 'TESSERA_JOIN_TOKEN_MAX_TTL' },
  // Lists of objects are read from the config file only: an environment variable is no place
  // for structured rules that need their own error messages per field.
  { key: 'oidcProofs' },
  { key: 'certLogin.enabled', env: 'TESSERA_CERT_LOGIN' },
  { key: 'certLogin.requireClientAuthEku' },
  { key: 'certLogin.trustedCas' },
  { key: 'certLogin.mappings' },
  { key: 'console.enabled', env: 'TESSERA_CONSOLE' },
  { key: 'console.oidc' },
  { key: 'audit.retention.tokenEvents', env: 'TESSERA_AUDIT_RETENTION_TOKEN_EVENTS' },
  { key: 'audit.retention.summaries', env: 'TESSERA_AUDIT_RETENTION_SUMMARIES' },
  { key: 'audit.retention.adminEvents', env: 'TESSERA_AUDIT_RETENTION_ADMIN_EVENTS' },
  { key: 'audit.retention.callers', env: 'TESSERA_AUDIT_RETENTION_CALLERS' },
  { key: 'audit.summaryInterval', env: 'TESSERA_AUDIT_SUMMARY_INTERVAL' },
  { key: 'connections.max', env: 'TESSERA_MAX_CONNECTIONS' },
  { key: 'connections.maxPerAddress', env: 'TESSERA_MAX_CONNECTIONS_PER_ADDRESS' },
  { key: 'connections.handshakeTimeout', env: 'TESSERA_HANDSHAKE_TIMEOUT' },
  { key: 'connections.headersTimeout', env: 'TESSERA_HEADERS_TIMEOUT' },
  { key: 'connections.requestTimeout', env: 'TESSERA_REQUEST_TIMEOUT' },
  { key: 'connections.keepAliveTimeout', env: 'TESSERA_KEEP_ALIVE_TIMEOUT' },
  { key: 'connections.maxRequestsPerSocket', env: 'TESSERA_MAX_REQUESTS_PER_CONNECTION' },
] as const satisfies readonly { key: string; flag?: string; env?: string }[];

export type SettingKey = (typeof SETTINGS)[number]['key'];

export const SETTING_KEYS: readonly SettingKey[] = SETTINGS.map((setting) => setting.key);

/**
 * The master key itself is read from the environment only: a flag would show it in `ps`, and
 * config files get copied and committed.
 */
export const MASTER_KEY_ENV = 'TESSERA_MASTER_KEY';

export type Origin = { kind: 'default' } | { kind: 'file'; path: string } | { kind: 'env'; name: string } | { kind: 'flag'; name: string };

export interface RawValue {
  key: SettingKey;
  value: unknown;
  origin: Origin;
}

export type Layer = ReadonlyMap<SettingKey, RawValue>;

export function flagName(camelCase: string): string {
  return `--${camelCase.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

/** Where a value came from, as the user would type it: `--listen`, `TESSERA_LISTEN`, `<file>: listen`. */
export function sourceOf(raw: RawValue): string {
  switch (raw.origin.kind) {
    case 'flag':
      return flagName(raw.origin.name);
    case 'env':
      return raw.origin.name;
    case 'file':
      return `${raw.origin.path}: ${raw.key}`;
    case 'default':
      return `${raw.key} (default)`;
  }
}

/** The setting and its source, for problems that involve two settings. */
export function settingAndSource(raw: RawValue): string {
  switch (raw.origin.kind) {
    case 'flag':
      return `${raw.key} (${flagName(raw.origin.name)})`;
    case 'env':
      return `${raw.key} (${raw.origin.name})`;
    case 'file':
      return `${raw.key} (${raw.origin.path})`;
    case 'default':
      return `${raw.key} (default)`;
  }
}

export function defaultLayer(): Layer {
  const layer = new Map<SettingKey, RawValue>();
  for (const key of SETTING_KEYS) {
    const value = key
      .split('.')
      .reduce<unknown>((node, part) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[part] : undefined), DEFAULTS);
    if (value !== undefined) layer.set(key, { key, value, origin: { kind: 'default' } });
  }
  return layer;
}

export function envLayer(env: Record<string, string | undefined>): Layer {
  const layer = new Map<SettingKey, RawValue>();
  for (const setting of SETTINGS) {
    if (!('env' in setting)) continue;
    const { key, env: name } = setting;
    const value = env[name];
    if (value !== undefined) layer.set(key, { key, value, origin: { kind: 'env', name } });
  }
  return layer;
}

/** Flags other than Tessera's settings (a subcommand's own options) are not this loader's business. */
export function flagLayer(flags: Record<string, string | undefined>): Layer {
  const layer = new Map<SettingKey, RawValue>();
  for (const setting of SETTINGS) {
    if (!('flag' in setting)) continue;
    const value = flags[setting.flag];
    if (value !== undefined) layer.set(setting.key, { key: setting.key, value, origin: { kind: 'flag', name: setting.flag } });
  }
  return layer;
}
