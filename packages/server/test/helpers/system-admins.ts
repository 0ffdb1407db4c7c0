// What the tests of the last-system-admin rule share: its refusal, who counts as a system admin,
// a test server on SQLite with a clock the test moves, and two Tessera instances on one fresh
// PostgreSQL database reached over HTTPS.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { send, type TestResponse } from '@tessera/testkit/https';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';
import { loadConfig } from '../../src/config/load.ts';
import { createServer, type TesseraServer } from '../../src/server.ts';
import type { Store } from '../../src/storage/store.ts';
import { createTestDatabase } from '../storage/postgres-database.ts';

export const LAST = /would leave sys\.auth:role\.admin without an active member/;
export const ADMIN_SCOPE = 'sys.auth:role.admin';

/** The answer refuses a change as leaving sys.auth:role.admin without an active member. */
export function assertLast(res: TestResponse): void {
  assert.equal(res.status, 409, res.text);
  assert.match(res.text, LAST);
}

/** The principals that count as system admins at `now`: unexpired members whose service is ACTIVE and unexpired. */
export async function activeAdmins(store: Pick<Store, 'getRole' | 'getService'>, now: number = Date.now()): Promise<string[]> {
  const role = await store.getRole('sys.auth', 'admin');
  const unexpired = (at: number | null | undefined): boolean => at === null || at === undefined || at > now;
  const active: string[] = [];
  for (const member of role?.members ?? []) {
    const service = await store.getService(member.principal);
    if (unexpired(member.expiresAt) && service?.status === 'ACTIVE' && unexpired(service.expiresAt)) active.push(member.principal);
  }
  return active;
}

/** One test server on SQLite with a clock the test moves, and what the attacks on it do. */
export interface World {
  t: TestServer;
  clock: { now: number };
  /** A token of the bootstrap admin, sys.auth.admin. */
  root: string;
  iso(offset: number): string;
  /** Creates `domain.name` (the domain too, when missing): the 201 answer. */
  service(domain: string, name: string, body?: Record<string, unknown>): Promise<TestResponse>;
  /** The same, returning the new service's client secret. */
  secret(domain: string, name: string, body?: Record<string, unknown>): Promise<string>;
  token(principal: string, secret: string, scope: string): Promise<string>;
  active(): Promise<string[]>;
  accounts(method: string, path: string, body: unknown, token: string): Promise<TestResponse>;
}

const worlds: TestServer[] = [];

/** Stops every server world() started: for afterEach and after. */
export async function stopWorlds(): Promise<void> {
  for (const t of worlds.splice(0)) await t.stop();
}

export async function world(): Promise<World> {
  const clock = { now: Date.now() };
  const t = await startTestServer({ now: () => clock.now, env: { TESSERA_SERVICE_ACCOUNTS_DOMAIN: 'alpha' } });
  worlds.push(t);
  const root = await t.adminToken();
  const domains = new Set<string>(['sys.auth']);
  const service: World['service'] = async (domain, name, body = {}) => {
    if (!domains.has(domain)) {
      const made = await t.admin$('POST', '/domains', { name: domain }, root);
      assert.ok(made.status === 201 || made.status === 409, made.text);
      domains.add(domain);
    }
    const res = await t.admin$('POST', `/domains/${domain}/services`, { name, ...body }, root);
    assert.equal(res.status, 201, res.text);
    return res;
  };
  return {
    t,
    clock,
    root,
    iso: (offset) => new Date(clock.now + offset).toISOString(),
    service,
    secret: async (domain, name, body) => (await service(domain, name, body)).json.clientSecret as string,
    async token(principal, secret, scope) {
      const res = await t.token(principal, secret, { grant_type: 'client_credentials', scope });
      assert.equal(res.status, 200, res.text);
      return res.json.access_token as string;
    },
    active: () => activeAdmins(t.server.store, clock.now),
    accounts: (method, path, body, token) =>
      t.send(`/auth/admin/service-accounts${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
  };
}

export interface Fleet {
  /** The bootstrap admin's token. */
  root: string;
  /** Every log line of both instances at `logLevel` and up: what a 500 or a deadlock was. */
  logged: string[];
  call(i: number, path: string, options?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<TestResponse>;
  token(id: string, secret: string, scope?: string): Promise<string>;
  adminCall(i: number, bearer: string, method: string, path: string, body?: unknown): Promise<TestResponse>;
  store(): Store;
  close(): Promise<void>;
}

/** Two instances started at once on a fresh PostgreSQL database (the bootstrap races itself), sharing one data dir's CA and master key. */
export async function startFleet(logLevel: 'error' | 'info'): Promise<Fleet> {
  const database = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-system-admins-'));
  const logged: string[] = [];
  const ports = [await freePort(), await freePort()];
  const servers: TesseraServer[] = await Promise.all(
    ports.map((port) =>
      createServer(
        loadConfig({
          flags: { dataDir, listen: `https://127.0.0.1:${port}`, issuer: 'https://tessera.test', database: database.url, logLevel },
          env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') },
          cwd: dataDir,
        }),
        { logStream: { write: (line: string) => void logged.push(line) } },
      ),
    ),
  );
  const urls: string[] = [];
  for (const server of servers) urls.push(await server.listen());
  const ca = await readFile(join(dataDir, 'ca.pem'), 'utf8');
  const call: Fleet['call'] = (i, path, options = {}) => send(`${urls[i]}${path}`, { ...options, ca });
  const token: Fleet['token'] = async (id, secret, scope = ADMIN_SCOPE) => {
    const res = await call(0, '/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(id, secret) },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
    });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };
  const adminCall: Fleet['adminCall'] = (i, bearer, method, path, body) =>
    call(i, `/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const admin = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as { clientId: string; clientSecret: string };
  return {
    root: await token(admin.clientId, admin.clientSecret),
    logged,
    call,
    token,
    adminCall,
    store: () => servers[0]!.store,
    async close() {
      for (const server of servers) await server.close();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
