// What `tessera serve` tells the operator when it starts and stops, the same for one process
// and for a cluster's primary: enough to point a client at it (URL, issuer, JWKS, the CA bundle,
// where the admin credential is) and to see which data it serves, never a secret (the database
// URL's password is masked; the credential stays in its file).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOOTSTRAP_FILE } from './admin/bootstrap-file.ts';
import type { Config } from './config/config.ts';
import { redactDatabaseUrl } from './config/describe.ts';

export interface LogLine {
  details: Record<string, unknown>;
  message: string;
}

/** The line that says the server is up, and everything a client needs to reach it. */
export function servingLine(config: Config, url: string, workers: number, extra: Record<string, unknown> = {}, note = ''): LogLine {
  const version = serverVersion();
  return {
    details: {
      version,
      url,
      issuer: config.issuer,
      jwks: `${config.issuer}/.well-known/jwks.json`,
      caBundle: join(config.dataDir, 'ca.pem'),
      signingAlg: config.signing.alg,
      dataDir: config.dataDir,
      database: config.database.kind === 'sqlite' ? `sqlite ${config.database.path}` : `postgres ${redactDatabaseUrl(config.database.url)}`,
      workers,
      ...extra,
    },
    message: `tessera is serving at ${url}${note}`,
  };
}

/**
 * Where the admin credential is on a start that found the admin there already (the start that
 * creates it logs `bootstrap admin credential written` with the file): an operator who restarts
 * is as likely to be looking for it as one who starts for the first time.
 */
export function adminCredentialLine(config: Config): LogLine {
  const file = join(config.dataDir, BOOTSTRAP_FILE);
  if (existsSync(file)) return { details: { file }, message: `the bootstrap admin credential is still in ${file}; store it elsewhere, then delete the file` };
  return {
    details: { file },
    message: `no bootstrap admin credential file at ${file} (removed, or written by another instance sharing the database): use an admin credential you keep elsewhere, or make a new one with 'tessera recover-admin'`,
  };
}

/** The one line at shutdown. */
export function stoppedLine(signal: string | undefined, startedMs: number, now: number, workers: number): LogLine {
  const tookMs = now - startedMs;
  const why = signal === undefined ? '' : `on ${signal}`;
  return {
    details: { ...(signal === undefined ? {} : { signal }), workers, tookMs },
    message: `tessera stopped${why === '' ? '' : ` ${why}`}: ${workers === 1 ? 'requests in flight' : `${workers} worker processes`} drained in ${tookMs} ms`,
  };
}

/** The server package's version (package.json beside src/); read when asked, at start. */
export function serverVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return manifest.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
