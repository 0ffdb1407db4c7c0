// The flags every client command shares (docs/cli.md): which server, which CA to trust, how long
// to wait. Resolved here once so `admin`, `token`, `cert` and `verify` agree on the defaults.

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
  /** A `ca.pem` found beside the credential file (client-defaults.ts): trusted like ./.tessera/ca.pem. */
  impliedCacert?: string;
}

export function addConnectionOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--server <url>', `Tessera server base URL (default: ${DEFAULT_SERVER})`).argParser(
        parseServerUrl,
      ),
    )
    .option('--cacert <file>', `PEM CA bundle to trust (default: ./${DEFAULT_CA_FILE} when present)`)
    .addOption(
      new Option('--timeout <seconds>', 'give up on a request after this long')
        .argParser(parsePositiveSeconds)
        .default(10),
    );
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
 * is added to Node's roots instead, so a leftover local CA file cannot break a public server.
 */
export async function openHttpClient(flags: ConnectionFlags, io: CliIo, identity?: TlsIdentity): Promise<HttpClient> {
  const options = { timeoutMs: (flags.timeout ?? 10) * 1000, userAgent: 'tessera-cli', ...identity };
  if (flags.cacert !== undefined) {
    const ca = await readCaFile(io.cwd, flags.cacert);
    return createHttpClient({ ...options, ca });
  }
  const defaultCa = flags.impliedCacert ?? path.resolve(io.cwd, DEFAULT_CA_FILE);
  if (await fileExists(defaultCa)) {
    const ca = await readCaFile(io.cwd, defaultCa);
    return createHttpClient({ ...options, ca: [...rootCertificates, ca] });
  }
  return createHttpClient(options);
}

async function readCaFile(cwd: string, file: string): Promise<string> {
  const pem = await readInputFile(cwd, file, 'CA file');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new UsageError(`CA file ${file} holds no PEM certificate`);
  }
  return pem;
}
