// Attacks on the last system admin rule with two instances on one PostgreSQL database, over
// HTTPS: races between instances, and whether a refusal ever turns into a 500 (a deadlock,
// 40P01) instead of the 409. The two races marked "found by this review" passed both changes, or
// answered 500, before the fix.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { send, type TestResponse } from '@tessera/testkit/https';
import { basic } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';
import { loadConfig } from '../../src/config/load.ts';
import { createServer, type TesseraServer } from '../../src/server.ts';
import type { Store } from '../../src/storage/store.ts';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
const LAST = /would leave sys\.auth:role\.admin without an active member/;
const ADMIN_SCOPE = 'sys.auth:role.admin';

async function activeAdmins(store: Store): Promise<string[]> {
  const role = await store.getRole('sys.auth', 'admin');
  const now = Date.now();
  const unexpired = (at: number | null | undefined): boolean => at === null || at === undefined || at > now;
  const active: string[] = [];
  for (const member of role?.members ?? []) {
    const service = await store.getService(member.principal);
    if (unexpired(member.expiresAt) && service?.status === 'ACTIVE' && unexpired(service.expiresAt)) active.push(member.principal);
  }
  return active;
}

describe('last system admin: two instances on one PostgreSQL', () => {
  let database: TestDatabase;
  let dataDir: string;
  const fleet: { server: TesseraServer; url: string }[] = [];
  let ca = '';
  let admin: { clientId: string; clientSecret: string };
  let root = '';
  /** The instances' error log lines: what a 500 was. */
  const logged: string[] = [];

  const call = (i: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<TestResponse> =>
    send(`${fleet[i]!.url}${path}`, { ...options, ca });
  const token = async (id: string, secret: string, scope = ADMIN_SCOPE): Promise<string> => {
    const res = await call(0, '/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(id, secret) },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
    });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };
  const adminCall = (i: number, bearer: string, method: string, path: string, body?: unknown): Promise<TestResponse> =>
    call(i, `/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const store = (): Store => fleet[0]!.server.store;
  const active = (): Promise<string[]> => activeAdmins(store());

  before(async () => {
    database = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-last-admin-'));
    const ports = [await freePort(), await freePort()];
    const servers = await Promise.all(
      ports.map((port) =>
        createServer(
          loadConfig({
            flags: { dataDir, listen: `https://127.0.0.1:${port}`, issuer: 'https://tessera.test', database: database.url, logLevel: 'error' },
            env: { TESSERA_MASTER_KEY: MASTER_KEY },
            cwd: dataDir,
          }),
          { logStream: { write: (line: string) => void logged.push(line) } },
        ),
      ),
    );
    for (const server of servers) fleet.push({ server, url: await server.listen() });
    ca = await readFile(join(dataDir, 'ca.pem'), 'utf8');
    admin = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as typeof admin;
    root = await token(admin.clientId, admin.clientSecret);
    assert.equal((await adminCall(0, root, 'POST', '/domains', { name: 'ops' })).status, 201);
  });
  after(async () => {
    for (const { server } of fleet) await server.close();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('of two instances racing to remove the two admins (member, service), exactly one succeeds each round, the other 409', async () => {
    for (let round = 0; round < 6; round++) {
      const name = `pair${round}`;
      const made = await adminCall(0, root, 'POST', '/domains/sys.auth/services', { name });
      assert.equal(made.status, 201, made.text);
      const other = await adminCall(0, root, 'PUT', `/domains/sys.auth/roles/admin/members/sys.auth.${name}`, {});
      assert.equal(other.status, 201, other.text);
      const otherToken = await token(`sys.auth.${name}`, made.json.clientSecret);
      // Each removes the other: the root's member (on instance 0), the pair's service disabled (on instance 1).
      const [first, second] = await Promise.all([
        adminCall(0, otherToken, 'DELETE', '/domains/sys.auth/roles/admin/members/sys.auth.admin'),
        adminCall(1, root, 'PATCH', `/domains/sys.auth/services/${name}`, { status: 'DISABLED' }),
      ]);
      const statuses = [first.status, second.status].sort();
      assert.ok(statuses[1] === 409 || statuses[1] === 401, `round ${round}: ${first.status} ${first.text} / ${second.status} ${second.text}`);
      for (const res of [first, second]) if (res.status === 409) assert.match(res.text, LAST);
      const left = await active();
      assert.equal(left.length, 1, `round ${round}: ${left.join(', ')}`);
      // Back to the root alone, by whoever is left.
      const by = left[0] === 'sys.auth.admin' ? root : otherToken;
      if (left[0] !== 'sys.auth.admin') {
        assert.equal((await adminCall(0, by, 'PUT', '/domains/sys.auth/roles/admin/members/sys.auth.admin', {})).status, 201);
      }
      const gone = await adminCall(0, root, 'DELETE', `/domains/sys.auth/services/${name}`);
      assert.equal(gone.status, 204, gone.text);
      assert.deepEqual(await active(), ['sys.auth.admin']);
    }
  });

  // Found by this review and fixed: the two locked the role and the service in opposite orders (a 500, deadlock 40P01);
  // both now take the system-admin lock first.
  it("a renewal of a lapsed foreign admin in the role racing that service's deletion on the other instance never deadlocks", async () => {
    // PUT locks the role, then the renewed foreign admin's service (join tokens); the deletion locks
    // the service, then the roles it is a member of: the opposite order.
    const statuses: string[] = [];
    for (let round = 0; round < 12; round++) {
      const name = `x${round}`;
      assert.equal((await adminCall(0, root, 'POST', '/domains/ops/services', { name })).status, 201);
      const lapsed = { principal: `ops.${name}`, expiresAt: new Date(Date.now() - 60_000).toISOString() };
      assert.equal((await adminCall(0, root, 'PUT', `/domains/sys.auth/roles/admin/members/ops.${name}`, { expiresAt: lapsed.expiresAt })).status, 201);
      const members = [{ principal: 'sys.auth.admin' }, { principal: `ops.${name}` }];
      const [put, del] = await Promise.all([
        adminCall(0, root, 'PUT', '/domains/sys.auth/roles/admin', { members }),
        adminCall(1, root, 'DELETE', `/domains/ops/services/${name}`),
      ]);
      statuses.push(`${put.status}/${del.status}`);
      const deadlock = logged.find((line) => /40P01|deadlock/.test(line))?.slice(0, 300) ?? '';
      for (const res of [put, del]) assert.ok(res.status < 500, `round ${round}: ${res.status} ${res.text} (${statuses.join(' ')}) ${deadlock}`);
      const role = await store().getRole('sys.auth', 'admin');
      const stale = role?.members.find((m) => m.principal === `ops.${name}`);
      if (stale) assert.equal((await adminCall(0, root, 'DELETE', `/domains/sys.auth/roles/admin/members/ops.${name}`)).status, 204);
      assert.deepEqual(await active(), ['sys.auth.admin']);
    }
  });

  // Found by this review and fixed: the deletion's guard read the membership before the PUT committed and took no lock.
  it('a PUT of the admin role naming a new member racing a deletion of that member on the other instance: never both, an admin stays', async () => {
    // Instance 0 replaces the members with sys.auth.rN (its check sees rN's service ACTIVE); instance 1
    // deletes rN's service, whose guard reads rN's membership before the PUT commits, sees none and
    // never takes the lock: neither transaction sees the other's change.
    const outcomes: string[] = [];
    let lockedOut = false;
    for (let round = 0; round < 40 && !lockedOut; round++) {
      const name = `r${round}`;
      const made = await adminCall(0, root, 'POST', '/domains/sys.auth/services', { name });
      assert.equal(made.status, 201, made.text);
      const [put, del] = await Promise.all([
        adminCall(0, root, 'PUT', '/domains/sys.auth/roles/admin', { members: [{ principal: `sys.auth.${name}` }] }),
        adminCall(1, root, round % 2 === 0 ? 'DELETE' : 'PATCH', `/domains/sys.auth/services/${name}`, round % 2 === 0 ? undefined : { status: 'DISABLED' }),
      ]);
      outcomes.push(`${put.status}/${del.status}`);
      for (const res of [put, del]) assert.ok(res.status < 500, `round ${round}: ${res.status} ${res.text}`);
      const left = await active();
      if (left.length === 0) {
        lockedOut = true;
        break;
      }
      if (left[0] !== 'sys.auth.admin') {
        // The new member won: it brings the root back (its token, from its own secret).
        const by = await token(`sys.auth.${name}`, made.json.clientSecret);
        assert.equal((await adminCall(0, by, 'PUT', '/domains/sys.auth/roles/admin/members/sys.auth.admin', {})).status, 201);
        assert.equal((await adminCall(0, root, 'DELETE', `/domains/sys.auth/roles/admin/members/sys.auth.${name}`)).status, 204);
      }
      assert.deepEqual(await active(), ['sys.auth.admin']);
    }
    assert.ok(!lockedOut, `after rounds ${outcomes.join(' ')} nobody holds sys.auth:role.admin`);
  });
});
