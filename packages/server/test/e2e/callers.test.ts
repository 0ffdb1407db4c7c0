// Who calls whom (docs/http-api.md, Who calls whom): GET /admin/v1/domains/{d}/callers and
// …/callers/series, counted from the tokens the token endpoint hands out, over real HTTPS
// (SQLite; the sums' storage is in the conformance suite for both backends).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';

function assertError(res: TestResponse, status: number, error: string, message: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.message, message);
}

describe('who calls whom', () => {
  let t: TestServer;
  const secrets = new Map<string, string>();
  const token = async (principal: string, scope: string): Promise<string> => {
    const res = await t.token(principal, secrets.get(principal)!, { grant_type: 'client_credentials', scope });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token;
  };
  let betaAdmin: string;

  before(async () => {
    t = await startTestServer({
      edit: (config) => {
        config.tokenReuse = { enabled: true, window: 30 };
      },
    });
    for (const name of ['alpha', 'beta', 'gamma', 'gw']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const [domain, name] of [
      ['alpha', 'api'],
      ['alpha', 'web'],
      ['beta', 'ops'],
      ['gw', 'edge'],
    ]) {
      const res = await t.admin$('POST', `/domains/${domain}/services`, { name });
      assert.equal(res.status, 201, res.text);
      secrets.set(`${domain}.${name}`, res.json.clientSecret);
    }
    const members = (...principals: string[]) => principals.map((principal) => ({ principal }));
    for (const [domain, role, body] of [
      ['beta', 'readers', { members: members('alpha.api', 'alpha.web'), actors: ['gw.edge'] }],
      ['beta', 'writers', { members: members('alpha.api') }],
      ['beta', 'admin', { members: members('beta.ops') }],
      ['gamma', 'readers', { members: members('alpha.api') }],
      ['gw', 'callers', { members: members('alpha.web') }],
    ] as const) {
      const res = await t.admin$('PUT', `/domains/${domain}/roles/${role}`, body);
      assert.ok(res.status === 201 || res.status === 200, res.text);
    }
    betaAdmin = await token('beta.ops', 'beta:role.admin');
  });
  after(() => t?.stop());

  it('lists each principal, actor and set of roles that obtained tokens for the domain, with counts and first and last seen', async () => {
    const started = Date.now();
    await token('alpha.api', 'beta:role.readers beta:role.writers gamma:role.readers');
    await token('alpha.api', 'beta:role.readers beta:role.writers gamma:role.readers'); // reused: counted
    await token('alpha.api', 'beta:role.readers');
    await token('alpha.web', 'beta:domain');
    const subject = await token('alpha.web', 'gw:role.callers');
    const res = await t.token('gw.edge', secrets.get('gw.edge')!, {
      grant_type: GRANT,
      subject_token: subject,
      subject_token_type: AT,
      scope: 'beta:role.readers',
    });
    assert.equal(res.status, 200, res.text);
    // A refused request is no call.
    assert.equal((await t.token('alpha.web', secrets.get('alpha.web')!, { grant_type: 'client_credentials', scope: 'beta:role.writers' })).status, 403);
    await t.server.flushAudit();

    const list = await t.admin$('GET', '/domains/beta/callers', undefined, betaAdmin);
    assert.equal(list.status, 200, list.text);
    const rows = list.json.callers.map((c: Record<string, unknown>) => `${c.principal} ${c.actor ?? '-'} [${(c.roles as string[]).join(',')}] ${c.count}`);
    assert.deepEqual(rows, [
      'alpha.api - [readers] 1',
      'alpha.api - [readers,writers] 2',
      'alpha.web - [readers] 1',
      'alpha.web gw.edge [readers] 1',
      'beta.ops - [admin] 1',
    ]);
    for (const c of list.json.callers) {
      assert.ok(Date.parse(c.firstSeen) >= started - 1000 && Date.parse(c.lastSeen) >= Date.parse(c.firstSeen), JSON.stringify(c));
    }
    assert.equal(list.json.nextCursor, null);
    assert.ok(Date.parse(list.json.since) <= Date.now() - 29 * 86_400_000, 'the last 30 days by default');

    const gamma = await t.admin$('GET', '/domains/gamma/callers');
    assert.deepEqual(
      gamma.json.callers.map((c: Record<string, unknown>) => `${c.principal} ${c.count}`),
      ['alpha.api 2'],
    );

    const series = await t.admin$('GET', '/domains/beta/callers/series', undefined, betaAdmin);
    assert.equal(series.status, 200, series.text);
    assert.equal(series.json.bucket, 'hour');
    const total = series.json.points.reduce((sum: number, p: { count: number }) => sum + p.count, 0);
    assert.equal(total, 6);
    const web = await t.admin$('GET', '/domains/beta/callers/series?principal=alpha.web', undefined, betaAdmin);
    assert.equal(
      web.json.points.reduce((sum: number, p: { count: number }) => sum + p.count, 0),
      2,
    );
    const future = await t.admin$('GET', `/domains/beta/callers?since=${new Date(Date.now() + 3_600_000).toISOString()}`);
    assertError(future, 400, 'invalid_request', /since is in the future/);
  });

  it('pages with limit and cursor; a cursor of another domain or period is refused', async () => {
    const first = await t.admin$('GET', '/domains/beta/callers?limit=3');
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.callers.length, 3);
    assert.equal(typeof first.json.nextCursor, 'string');
    const second = await t.admin$('GET', `/domains/beta/callers?limit=3&cursor=${first.json.nextCursor}`);
    assert.deepEqual(
      second.json.callers.map((c: Record<string, unknown>) => `${c.principal} ${c.actor}`),
      ['alpha.web gw.edge', 'beta.ops null'],
    );
    assert.equal(second.json.nextCursor, null);
    const elsewhere = await t.admin$('GET', `/domains/gamma/callers?cursor=${first.json.nextCursor}`);
    assertError(elsewhere, 400, 'invalid_request', /cursor is not one this list gave out/);
    const otherPeriod = await t.admin$('GET', `/domains/beta/callers?since=2020-01-01T00:00:00Z&cursor=${first.json.nextCursor}`);
    assertError(otherPeriod, 400, 'invalid_request', /cursor is not one this list gave out/);
  });

  it('refuses what it cannot answer: a domain the caller does not administer, an unknown domain, bad parameters', async () => {
    assert.equal((await t.admin$('GET', '/domains/gamma/callers', undefined, betaAdmin)).status, 403);
    assert.equal((await t.admin$('GET', '/domains/gamma/callers/series', undefined, betaAdmin)).status, 403);
    assertError(await t.admin$('GET', '/domains/nope/callers'), 404, 'not_found', /domain "nope" does not exist/);
    assertError(await t.admin$('GET', '/domains/nope/callers/series'), 404, 'not_found', /domain "nope" does not exist/);
    assert.equal((await t.admin$('GET', '/domains/beta/callers?since=yesterday')).status, 400);
    assert.equal((await t.admin$('GET', '/domains/beta/callers?limit=0')).status, 400);
    assert.equal((await t.admin$('GET', '/domains/beta/callers/series?principal=..bad')).status, 400);
    assert.equal((await t.admin$('GET', '/domains/beta/callers/series?extra=1')).status, 400);
    assert.equal((await t.send('/admin/v1/domains/beta/callers')).status, 401);
  });
});
