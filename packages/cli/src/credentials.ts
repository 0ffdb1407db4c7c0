// Client credential files: the bootstrap admin's `bootstrap-admin.json` written by
// `tessera serve`, or any file of the same shape for another client.

import path from 'node:path';

import { UsageError } from './errors.ts';
import { fileExists, readInputFile } from './files.ts';

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
      throw new UsageError(
        `no credentials: ./${DEFAULT_CREDENTIALS_FILE} not found; pass --credentials <file>`,
      );
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
  const missing = ['clientId', 'clientSecret'].filter(
    (name) => typeof fields[name] !== 'string' || fields[name] === '',
  );
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
 * server behind a path prefix keeps it. Used when --server is not given.
 */
export function serverFromTokenEndpoint(tokenEndpoint: URL): URL {
  const base = new URL(tokenEndpoint.origin);
  const suffix = TOKEN_PATHS.find((p) => tokenEndpoint.pathname.endsWith(p));
  if (suffix !== undefined) base.pathname = tokenEndpoint.pathname.slice(0, -suffix.length) || '/';
  return base;
}
