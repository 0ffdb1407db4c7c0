// Starts a real Tessera (HTTPS on a free loopback port, fresh data dir) for end-to-end tests of
// the server, the CLI and the SDK, and for the benchmarks that measure one in-process server.
// The server is imported by path, not as '@tessera/server': the benchmarks run under plain
// `node`, without the tessera-source condition that points the package at its sources.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, loadConfig, type Config, type ServerOptions, type TesseraServer } from '../../server/src/index.ts';
import { send, type TestRequest, type TestResponse } from './https.ts';
import { startLogCapture } from './log-capture.ts';
import { freePort } from './port.ts';

export interface TestServer {
  server: TesseraServer;
  url: string;
  /** The trust bundle the server publishes now (its ca.pem): after a CA rotation its own certificate chains to the new root. */
  readonly ca: string;
  dataDir: string;
  admin: { clientId: string; clientSecret: string; tokenEndpoint: string };
  /** A request to this server that trusts only its CA. */
  send(path: string, options?: TestRequest): Promise<TestResponse>;
  /** POST /oauth2/token with client_secret_basic. */
  token(clientId: string, secret: string, params: Record<string, string>): Promise<TestResponse>;
  /** An access token for the bootstrap admin (scope sys.auth:role.admin). */
  adminToken(): Promise<string>;
  /** JSON request to the admin API with the bootstrap admin's token. */
  admin$(method: string, path: string, body?: unknown, token?: string): Promise<TestResponse>;
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export function basic(clientId: string, secret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replaceAll('%20', '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}

/** POST /oauth2/token's request with client_secret_basic. */
export function tokenRequest(
  clientId: string,
  secret: string,
  params: Record<string, string>,
): { method: string; headers: Record<string, string>; body: string } {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret) },
    body: new URLSearchParams(params).toString(),
  };
}

/** POST /oauth2/introspect (RFC 7662) as the resource server `as`, with client_secret_basic; asserts the 200. */
export async function introspectAs(t: Pick<TestServer, 'send'>, as: { id: string; secret: string }, token: string): Promise<TestResponse> {
  const res = await t.send('/oauth2/introspect', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(as.id, as.secret) },
    body: new URLSearchParams({ token }).toString(),
  });
  assert.equal(res.status, 200, res.text);
  return res;
}

export async function startTestServer(
  options: {
    flags?: Record<string, string>;
    env?: Record<string, string>;
    dataDir?: string;
    host?: string;
    edit?: (config: Config) => void;
  } & ServerOptions = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'tessera-test-')));
  const port = await freePort();
  const capture = await startLogCapture();
  const config = loadConfig({
    flags: {
      dataDir,
      listen: `https://${options.host ?? '127.0.0.1'}:${port}`,
      logLevel: 'silent',
      ...options.flags,
      ...(capture ? { logLevel: 'trace' } : {}),
    },
    env: options.env ?? {},
    cwd: dataDir,
  });
  options.edit?.(config);
  // Both the capture and the test's own stream see every line when both are set.
  const tee = capture && options.logStream ? { write: (line: string) => (capture.logStream.write(line), options.logStream!.write(line)) } : null;
  const server = await createServer(config, capture ? { ...options, logStream: tee ?? capture.logStream } : options);
  const url = await server.listen();
  const admin = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as TestServer['admin'];
  capture?.noteSecrets(admin);
  const masterKey = capture ? (await readFile(join(dataDir, 'master.key'), 'utf8').catch(() => '')).trim() : '';
  if (masterKey) capture?.noteSecret(masterKey);
  const sendTo = async (path: string, request: TestRequest = {}): Promise<TestResponse> => {
    const res = await send(`${url}${path}`, { ca: server.ca.bundlePem, ...request });
    if (capture && res.text.startsWith('{')) capture.noteSecrets(res.json);
    return res;
  };
  const token = (clientId: string, secret: string, params: Record<string, string>): Promise<TestResponse> =>
    sendTo('/oauth2/token', tokenRequest(clientId, secret, params));
  const adminToken = async (): Promise<string> => {
    const res = await token(admin.clientId, admin.clientSecret, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' });
    if (res.status !== 200) throw new Error(`admin token: ${res.status} ${res.text}`);
    return res.json.access_token as string;
  };
  return {
    server,
    url,
    get ca() {
      return server.ca.bundlePem;
    },
    dataDir,
    admin,
    send: sendTo,
    token,
    adminToken,
    async admin$(method, path, body, bearer) {
      const headers: Record<string, string> = { authorization: `Bearer ${bearer ?? (await adminToken())}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      return sendTo(`/admin/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    },
    async stop(stopOptions = {}) {
      await (capture ? capture.closeServer(server) : server.close());
      if (!stopOptions.keepData && !options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** What token tests register through the admin API, with the client secrets they got. */
export interface TestRegistry {
  /** Client secrets by principal, as each service was created. */
  secrets: Map<string, string>;
  /** Registers `<domain>.<name>` with a secret (its domain must exist); asserts the 201. */
  createService(principal: string): Promise<void>;
  /** PUT of a role (created or replaced), as the bootstrap admin or with `token`; asserts a 200 or 201. */
  putRole(domain: string, role: string, body: Record<string, unknown>, token?: string): Promise<TestResponse>;
}

/** A TestRegistry on the server `server()` answers (called late: tests start their server in `before`). */
export function testRegistry(server: () => Pick<TestServer, 'admin$'>): TestRegistry {
  const secrets = new Map<string, string>();
  return {
    secrets,
    async createService(principal) {
      const dot = principal.lastIndexOf('.');
      const res = await server().admin$('POST', `/domains/${principal.slice(0, dot)}/services`, { name: principal.slice(dot + 1) });
      assert.equal(res.status, 201, res.text);
      secrets.set(principal, res.json.clientSecret as string);
    },
    async putRole(domain, role, body, token) {
      const res = await server().admin$('PUT', `/domains/${domain}/roles/${role}`, body, token);
      assert.ok(res.status === 200 || res.status === 201, res.text);
      return res;
    },
  };
}
