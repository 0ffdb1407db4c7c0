// The flags every client command shares (docs/cli.md): which server, which CA to trust, how long
// to wait. Resolved here once so `admin`, `token`, `cert` and `verify` agree on the defaults.

import { realpath, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';

import { UsageError } from './errors.ts';
import { createHttpClient } from './http-client.ts';
import type { HttpClient } from './http-client.ts';
import type { CliIo } from './io.ts';
import { fileExists, readInputFile } from './files.ts';

export const DEFAULT_SERVER = 'https://127.0.0.1:8443';
export const DEFAULT_CA_FILE = path.join('.tessera', 'ca.pem');

export interface ConnectionFlags {
  server?: string;
  cacert?: string;
  timeout?: number;
  /** A `ca.pem` found beside the credential file (client-defaults.ts), already checked: trusted like ./.tessera/ca.pem. */
  impliedCacert?: string;
}

export function addConnectionOptions(command: Command): Command {
  return command
    .addOption(new Option('--server <url>', `Tessera server base URL (default: ${DEFAULT_SERVER})`).argParser(parseServerUrl))
    .option('--cacert <file>', `PEM CA bundle to trust (default: ./${DEFAULT_CA_FILE} when present)`)
    .addOption(new Option('--timeout <seconds>', 'give up on a request after this long').argParser(parsePositiveSeconds).default(10));
}

/** The server's base URL; path prefixes (a server behind a reverse proxy) are kept. */
export function parseServerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected an http:// or https:// URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidArgumentError('expected an http:// or https:// URL');
  }
  return url.href;
}

function parsePositiveSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('expected a positive number');
  return seconds;
}

/** `base` + `/admin/v1/domains` etc., keeping any path prefix of `base`. */
export function resolveUnder(base: URL, pathname: string): URL {
  const url = new URL(base.href);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${pathname}`;
  url.search = '';
  url.hash = '';
  return url;
}

/** A client certificate and its key (PEM), presented on the TLS connection (RFC 8705 mTLS). */
export interface TlsIdentity {
  cert: string;
  key: string;
}

/**
 * An explicit --cacert is the only trust anchor, as with curl. The implicit ./.tessera/ca.pem
 * (for a loopback server only) is added to Node's roots instead, so a leftover local CA file
 * cannot break a public server.
 */
export async function openHttpClient(flags: ConnectionFlags, io: CliIo, identity?: TlsIdentity): Promise<HttpClient> {
  const options = { timeoutMs: (flags.timeout ?? 10) * 1000, userAgent: 'tessera-cli', ...identity };
  if (flags.cacert !== undefined) {
    const ca = await readCaFile(io.cwd, flags.cacert);
    return createHttpClient({ ...options, ca });
  }
  const defaultCa = flags.impliedCacert ?? (await workingDirectoryCa(flags, io));
  if (defaultCa !== undefined) {
    const ca = await readCaFile(io.cwd, defaultCa);
    return createHttpClient({ ...options, ca: [...rootCertificates, ca] });
  }
  return createHttpClient(options);
}

/**
 * ./.tessera/ca.pem vouches only for the server `tessera serve` made it for: the default one, or
 * another on this machine. Any directory can hold such a file (a cloned repository's is the
 * user's own, mode 0644), so for a remote server it would let its author read the credentials.
 */
async function workingDirectoryCa(flags: ConnectionFlags, io: CliIo): Promise<string | undefined> {
  const localCa = path.resolve(io.cwd, DEFAULT_CA_FILE);
  if (!(await fileExists(localCa))) return undefined;
  const server = new URL(flags.server ?? DEFAULT_SERVER);
  if (!isLoopback(server.hostname)) {
    io.stderr.write(
      `warning: not trusting ./${DEFAULT_CA_FILE} for ${server.origin}: it vouches only for a server on this machine; ` +
        `if it is this server's CA, pass it as --cacert ${localCa}\n`,
    );
    return undefined;
  }
  return (await mayTrustImpliedCa(localCa, `./${DEFAULT_CA_FILE}`, io)) ? localCa : undefined;
}

/** 127.0.0.0/8, ::1 and `localhost`: traffic that never leaves the machine. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/**
 * A CA file nobody named (./.tessera/ca.pem, a ca.pem beside the credential file) is trusted only
 * when no one but this user (or root) could have put it there: a ca.pem dropped into a shared
 * directory such as /tmp would otherwise let its author impersonate the server. Else one warning
 * line, and the caller goes on without it. Without POSIX owners (Windows) there is nothing to check.
 */
export async function mayTrustImpliedCa(file: string, shown: string, io: CliIo): Promise<boolean> {
  const problem = await impliedCaProblem(file);
  if (problem === undefined) return true;
  io.stderr.write(`warning: not trusting ${shown}: ${problem}; if you trust it, pass it as --cacert ${file}\n`);
  return false;
}

async function impliedCaProblem(file: string): Promise<string | undefined> {
  if (process.getuid === undefined) return undefined;
  const uid = process.getuid();
  // The directory the name is in, and where a symlink leads: whoever can write either can swap the file.
  let real: string;
  try {
    real = await realpath(file);
  } catch (error) {
    return `it cannot be examined (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  }
  const checks = [...new Set([file, path.dirname(file), real, path.dirname(real)])];
  for (const entry of checks) {
    const info = await stat(entry).catch(() => undefined);
    if (info === undefined) return `${entry} cannot be examined`;
    const what = entry === file || entry === real ? 'it' : `its directory ${entry}`;
    if (info.uid !== uid && info.uid !== 0) return `${what} is owned by uid ${info.uid}, not by you or root`;
    if ((info.mode & 0o022) !== 0) {
      const who = (info.mode & 0o002) !== 0 ? 'anyone' : 'its group';
      return `${what} can be written by ${who} (mode ${(info.mode & 0o7777).toString(8).padStart(4, '0')})`;
    }
  }
  return undefined;
}

async function readCaFile(cwd: string, file: string): Promise<string> {
  const pem = await readInputFile(cwd, file, 'CA file');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new UsageError(`CA file ${file} holds no PEM certificate`);
  }
  return pem;
}
