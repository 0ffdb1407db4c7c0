// One admin invocation's connection: the credential file's client gets an access token
// (client_secret_basic), then every call goes to `<server>/admin/v1/…` with it.

import { openHttpClient, resolveUnder } from '../connection.ts';
import type { ConnectionFlags } from '../connection.ts';
import { credentialTarget, loadCredentials } from '../credentials.ts';
import type { HttpClient } from '../http-client.ts';
import type { CliIo } from '../io.ts';
import { formatHuman, formatJson } from '../output.ts';
import type { View } from '../output.ts';
import { requestToken } from '../client-auth.ts';

export const DEFAULT_ADMIN_SCOPE = 'sys.auth:role.admin';

export interface AdminFlags extends ConnectionFlags {
  credentials?: string;
  scope?: string;
  json?: boolean;
}

export interface AdminRequest {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
}

export interface AdminSession {
  /** Calls `/admin/v1<path>` and answers the parsed body (`null` for an empty answer). */
  request(method: string, path: string, options?: AdminRequest): Promise<unknown>;
  /** Prints one object: raw with --json, else `key: value` lines; `done` stands in for an empty answer. */
  show(value: unknown, done?: string): void;
  /** Prints a list answer: raw with --json, else a table of the view's columns. */
  showList(value: unknown, view: View): void;
  /** A remark for the person at the terminal, on stderr so stdout stays data. */
  note(text: string): void;
}

/**
 * The server is the configured one (--server, TESSERA_SERVER, the profile), token endpoint and
 * all; else the one the credential file's tokenEndpoint belongs to; else the default server
 * (docs/cli.md): a bootstrap-admin.json from any data dir then works without repeating where its
 * server listens, and a configured server never has the secret sent past it.
 */
export async function openAdminSession(flags: AdminFlags, io: CliIo): Promise<AdminSession> {
  const credentials = await loadCredentials(flags.credentials, io.cwd);
  const { server, tokenEndpoint } = credentialTarget(flags.server, credentials.tokenEndpoint, io);
  // The server the secret goes to, which may be the credential file's: ./.tessera/ca.pem is trusted only for a loopback one.
  const http = await openHttpClient({ ...flags, server: server.href }, io);
  const token = await requestToken(http, {
    tokenEndpoint,
    auth: { method: 'client_secret_basic', clientId: credentials.clientId, clientSecret: credentials.clientSecret },
    scope: flags.scope ?? DEFAULT_ADMIN_SCOPE,
    now: io.now ?? Date.now,
  });
  return createSession(http, server, token.access_token, flags.json === true, io);
}

function createSession(http: HttpClient, server: URL, accessToken: string, json: boolean, io: CliIo): AdminSession {
  const print = (value: unknown, view: View | undefined, done: string | undefined): void => {
    if (json) {
      if (value !== null && value !== '') io.stdout.write(formatJson(value));
      return;
    }
    const text = formatHuman(value, view);
    if (text !== '') io.stdout.write(text);
    else if (done !== undefined) io.stdout.write(`${done}\n`);
  };
  return {
    async request(method, path, options = {}) {
      const url = resolveUnder(server, `/admin/v1${path}`);
      for (const [name, value] of Object.entries(options.query ?? {})) {
        if (value !== undefined) url.searchParams.set(name, String(value));
      }
      const response = await http.send({
        method,
        url,
        headers: { authorization: `Bearer ${accessToken}` },
        json: options.body,
        label: `${method} ${url.pathname}`,
      });
      return response.body;
    },
    show(value, done) {
      print(value, undefined, done);
    },
    showList(value, view) {
      print(value, view, undefined);
    },
    note(text) {
      io.stderr.write(`${text}\n`);
    },
  };
}

/** The largest page the server gives. */
export const PAGE_LIMIT = 1000;

/**
 * The entries (under `field`) of every page of a list, following nextCursor to the last page; with
 * `max`, the first `max` entries only, asking for no more than that; with `start`, from that cursor on.
 */
export async function listAll(
  session: AdminSession,
  path: string,
  field: string,
  options: { query?: Record<string, string | number | undefined>; max?: number; start?: string } = {},
): Promise<unknown[]> {
  const entries: unknown[] = [];
  let cursor = options.start;
  do {
    const limit = Math.min(PAGE_LIMIT, (options.max ?? Number.POSITIVE_INFINITY) - entries.length);
    const page = (await session.request('GET', path, { query: { ...options.query, limit, cursor } })) as Record<string, unknown> | null;
    const found = page?.[field];
    if (Array.isArray(found)) entries.push(...(found as unknown[]));
    cursor = typeof page?.['nextCursor'] === 'string' ? page['nextCursor'] : undefined;
  } while (cursor !== undefined && entries.length < (options.max ?? Number.POSITIVE_INFINITY));
  return entries;
}

/** `--limit <n>` of list commands: fetch only the first n entries (default: every page). */
export const LIMIT_OPTION = ['--limit <n>', 'only the first n entries (default: all of them, a page of 1,000 at a time)'] as const;

export function segment(value: string): string {
  return encodeURIComponent(value);
}

export function domainPath(domain: string): string {
  return `/domains/${segment(domain)}`;
}

export function servicePath(ref: { domain: string; service: string }): string {
  return `${domainPath(ref.domain)}/services/${segment(ref.service)}`;
}

export function rolePath(ref: { domain: string; role: string }): string {
  return `${domainPath(ref.domain)}/roles/${segment(ref.role)}`;
}

/**
 * Shows the answer of a change that a domain may hold for a second admin: a pending change (202)
 * is shown, with a note on stderr of how it goes on; anything else as `show` would.
 */
export function showChange(session: AdminSession, answer: unknown, done?: string): void {
  const pending = pendingOf(answer);
  for (const change of pending) {
    session.note(`change ${change.id} waits for a second admin of ${change.domain}: tessera admin approvals approve ${change.id}`);
  }
  session.show(answer, pending.length > 0 ? undefined : done);
}

function pendingOf(answer: unknown): { id: string; domain: string }[] {
  const value = answer as { id?: unknown; domain?: unknown; status?: unknown; pending?: unknown } | null;
  if (value === null || typeof value !== 'object') return [];
  if (value.status === 'pending' && typeof value.id === 'string' && typeof value.domain === 'string') return [{ id: value.id, domain: value.domain }];
  return Array.isArray(value.pending) ? value.pending.flatMap((item: unknown) => pendingOf(item)) : [];
}
