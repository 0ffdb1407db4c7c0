// What the tests of the last-system-admin rule share: its refusal, who counts as a system admin,
// and two Tessera instances on one fresh PostgreSQL database reached over HTTPS.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { send, type TestResponse } from '@tessera/testkit/https';
import { basic } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';
import { loadConfig } from '../../src/config/load.ts';
import { createServer, type TesseraServer } from '../../src/server.ts';
import type { Store } from '../../src/storage/store.ts';
import { createTestDatabase } from '../storage/postgres-database.ts';

export const LAST = /would leave sys\.auth:role\.admin without an active member/;
export const ADMIN_SCOPE = 'sys.auth:role.admin';

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
