// Client credential files: the bootstrap admin's `bootstrap-admin.json` written by
// `tessera serve`, or any file of the same shape for another client.

import path from 'node:path';

import { DEFAULT_SERVER, isLoopback, resolveUnder } from './connection.ts';
import { UsageError } from './errors.ts';
import { fileExists, readInputFile } from './files.ts';
import type { CliIo } from './io.ts';

export { isLoopback } from './connection.ts';

export const DEFAULT_CREDENTIALS_FILE = path.join('.tessera', 'bootstrap-admin.json');

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  /** Absent in hand-written files: then the server's `/oauth2/token` is used. */
  tokenEndpoint?: URL;
}

/** `--credentials`, or `./.tessera/bootstrap-admin.json` when present. */
export async function loadCredentials(file: string | undefined, cwd: string): Promise<ClientCredentials> {
  if (file === undefined) {
    const fallback = path.resolve(cwd, DEFAULT_CREDENTIALS_FILE);
    if (!(await fileExists(fallback))) {
      throw new UsageError(`no credentials: ./${DEFAULT_CREDENTIALS_FILE} not found; pass --credentials <file>`);
    }
    file = fallback;
  }
  return parseCredentials(await readInputFile(cwd, file, 'credentials file'), file);
}

export function parseCredentials(text: string, file: string): ClientCredentials {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`credentials file ${file} is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`credentials file ${file} is not a JSON object`);
  }
  const fields = value as Record<string, unknown>;
  const missing = ['clientId', 'clientSecret'].filter((name) => typeof fields[name] !== 'string' || fields[name] === '');
  if (missing.length > 0) {
    throw new UsageError(`credentials file ${file} lacks ${missing.join(' and ')}`);
  }
  const credentials: ClientCredentials = {
    clientId: fields.clientId as string,
    clientSecret: fields.clientSecret as string,
  };
  if (fields.tokenEndpoint !== undefined) {
    credentials.tokenEndpoint = parseTokenEndpoint(fields.tokenEndpoint, file);
  }
  return credentials;
}

function parseTokenEndpoint(value: unknown, file: string): URL {
  const url = typeof value === 'string' && URL.canParse(value) ? new URL(value) : undefined;
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new UsageError(`credentials file ${file}: tokenEndpoint is not an http(s) URL`);
  }
  return url;
}

// Both token paths (OAuth's and Athenz's, docs/http-api.md); whatever precedes them is the server's base URL.
const TOKEN_PATHS = ['/zts/v1/oauth2/token', '/oauth2/token'];

/**
 * The server a credential file belongs to: its tokenEndpoint without the token path, so a
 * server behind a path prefix keeps it. Used when no server is configured.
 */
export function serverFromTokenEndpoint(tokenEndpoint: URL): URL {
  const base = new URL(tokenEndpoint.origin);
  const suffix = TOKEN_PATHS.find((p) => tokenEndpoint.pathname.endsWith(p));
  if (suffix !== undefined) base.pathname = tokenEndpoint.pathname.slice(0, -suffix.length) || '/';
  return base;
}

/**
 * Where a credential file's secret goes, and the server it is for (docs/cli.md). A server the
 * operator configured (`configured`: --server, TESSERA_SERVER or the profile) wins, with its own
 * `/oauth2/token`: a tokenEndpoint in the file on another origin is ignored with a warning, so a
 * file copied off another machine (whose endpoint may be http://127.0.0.1:8080, here anyone's
 * port) cannot send the secret elsewhere. Only with no server configured is the file's endpoint
 * used, and then over https, or plain http to a loopback address (where `tessera serve --listen
 * http://…` writes it); plain http to another host would carry the secret in clear.
 */
export function credentialTarget(
  configured: string | undefined,
  fileEndpoint: URL | undefined,
  io: Pick<CliIo, 'stderr'>,
): { server: URL; tokenEndpoint: URL } {
  if (configured !== undefined) {
    const server = new URL(configured);
    const tokenEndpoint = resolveUnder(server, '/oauth2/token');
    if (fileEndpoint !== undefined && fileEndpoint.origin !== server.origin) {
      io.stderr.write(
        `warning: ignoring the credential file's tokenEndpoint ${fileEndpoint.href}: it is not on the server given ` +
          `(--server, TESSERA_SERVER or the profile); asking ${tokenEndpoint.href} instead\n`,
      );
    }
    return { server, tokenEndpoint };
  }
  if (fileEndpoint === undefined) {
    const server = new URL(DEFAULT_SERVER);
    return { server, tokenEndpoint: resolveUnder(server, '/oauth2/token') };
  }
  if (fileEndpoint.protocol !== 'https:' && !isLoopback(fileEndpoint.hostname)) {
    throw new UsageError(
      `the credential file's tokenEndpoint ${fileEndpoint.href} is plain http to a host that is not loopback: ` +
        'the secret would cross the network in clear; give the https:// server with --server (or TESSERA_SERVER)',
    );
  }
  return { server: serverFromTokenEndpoint(fileEndpoint), tokenEndpoint: fileEndpoint };
}
