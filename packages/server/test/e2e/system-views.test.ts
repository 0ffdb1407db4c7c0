// What the console's system page reads (docs/http-api.md, Signing keys, CA generations, System):
// the token rates counted from the token audit (issued, refusals before and after
// authentication by code), the next rotation of the signing keys and the CA, and the storage's
// health; system admins only. Over real HTTPS (SQLite; the rates' storage is in the conformance
// suite for both backends).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const HOUR = 3_600_000;

interface Point {
  at: string;
  issued: number;
  refused: number;
  refusals: Record<string, number>;
}

function assertError(res: TestResponse, status: number, error: string, message?: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  if (message) assert.match(res.json.message, message);
}

describe('system views: token rates, next rotations, storage', () => {
  let t: TestServer;
  let admin: string;
  let alphaAdmin: string;
  const secrets = new Map<string, string>();
  const totals = (points: Point[]): { issued: number; refused: number; refusals: Record<string, number> } => {
    const refusals: Record<string, number> = {};
    for (const point of points) for (const [code, n] of Object.entries(point.refusals)) refusals[code] = (refusals[code] ?? 0) + n;
    return { issued: points.reduce((s, p) => s + p.issued, 0), refused: points.reduce((s, p) => s + p.refused, 0), refusals };
  };

  before(async () => {
    t = await startTestServer();
    admin = await t.adminToken();
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' }, admin)).status, 201);
    for (const name of ['api', 'ops']) {
      const res = await t.admin$('POST', '/domains/alpha/services', { name }, admin);
      assert.equal(res.status, 201, res.text);
      secrets.set(`alpha.${name}`, res.json.clientSecret);
    }
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/readers', { members: [{ principal: 'alpha.api' }] }, admin)).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.ops' }] }, admin)).status, 201);
    const res = await t.token('alpha.ops', secrets.get('alpha.ops')!, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    assert.equal(res.status, 200, res.text);
    alphaAdmin = res.json.access_token;
  });
  after(() => t?.stop());

  it('counts tokens issued and refused per hour, refusals by code, before and after authentication', async () => {
    await t.server.flushAudit();
    const before = await t.admin$('GET', '/system/token-rates', undefined, admin);
    assert.equal(before.status, 200, before.text);
    const started = totals(before.json.points);

    for (let i = 0; i < 3; i++) {
      const res = await t.token('alpha.api', secrets.get('alpha.api')!, { grant_type: 'client_credentials', scope: 'alpha:role.readers' });
      assert.equal(res.status, 200, res.text);
    }
    // Refused before authentication: summed up (token.refused.summary), counted by the summary's count.
    for (let i = 0; i < 2; i++) {
      assert.equal((await t.token('alpha.api', 'not-the-secret', { grant_type: 'client_credentials' })).status, 401);
    }
    // Refused after authentication: a role it does not hold (token.refused).
    const scope = await t.token('alpha.api', secrets.get('alpha.api')!, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    assert.equal(scope.status, 403, scope.text);
    const scopeCode: string = scope.json.error_code ?? scope.json.error;
    await t.server.flushAudit();

    const res = await t.admin$('GET', '/system/token-rates', undefined, admin);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.bucket, 'hour');
    const since = Date.parse(res.json.since);
    assert.equal(since % HOUR, 0, 'since is rounded down to the hour');
    assert.ok(Date.now() - since >= 24 * HOUR && Date.now() - since < 25 * HOUR, 'the last 24 hours by default');
    const points = res.json.points as Point[];
    assert.ok(points.length >= 1);
    for (const point of points) {
      assert.equal(Date.parse(point.at) % HOUR, 0);
      assert.ok(point.issued + point.refused > 0, 'hours with none are left out');
      assert.equal(
        Object.values(point.refusals).reduce((s, n) => s + n, 0),
        point.refused,
      );
    }
    const now = totals(points);
    assert.equal(now.issued - started.issued, 3);
    assert.equal(now.refused - started.refused, 3);
    assert.equal((now.refusals['AUTH_101'] ?? 0) - (started.refusals['AUTH_101'] ?? 0), 2, JSON.stringify(now.refusals));
    assert.equal((now.refusals[scopeCode] ?? 0) - (started.refusals[scopeCode] ?? 0), 1, `${scopeCode} in ${JSON.stringify(now.refusals)}`);

    // One endpoint only; a period that starts later.
    const introspect = await t.admin$('GET', '/system/token-rates?endpoint=introspect', undefined, admin);
    assert.equal(introspect.status, 200, introspect.text);
    assert.deepEqual(totals(introspect.json.points).issued, 0);
    const later = new Date(Date.now() + 60_000 - (Date.now() % HOUR) + HOUR).toISOString();
    assertError(await t.admin$('GET', `/system/token-rates?since=${later}`, undefined, admin), 400, 'invalid_request', /future/);
    const thisHour = new Date(Date.now()).toISOString();
    const recent = await t.admin$('GET', `/system/token-rates?since=${thisHour}`, undefined, admin);
    assert.equal(recent.status, 200, recent.text);
    assert.equal(recent.json.since, new Date(Math.floor(Date.now() / HOUR) * HOUR).toISOString());
  });

  it('refuses bad parameters (400) and a domain admin (403)', async () => {
    assertError(await t.admin$('GET', '/system/token-rates?since=yesterday', undefined, admin), 400, 'invalid_request');
    assertError(await t.admin$('GET', '/system/token-rates?endpoint=jwks', undefined, admin), 400, 'invalid_request');
    assertError(await t.admin$('GET', '/system/token-rates?bucket=day', undefined, admin), 400, 'invalid_request');
    assertError(await t.admin$('GET', '/system/token-rates', undefined, alphaAdmin), 403, 'forbidden');
    assertError(await t.admin$('GET', '/system/storage', undefined, alphaAdmin), 403, 'forbidden');
    assertError(await t.admin$('GET', '/signing-keys', undefined, alphaAdmin), 403, 'forbidden');
    assert.equal((await t.send('/admin/v1/system/token-rates')).status, 401);
  });

  it('tells when the next signing key and CA generation will be created', async () => {
    const keys = await t.admin$('GET', '/signing-keys', undefined, admin);
    assert.equal(keys.status, 200, keys.text);
    const active = (keys.json.keys as { state: string; activatesAt: string }[]).find((k) => k.state === 'active')!;
    const { rotationInterval, prePublication } = t.server.config.signing;
    assert.equal(keys.json.nextRotationAt, new Date(Date.parse(active.activatesAt) + (rotationInterval - prePublication) * 1000).toISOString());

    // A forced rotation: the next key is created after the waiting one has taken over.
    assert.equal((await t.admin$('POST', '/signing-keys/rotate', undefined, admin)).status, 202);
    const rotated = await t.admin$('GET', '/signing-keys', undefined, admin);
    const waiting = (rotated.json.keys as { state: string; activatesAt: string }[]).find((k) => k.state === 'next')!;
    assert.equal(rotated.json.nextRotationAt, new Date(Date.parse(waiting.activatesAt) + (rotationInterval - prePublication) * 1000).toISOString());

    const ca = await t.admin$('GET', '/ca/generations', undefined, admin);
    assert.equal(ca.status, 200, ca.text);
    const generation = (ca.json.generations as { state: string; activatesAt: string; notAfter: string }[]).find((g) => g.state === 'active')!;
    const next = Date.parse(ca.json.nextRotationAt);
    assert.ok(next > Date.parse(generation.activatesAt) && next < Date.parse(generation.notAfter), ca.text);
    const life = Date.parse(generation.notAfter) - Date.parse(generation.activatesAt);
    assert.ok(Date.parse(generation.notAfter) - next >= life / 6 - 1000, 'a sixth of its life before its end, at the latest');
  });

  it('reports the storage backend and whether it answers, without credentials', async () => {
    const res = await t.admin$('GET', '/system/storage', undefined, admin);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.backend, 'sqlite');
    assert.equal(res.json.answers, true);
    assert.equal(res.json.ready, true);
    assert.deepEqual(res.json.problems, []);
    assert.equal(typeof res.json.pingMs, 'number');
    assert.ok(res.json.location.startsWith(t.dataDir), res.text);
    assert.ok(Math.abs(Date.parse(res.json.checkedAt) - Date.now()) < 60_000);
  });

  it('describes the routes in the OpenAPI document', async () => {
    const doc = (await t.send('/openapi.json')).json;
    for (const path of ['/admin/v1/system/token-rates', '/admin/v1/system/storage']) assert.ok(doc.paths[path]?.get, path);
    const keys = doc.paths['/admin/v1/signing-keys'].get.responses['200'].content['application/json'].schema;
    assert.ok(keys.properties.nextRotationAt);
    const generations = doc.paths['/admin/v1/ca/generations'].get.responses['200'].content['application/json'].schema;
    assert.ok(generations.properties.nextRotationAt);
  });
});
