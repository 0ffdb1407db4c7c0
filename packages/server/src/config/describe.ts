// What the server logs about its configuration at start: everything an operator needs to see
// which settings took effect, nothing that unlocks anything.

import type { Config } from './config.ts';

export interface ConfigSummary {
  dataDir: string;
  listen: string;
  issuer: string;
  /** `sqlite <path>` or `postgres <url without password>`. */
  database: string;
  /** Where the key comes from, never the key. */
  masterKey: string;
  logLevel: Config['logLevel'];
  tokens: Config['tokens'];
  signing: Config['signing'];
  clockSkew: number;
  bodyLimit: number;
}

export function describeConfig(config: Config): ConfigSummary {
  return {
    dataDir: config.dataDir,
    listen: config.listen.href,
    issuer: config.issuer,
    database: config.database.kind === 'sqlite' ? `sqlite ${config.database.path}` : `postgres ${redactDatabaseUrl(config.database.url)}`,
    masterKey: describeMasterKey(config.masterKey),
    logLevel: config.logLevel,
    tokens: { ...config.tokens },
    signing: { ...config.signing },
    clockSkew: config.clockSkew,
    bodyLimit: config.bodyLimit,
  };
}

function describeMasterKey(masterKey: Config['masterKey']): string {
  if (masterKey.source === 'env') return 'from TESSERA_MASTER_KEY';
  return masterKey.generate ? `file ${masterKey.path} (generated if missing)` : `file ${masterKey.path}`;
}

/**
 * Replaces the password in a database URL, both in the user-info part and in query parameters
 * such as `?password=`, which PostgreSQL clients also accept.
 */
export function redactDatabaseUrl(text: string): string {
  const url = URL.parse(text);
  // Unparseable text may still hold `user:password@`; hide everything up to the last `@`.
  if (url === null) return text.replace(/\/\/.*@/, '//***@').replace(/(pass\w*=)[^&#]*/gi, '$1***');
  if (url.password !== '') url.password = '***';
  for (const name of [...url.searchParams.keys()]) {
    if (/pass/i.test(name)) url.searchParams.set(name, '***');
  }
  return url.href;
}

/**
 * Where the database is, for the admin API: the SQLite file, or PostgreSQL's host, port and
 * database only (no user, password or query parameters).
 */
export function storageLocation(database: Config['database']): string {
  if (database.kind === 'sqlite') return database.path;
  const url = URL.parse(database.url);
  if (url === null) return 'postgres';
  return `${url.hostname || 'localhost'}:${url.port || '5432'}${url.pathname.length > 1 ? url.pathname : '/'}`;
}
