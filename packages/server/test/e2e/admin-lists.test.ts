// Every admin list is paginated the same way (?limit=, ?cursor=, nextCursor), and role members
// have their own list and a bulk addition. Black-box over HTTPS against a real server (SQLite).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { csrFor, serviceKey } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

function assertError(res: TestResponse, status: number, error: string, message: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.message, message);
}

const withQuery = (path: string, query: string): string => `${path}${path.includes('?') ? '&' : '?'}${query}`;
const names = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
/** A principal of the longest allowed length (193): a 186-character domain, a dot, a 6-character service. */
const longPrincipal = (i: number): string => `${'d'.repeat(186)}.s${String(i).padStart(5, '0')}`;
const FAR = '2099-12-31T23:59:59.999Z';

describe('admin lists and role members', () => {
  let t: TestServer;
  let alphaAdmin: string;
  let sysAdmin: string;
  /** t.admin$ with one system admin token: hundreds of requests would meet the token endpoint's rate limit. */
  const admin$ = (method: string, path: string, body?: unknown, bearer?: string): Promise<TestResponse> => t.admin$(method, path, body, bearer ?? sysAdmin);

  /** Every entry of the list under `field`, following nextCursor, `limit` a page. */
  const walk = async (
    path: string,
    field: string,
    limit: number,
    between?: (page: number, seen: unknown[]) => Promise<void>,
    start: string | null = null,
  ): Promise<unknown[]> => {
    const seen: unknown[] = [];
    let cursor: string | null = start;
    let pages = 0;
    do {
      const query: string = `limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const res = await admin$('GET', withQuery(path, query));
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json[field].length <= limit);
      seen.push(...res.json[field]);
      cursor = res.json.nextCursor as string | null;
      pages += 1;
      if (cursor !== null) await between?.(pages, seen);
    } while (cursor !== null);
    return seen;
  };
  const post = async (path: string, body: unknown): Promise<TestResponse> => {
    const res = await admin$('POST', path, body);
    assert.ok(res.status === 201 || res.status === 200, res.text);
    return res;
  };
  const bulk = (domain: string, role: string, members: unknown[], bearer?: string): Promise<TestResponse> =>
    admin$('POST', `/domains/${domain}/roles/${role}/members`, { members }, bearer);

  before(async () => {
    t = await startTestServer();
    sysAdmin = await t.adminToken();
    for (const name of ['alpha', 'beta', 'many']) await post('/domains', { name });
    for (const name of names(250, 'svc')) await post('/domains/many/services', { name });
    for (const name of names(250, 'role')) assert.equal((await admin$('PUT', `/domains/many/roles/${name}`, {})).status, 201);
    const admin = await post('/domains/alpha/services', { name: 'admin' });
    assert.equal((await admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.admin' }] })).status, 201);
    const res = await t.token('alpha.admin', admin.json.clientSecret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    assert.equal(res.status, 200, res.text);
    alphaAdmin = res.json.access_token as string;
  });
  after(() => t.stop());

  const LISTS = [
    '/domains',
    '/domains/many/services',
    '/domains/many/roles',
    '/domains/many/roles/role0000/members',
    '/domains/many/services/svc0000/keys',
    '/domains/many/services/svc0000/api-keys',
    '/domains/many/services/svc0000/certificates',
    '/join-tokens?principal=many.svc0000',
    '/audit',
  ];

  it('refuses a limit of 0, above 1,000 or not a number, and a malformed cursor, on every list (400)', async () => {
    for (const path of LISTS) {
      for (const limit of ['0', '1001', 'abc', '-1', '1.5']) {
        assertError(await admin$('GET', withQuery(path, `limit=${limit}`)), 400, 'invalid_request', /limit must be a whole number from 1 to 1000/);
      }
      for (const cursor of ['nope', 'bm9wZQ', '%2B%2F', Buffer.from('["x",1]').toString('base64url')]) {
        assertError(
          await admin$('GET', withQuery(path, `cursor=${cursor}`)),
          400,
          'invalid_request',
          /cursor is not one this list gave out; pass the nextCursor/,
        );
      }
      const ok = await admin$('GET', withQuery(path, 'limit=1000'));
      assert.equal(ok.status, 200, `${path}: ${ok.text}`);
      assert.ok('nextCursor' in ok.json, `${path} answers nextCursor`);
    }
  });

  it('documents limit, cursor and nextCursor for every list in /openapi.json', async () => {
    const paths = (await t.send('/openapi.json')).json.paths;
    const lists: [string, string][] = [
      ['/admin/v1/domains', 'domains'],
      ['/admin/v1/domains/{domain}/services', 'services'],
      ['/admin/v1/domains/{domain}/roles', 'roles'],
      ['/admin/v1/domains/{domain}/roles/{role}/members', 'members'],
      ['/admin/v1/domains/{domain}/services/{service}/keys', 'keys'],
      ['/admin/v1/domains/{domain}/services/{service}/api-keys', 'apiKeys'],
      ['/admin/v1/domains/{domain}/services/{service}/certificates', 'certificates'],
      ['/admin/v1/join-tokens', 'joinTokens'],
      ['/admin/v1/audit', 'events'],
      ['/auth/admin/service-accounts', 'serviceAccounts'],
    ];
    for (const [path, field] of lists) {
      const listing = paths[path]?.get;
      assert.ok(listing, path);
      const query = listing.parameters.filter((p: { in: string }) => p.in === 'query').map((p: { name: string }) => p.name);
      assert.ok(query.includes('limit') && query.includes('cursor'), `${path}: ${query}`);
      const page = listing.responses['200'].content['application/json'].schema;
      assert.ok(page.properties.nextCursor && page.properties[field], path);
    }
    const role = paths['/admin/v1/domains/{domain}/roles/{role}'].get.responses['200'].content['application/json'].schema;
    assert.ok(role.properties.membersNextCursor);
    assert.ok(paths['/admin/v1/domains/{domain}/roles/{role}/members'].post);
  });

  it('gives 100 entries by default and at most 1,000', async () => {
    const first = await admin$('GET', '/domains/many/services');
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.services.length, 100);
    assert.equal(typeof first.json.nextCursor, 'string');
    assert.equal((await admin$('GET', '/domains/many/roles')).json.roles.length, 100);
    const members = names(1200, 'alpha.m').map((principal) => ({ principal }));
    assert.equal((await admin$('PUT', '/domains/alpha/roles/big', { members })).status, 201);
    const page = await admin$('GET', '/domains/alpha/roles/big/members?limit=1000');
    assert.equal(page.json.members.length, 1000);
    const rest = await admin$('GET', `/domains/alpha/roles/big/members?limit=1000&cursor=${page.json.nextCursor}`);
    assert.equal(rest.json.members.length, 200);
    assert.equal(rest.json.nextCursor, null);
  });

  it('walks 250 services, roles and domains page by page, each once and in order', async () => {
    const services = (await walk('/domains/many/services', 'services', 100)) as { name: string }[];
    assert.deepEqual(
      services.map((s) => s.name),
      names(250, 'svc'),
    );
    const roles = (await walk('/domains/many/roles', 'roles', 100)) as { name: string }[];
    assert.deepEqual(
      roles.map((r) => r.name),
      names(250, 'role'),
    );
    const domains = (await walk('/domains', 'domains', 1)) as { name: string }[];
    assert.deepEqual(
      domains.map((d) => d.name),
      ['alpha', 'beta', 'many', 'sys.auth'],
    );
    assert.deepEqual(
      ((await walk('/domains', 'domains', 1000)) as { name: string }[]).map((d) => d.name),
      ['alpha', 'beta', 'many', 'sys.auth'],
    );
  });

  it('keeps pages consistent while entries come and go between them', async () => {
    await post('/domains', { name: 'moving' });
    const initial = names(250, 'm');
    for (const name of initial) await post('/domains/moving/services', { name });
    const aheadDeleted: string[] = [];
    const added: string[] = [];
    const seen = (await walk('/domains/moving/services', 'services', 60, async (page, shownSoFar) => {
      // One already shown and one still ahead go; one behind the cursor and one ahead arrive.
      const last = (shownSoFar.at(-1) as { name: string }).name;
      const ahead = initial.filter((name) => name > last && !aheadDeleted.includes(name))[20];
      for (const name of [last, ahead]) {
        if (name !== undefined) assert.equal((await admin$('DELETE', `/domains/moving/services/${name}`)).status, 204);
      }
      if (ahead !== undefined) aheadDeleted.push(ahead);
      const arrive = [`a${page}`, `z${page}`];
      for (const name of arrive) await post('/domains/moving/services', { name });
      added.push(...arrive);
    })) as { name: string }[];
    const shown = seen.map((s) => s.name);
    assert.equal(new Set(shown).size, shown.length, 'no entry twice');
    assert.deepEqual(shown, [...shown].sort(), 'in order');
    assert.ok(aheadDeleted.length >= 3);
    const stayed = initial.filter((name) => !aheadDeleted.includes(name));
    for (const name of stayed) assert.ok(shown.includes(name), `${name} shown`);
    for (const name of aheadDeleted) assert.ok(!shown.includes(name), `${name}, deleted before its page, not shown`);
    for (const name of added.filter((n) => n.startsWith('z'))) assert.ok(shown.includes(name), `${name}, added ahead, shown`);
    for (const name of added.filter((n) => n.startsWith('a'))) assert.ok(!shown.includes(name), `${name}, added behind, not shown`);
  });

  it('refuses a cursor of another list, or of the same list in another domain (400)', async () => {
    const services = await admin$('GET', '/domains/many/services?limit=1');
    const roles = await admin$('GET', '/domains/many/roles?limit=1');
    const domains = await admin$('GET', '/domains?limit=1');
    const members = await admin$('GET', '/domains/alpha/roles/big/members?limit=1');
    const foreign = [
      ['/domains/many/roles', services.json.nextCursor],
      ['/domains/many/services', roles.json.nextCursor],
      ['/domains/moving/services', services.json.nextCursor],
      ['/domains/many/services', domains.json.nextCursor],
      ['/domains', services.json.nextCursor],
      ['/domains/alpha/roles/admin/members', members.json.nextCursor],
      ['/audit', members.json.nextCursor],
    ] as const;
    for (const [path, cursor] of foreign) {
      assert.equal(typeof cursor, 'string');
      assertError(await admin$('GET', `${path}?cursor=${cursor}`), 400, 'invalid_request', /cursor is not one this list gave out/);
    }
  });

  it('pages API keys, keys and the audit log, newest or oldest first as documented', async () => {
    for (let i = 0; i < 5; i++) await post('/domains/alpha/services/admin/api-keys', { audience: 'alpha', description: `k${i}` });
    const keys = (await walk('/domains/alpha/services/admin/api-keys', 'apiKeys', 2)) as { description: string }[];
    assert.deepEqual(
      keys.map((k) => k.description),
      ['k4', 'k3', 'k2', 'k1', 'k0'],
    );
    const events = (await walk('/audit?type=service.create', 'events', 7)) as { id: number }[];
    assert.ok(events.length >= 500);
    assert.deepEqual(
      events.map((e) => e.id),
      [...events.map((e) => e.id)].sort((a, b) => b - a),
    );
    assert.equal(new Set(events.map((e) => e.id)).size, events.length);
  });

  it('shows a role with its first 100 members and a cursor for the rest, everywhere a role is shown', async () => {
    const got = await admin$('GET', '/domains/alpha/roles/big');
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.members.length, 100);
    assert.deepEqual(
      got.json.members.map((m: { principal: string }) => m.principal),
      names(100, 'alpha.m'),
    );
    const rest = (await walk('/domains/alpha/roles/big/members', 'members', 500, undefined, got.json.membersNextCursor)) as { principal: string }[];
    assert.deepEqual(
      rest.map((m) => m.principal),
      names(1200, 'alpha.m').slice(100),
    );
    const listed = await admin$('GET', '/domains/alpha/roles');
    const big = listed.json.roles.find((r: { name: string }) => r.name === 'big');
    assert.equal(big.members.length, 100);
    assert.equal(big.membersNextCursor, got.json.membersNextCursor);
    const small = await admin$('GET', '/domains/alpha/roles/admin');
    assert.equal(small.json.membersNextCursor, null);
    assert.deepEqual(small.json.members, [{ principal: 'alpha.admin', expiresAt: null, reviewBy: null }]);
    assertError(await admin$('GET', '/domains/alpha/roles/nope/members'), 404, 'not_found', /does not exist/);
  });

  it('accepts a role PUT of 10,000 members of the longest principals, and refuses 10,001 with a clear message', async () => {
    const members = Array.from({ length: 10_000 }, (_, i) => ({ principal: longPrincipal(i), expiresAt: FAR }));
    assert.ok(JSON.stringify({ members }).length > 2_000_000);
    const put = await admin$('PUT', '/domains/beta/roles/huge', { members });
    assert.equal(put.status, 201, put.text.slice(0, 300));
    assert.equal(put.json.members.length, 100);
    const all = (await walk('/domains/beta/roles/huge/members', 'members', 1000)) as { principal: string; expiresAt: string }[];
    assert.equal(all.length, 10_000);
    assert.deepEqual(
      all.map((m) => m.principal),
      members.map((m) => m.principal),
    );
    assert.equal(all[9999]!.expiresAt, FAR);
    const over = [...members, { principal: longPrincipal(10_000), expiresAt: FAR }];
    assertError(await admin$('PUT', '/domains/beta/roles/huge', { members: over }), 400, 'invalid_request', /members must NOT have more than 10000 items/);
  });

  it('adds up to 1,000 members in one call without replacing the others, audited once; refuses 1,001', async () => {
    assert.equal((await admin$('PUT', '/domains/alpha/roles/bulk', { members: [{ principal: 'alpha.kept' }] })).status, 201);
    const auditBefore = await admin$('GET', '/audit?type=role-member.put-many&limit=1000');
    const members = Array.from({ length: 1000 }, (_, i) => ({ principal: longPrincipal(i), expiresAt: FAR }));
    const added = await bulk('alpha', 'bulk', members);
    assert.equal(added.status, 200, added.text);
    assert.deepEqual(added.json, { created: 1000, updated: 0, joinTokensVoided: 0 });
    const again = await bulk('alpha', 'bulk', [{ principal: longPrincipal(0) }, { principal: 'alpha.new' }]);
    assert.deepEqual(again.json, { created: 1, updated: 1, joinTokensVoided: 0 });
    const all = (await walk('/domains/alpha/roles/bulk/members', 'members', 1000)) as { principal: string; expiresAt: string | null }[];
    assert.equal(all.length, 1002);
    assert.ok(
      all.some((m) => m.principal === 'alpha.kept'),
      'the member there before stays',
    );
    assert.equal(all.find((m) => m.principal === longPrincipal(0))!.expiresAt, null, 'the expiry is set anew');
    const auditAfter = await admin$('GET', '/audit?type=role-member.put-many&limit=1000');
    assert.equal(auditAfter.json.events.length, auditBefore.json.events.length + 2);
    assert.deepEqual({ ...auditAfter.json.events[1].after, members: undefined }, { created: 1000, updated: 0, joinTokensVoided: 0, members: undefined });
    assert.equal(auditAfter.json.events[0].target, 'alpha:role.bulk');

    const over = [...members, { principal: longPrincipal(1000) }];
    assertError(await bulk('alpha', 'bulk', over), 400, 'invalid_request', /members must NOT have more than 1000 items/);
    assertError(await bulk('alpha', 'bulk', []), 400, 'invalid_request', /members must NOT have fewer than 1 items/);
    assertError(await bulk('alpha', 'bulk', [{ principal: 'alpha.x' }, { principal: 'alpha.x' }]), 400, 'invalid_request', /each principal may appear once/);
    assertError(await bulk('alpha', 'bulk', [{ principal: 'Not A Name' }]), 400, 'invalid_request', /not a valid principal name/);
    assertError(await bulk('alpha', 'bulk', [{ principal: 'alpha.x', expiresAt: 'soon' }]), 400, 'invalid_request', /expiresAt/);
    assertError(await bulk('alpha', 'nope', [{ principal: 'alpha.x' }]), 404, 'not_found', /not found/);
    const count = ((await walk('/domains/alpha/roles/bulk/members', 'members', 1000)) as unknown[]).length;
    assert.equal(count, 1002, 'a refused call changes nothing');
  });

  it('holds a bulk addition to the single-member rules: who may, join tokens voided, the last system admin', async () => {
    // Who may: alpha's admin, in alpha only.
    assertError(await bulk('beta', 'huge', [{ principal: 'alpha.x' }], alphaAdmin), 403, 'forbidden', /needs sys\.auth:role\.admin or beta:role\.admin/);
    assert.equal((await admin$('PUT', '/domains/alpha/roles/rules', {})).status, 201);
    const mine = await bulk('alpha', 'rules', [{ principal: 'alpha.y' }], alphaAdmin);
    assert.equal(mine.status, 200, mine.text);

    // A service granted another domain's admin role loses the join tokens made for it before.
    await post('/domains/alpha/services', { name: 'granted' });
    await post('/domains/alpha/services', { name: 'plain' });
    const tokens: string[] = [];
    for (const principal of ['alpha.granted', 'alpha.granted', 'alpha.plain']) {
      const res = await admin$('POST', '/join-tokens', { principal }, alphaAdmin);
      assert.equal(res.status, 201, res.text);
      tokens.push(res.json.token as string);
    }
    assert.equal((await admin$('PUT', '/domains/beta/roles/admin', {})).status, 201);
    const grant = await bulk('beta', 'admin', [{ principal: 'alpha.granted' }, { principal: 'alpha.other' }]);
    assert.deepEqual(grant.json, { created: 2, updated: 0, joinTokensVoided: 2 });
    assert.equal((await admin$('GET', '/join-tokens?principal=alpha.granted')).json.joinTokens.length, 0);
    assert.equal((await admin$('GET', '/join-tokens?principal=alpha.plain')).json.joinTokens.length, 1);
    const enroll = await t.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(await serviceKey('ec')), proof: { type: 'join-token', value: tokens[0] } }),
    });
    assert.equal(enroll.status, 401, enroll.text);
    const voids = await admin$('GET', '/audit?type=join-token.void&principal=alpha.granted');
    assert.equal(voids.json.events.length, 1, voids.text);
    assert.equal(voids.json.events[0].after.grantedRole, 'beta:role.admin');
    // alpha's admin may no longer make join tokens for it, as after a single-member grant.
    assert.equal((await admin$('POST', '/join-tokens', { principal: 'alpha.granted' }, alphaAdmin)).status, 403);

    // The last system admin: an expiry that would leave sys.auth:role.admin without a member is refused.
    const admins = await admin$('GET', '/domains/sys.auth/roles/admin');
    const [bootstrap] = admins.json.members as { principal: string }[];
    const soon = new Date(Date.now() + 3_600_000).toISOString();
    assertError(await bulk('sys.auth', 'admin', [{ principal: bootstrap!.principal, expiresAt: soon }]), 409, 'conflict', /without an active member/);
    const single = await admin$('PUT', `/domains/sys.auth/roles/admin/members/${bootstrap!.principal}`, { expiresAt: soon });
    assertError(single, 409, 'conflict', /without an active member/);
  });

  it('ends an audit page early once it holds about 4 MB of events, and keeps no event side over 128 KiB', async () => {
    const type = 'test.large';
    const at = Date.now();
    const big = (i: number) => ({ i, text: 'x'.repeat(100 * 1024) });
    await t.server.store.appendAuditBatch(
      Array.from({ length: 50 }, (_, i) => ({ at: at + i, actor: 'test', type, target: `t${i}`, before: big(i), after: null })),
    );
    await t.server.store.appendAudit({ at: at + 50, actor: 'test', type, target: 'huge', before: { text: 'y'.repeat(200 * 1024) }, after: null });
    const first = await admin$('GET', `/audit?type=${type}&limit=1000`);
    assert.equal(first.status, 200, first.text.slice(0, 200));
    const events = first.json.events as { target: string; before: unknown }[];
    assert.ok(events.length > 30 && events.length < 45, `${events.length} events on the first page`);
    assert.ok(first.text.length < 5 * 1024 * 1024, `${first.text.length} characters`);
    assert.notEqual(first.json.nextCursor, null);
    assert.deepEqual(events[0]?.before, { truncated: true, characters: 200 * 1024 + 11, note: 'over 131072 characters: not stored' });
    const all = (await walk(`/audit?type=${type}`, 'events', 1000)) as { target: string }[];
    assert.deepEqual(
      all.map((e) => e.target),
      ['huge', ...Array.from({ length: 50 }, (_, i) => `t${49 - i}`)],
      'each event once, in order',
    );
  });
});
