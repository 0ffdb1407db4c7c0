// The admin API over real HTTPS: authorization (system admin, domain admin, strangers), every
// resource of the admin API (docs/http-api.md), bad input, audit, and the OpenAPI document.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

function assertAdminError(res: TestResponse, status: number, error: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.equal(typeof res.json.message, 'string');
  assert.ok(!/at .*\.ts:\d+/.test(res.text), 'no stack trace');
}

describe('admin API', () => {
  let t: TestServer;
  let root: string;

  before(async () => {
    t = await startTestServer();
    root = await t.adminToken();
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name, description: `${name} team` }, root)).status, 201);
  });
  after(() => t.stop());

  describe('authentication and authorization', () => {
    it('401 without a token, with a Bearer challenge', async () => {
      const res = await t.send('/admin/v1/domains');
      assertAdminError(res, 401, 'invalid_token');
      assert.match(String(res.headers['www-authenticate']), /^Bearer/);
    });

    it('401 for a token that is not ours', async () => {
      const forged = `${Buffer.from('{"alg":"ES256","typ":"at+jwt","kid":"x"}').toString('base64url')}.${Buffer.from('{"sub":"sys.auth.admin"}').toString('base64url')}.AAAA`;
      assertAdminError(await t.admin$('GET', '/domains', undefined, forged), 401, 'invalid_token');
    });

    it('403 for a valid token without an admin role', async () => {
      const svc = await t.admin$('POST', '/domains/alpha/services', { name: 'plain' }, root);
      await t.admin$('PUT', '/domains/alpha/roles/users', { members: [{ principal: 'alpha.plain' }] }, root);
      const token = await t.token('alpha.plain', svc.json.clientSecret, { grant_type: 'client_credentials', scope: 'alpha:domain' });
      assertAdminError(await t.admin$('POST', '/domains', { name: 'gamma' }, token.json.access_token), 403, 'forbidden');
    });

    it('a domain admin manages its own domain and nothing else', async () => {
      const svc = await t.admin$('POST', '/domains/alpha/services', { name: 'owner' }, root);
      await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.owner' }] }, root);
      const res = await t.token('alpha.owner', svc.json.clientSecret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
      const token = res.json.access_token as string;
      assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'worker' }, token)).status, 201);
      assert.equal((await t.admin$('GET', '/domains/alpha', undefined, token)).status, 200);
      const list = await t.admin$('GET', '/domains', undefined, token);
      assert.deepEqual(
        list.json.domains.map((d: { name: string }) => d.name),
        ['alpha'],
      );
      assertAdminError(await t.admin$('POST', '/domains/beta/services', { name: 'sneaky' }, token), 403, 'forbidden');
      assertAdminError(await t.admin$('PUT', '/domains/sys.auth/roles/admin/members/alpha.owner', {}, token), 403, 'forbidden');
      assertAdminError(await t.admin$('POST', '/domains', { name: 'gamma' }, token), 403, 'forbidden');
      assertAdminError(await t.admin$('POST', '/signing-keys/rotate', undefined, token), 403, 'forbidden');

      // Removing the membership takes effect at once, even though the token has not expired: the
      // token names a role no longer held, so it is no longer accepted at all.
      assert.equal((await t.admin$('DELETE', '/domains/alpha/roles/admin/members/alpha.owner', undefined, root)).status, 204);
      assertAdminError(await t.admin$('GET', '/domains/alpha', undefined, token), 401, 'invalid_token');
    });

    it('authorizes the domain in the path before reading the body: 403 for another domain, 400 for its own', async () => {
      const svc = await t.admin$('POST', '/domains/alpha/services', { name: 'early' }, root);
      await t.admin$('PUT', '/domains/alpha/roles/admin/members/alpha.early', {}, root);
      const token = (await t.token('alpha.early', svc.json.clientSecret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' })).json.access_token;
      const send = (bearer: string, path: string, method = 'PATCH'): Promise<TestResponse> =>
        t.send(`/admin/v1${path}`, { method, headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: '{"description": ' });
      // Every route with a domain in its path, not only those taking large bodies.
      for (const [path, method] of [
        ['/domains/beta', 'PATCH'],
        ['/domains/beta/services', 'POST'],
        ['/domains/sys.auth/roles/admin/members', 'POST'],
      ]) {
        assertAdminError(await send(token, path!, method), 403, 'forbidden');
      }
      // The domain it administers, and a system admin anywhere: on to the body, refused as bad JSON.
      assertAdminError(await send(token, '/domains/alpha'), 400, 'invalid_request');
      assertAdminError(await send(root, '/domains/beta'), 400, 'invalid_request');
      // Authentication still comes first.
      assertAdminError(await send('not-a-token', '/domains/beta'), 401, 'invalid_token');
    });

    it('a disabled admin is locked out at once', async () => {
      const svc = await t.admin$('POST', '/domains/beta/services', { name: 'boss' }, root);
      await t.admin$('PUT', '/domains/beta/roles/admin', { members: [{ principal: 'beta.boss' }] }, root);
      const token = (await t.token('beta.boss', svc.json.clientSecret, { grant_type: 'client_credentials', scope: 'beta:admin' })).json.access_token;
      assert.equal((await t.admin$('GET', '/domains/beta', undefined, token)).status, 200);
      await t.admin$('PATCH', '/domains/beta/services/boss', { status: 'DISABLED' }, root);
      assertAdminError(await t.admin$('GET', '/domains/beta', undefined, token), 401, 'invalid_token');
    });
  });

  describe('domains', () => {
    it('creates, gets, lists and deletes', async () => {
      const created = await t.admin$('POST', '/domains', { name: 'temp.team' }, root);
      assert.equal(created.status, 201);
      assert.equal(created.json.name, 'temp.team');
      assert.match(created.json.createdAt, /^\d{4}-\d\d-\d\dT/);
      assert.equal((await t.admin$('GET', '/domains/temp.team', undefined, root)).json.name, 'temp.team');
      assert.ok((await t.admin$('GET', '/domains', undefined, root)).json.domains.some((d: { name: string }) => d.name === 'temp.team'));
      assert.equal((await t.admin$('DELETE', '/domains/temp.team', undefined, root)).status, 204);
      assertAdminError(await t.admin$('GET', '/domains/temp.team', undefined, root), 404, 'not_found');
    });

    it('409 for a duplicate, and for deleting a domain that still holds services', async () => {
      assertAdminError(await t.admin$('POST', '/domains', { name: 'alpha' }, root), 409, 'conflict');
      const res = await t.admin$('DELETE', '/domains/alpha', undefined, root);
      assertAdminError(res, 409, 'conflict');
      assert.match(res.json.message, /delete them first/);
      assertAdminError(await t.admin$('DELETE', '/domains/sys.auth', undefined, root), 409, 'conflict');
    });

    it('400 for invalid names, unknown fields, bad JSON and wrong types', async () => {
      const bad = await t.admin$('POST', '/domains', { name: 'Bad Name' }, root);
      assertAdminError(bad, 400, 'invalid_request');
      assert.match(bad.json.message, /lower-case/);
      const unknown = await t.admin$('POST', '/domains', { name: 'ok', colour: 'blue' }, root);
      assertAdminError(unknown, 400, 'invalid_request');
      assert.match(unknown.json.message, /unknown field "colour"/);
      assertAdminError(await t.admin$('POST', '/domains', { name: 42 }, root), 400, 'invalid_request');
      assertAdminError(await t.admin$('POST', '/domains', {}, root), 400, 'invalid_request');
      const malformed = await t.send('/admin/v1/domains', {
        method: 'POST',
        headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' },
        body: '{"name": "x",',
      });
      assertAdminError(malformed, 400, 'invalid_request');
      const huge = await t.send('/admin/v1/domains', {
        method: 'POST',
        headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x', description: 'd'.repeat(200_000) }),
      });
      assertAdminError(huge, 413, 'invalid_request');
    });
  });

  describe('services, secrets and keys', () => {
    it('creates with every field and patches each', async () => {
      const created = await t.admin$(
        'POST',
        '/domains/beta/services',
        { name: 'full', description: 'd', allowedIps: ['10.0.0.0/8'], expiresAt: '2099-01-01T00:00:00Z' },
        root,
      );
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.json.allowedIps, ['10.0.0.0/8']);
      assert.equal(created.json.expiresAt, '2099-01-01T00:00:00.000Z');
      assert.equal(created.json.status, 'ACTIVE');
      const patched = await t.admin$('PATCH', '/domains/beta/services/full', { status: 'DISABLED', description: null, allowedIps: [], expiresAt: null }, root);
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.json.status, 'DISABLED');
      assert.equal(patched.json.description, null);
      assert.deepEqual(patched.json.allowedIps, []);
      assert.equal(patched.json.expiresAt, null);
      const got = await t.admin$('GET', '/domains/beta/services/full', undefined, root);
      assert.equal(got.json.clientSecret, undefined, 'the secret is never shown again');
      assert.ok((await t.admin$('GET', '/domains/beta/services', undefined, root)).json.services.some((s: { name: string }) => s.name === 'full'));
    });

    it('400 for bad CIDRs, dates, statuses and empty patches; 404 and 409 where due', async () => {
      assertAdminError(await t.admin$('POST', '/domains/beta/services', { name: 'x1', allowedIps: ['10.0.0.0/40'] }, root), 400, 'invalid_request');
      assertAdminError(await t.admin$('POST', '/domains/beta/services', { name: 'x2', expiresAt: 'tomorrow' }, root), 400, 'invalid_request');
      assertAdminError(await t.admin$('PATCH', '/domains/beta/services/full', { status: 'SLEEPING' }, root), 400, 'invalid_request');
      assertAdminError(await t.admin$('PATCH', '/domains/beta/services/full', {}, root), 400, 'invalid_request');
      assertAdminError(await t.admin$('POST', '/domains/nowhere/services', { name: 'x3' }, root), 404, 'not_found');
      assertAdminError(await t.admin$('PATCH', '/domains/beta/services/ghost', { status: 'ACTIVE' }, root), 404, 'not_found');
      assertAdminError(await t.admin$('POST', '/domains/beta/services', { name: 'full' }, root), 409, 'conflict');
      assertAdminError(await t.admin$('POST', '/domains/beta/services', { name: 'a.b' }, root), 400, 'invalid_request');
    });

    it('rotates a secret with a grace period, keeping at most two live', async () => {
      const svc = await t.admin$('POST', '/domains/beta/services', { name: 'rotor' }, root);
      await t.admin$('PUT', '/domains/beta/roles/rotors', { members: [{ principal: 'beta.rotor' }] }, root);
      const scope = { grant_type: 'client_credentials', scope: 'beta:role.rotors' };
      const first = svc.json.clientSecret as string;
      const second = (await t.admin$('POST', '/domains/beta/services/rotor/secrets', { graceSeconds: 3600 }, root)).json.clientSecret as string;
      assert.equal((await t.token('beta.rotor', first, scope)).status, 200, 'old secret works during grace');
      assert.equal((await t.token('beta.rotor', second, scope)).status, 200);
      const third = await t.admin$('POST', '/domains/beta/services/rotor/secrets', { graceSeconds: 0 }, root);
      assert.equal(third.status, 201);
      assert.equal((await t.token('beta.rotor', first, scope)).status, 401);
      assert.equal((await t.token('beta.rotor', second, scope)).status, 401, 'grace 0 ends the previous secret at once');
      assert.equal((await t.token('beta.rotor', third.json.clientSecret, scope)).status, 200);
    });

    it('registers, lists, replaces and removes public keys; refuses private or weak keys', async () => {
      const { generateKeyPairSync } = await import('node:crypto');
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      await t.admin$('POST', '/domains/beta/services', { name: 'keyed', secret: false }, root);
      assert.equal((await t.admin$('PUT', '/domains/beta/services/keyed/keys/k1', { pem }, root)).status, 201);
      assert.equal((await t.admin$('PUT', '/domains/beta/services/keyed/keys/k1', { pem }, root)).status, 200);
      assert.deepEqual(
        (await t.admin$('GET', '/domains/beta/services/keyed/keys', undefined, root)).json.keys.map((k: { kid: string }) => k.kid),
        ['k1'],
      );
      const priv = await t.admin$(
        'PUT',
        '/domains/beta/services/keyed/keys/k2',
        { pem: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
        root,
      );
      assertAdminError(priv, 400, 'invalid_request');
      assert.match(priv.json.message, /private key/);
      const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      assertAdminError(await t.admin$('PUT', '/domains/beta/services/keyed/keys/k3', { pem: weak }, root), 400, 'invalid_request');
      assertAdminError(await t.admin$('PUT', '/domains/beta/services/keyed/keys/k4', { pem: 'garbage' }, root), 400, 'invalid_request');
      assert.equal((await t.admin$('DELETE', '/domains/beta/services/keyed/keys/k1', undefined, root)).status, 204);
      assertAdminError(await t.admin$('DELETE', '/domains/beta/services/keyed/keys/k1', undefined, root), 404, 'not_found');
    });

    it("refuses '.' and '..' as a new key's id (URL clients resolve them as dot segments), in the body and in the path", async () => {
      const { generateKeyPairSync } = await import('node:crypto');
      const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      for (const kid of ['.', '..']) {
        const made = await t.admin$('POST', '/domains/beta/services', { name: 'dotted', publicKeys: [{ kid, pem }] }, root);
        assertAdminError(made, 400, 'invalid_request');
        assert.match(made.json.message, /^the key id "\.{1,2}" is refused: URL clients read it as a dot segment/);
        const put = await t.admin$('PUT', `/domains/beta/services/full/keys/${encodeURIComponent(kid).replaceAll('.', '%2E')}`, { pem }, root);
        assert.ok(put.status === 400 || put.status === 404, `PUT …/keys/${kid}: ${put.status} ${put.text}`);
      }
      assert.equal((await t.admin$('GET', '/domains/beta/services/dotted', undefined, root)).status, 404, 'nothing was made');
      const dots = await t.admin$('POST', '/domains/beta/services', { name: 'dots', publicKeys: [{ kid: '...', pem }] }, root);
      assert.equal(dots.status, 201, "'...' is no dot segment: an id like any other");
    });

    it('answers with Cache-Control: no-store and nosniff, refusals included (secrets are shown once)', async () => {
      const made = await t.admin$('POST', '/domains/beta/services', { name: 'cached' }, root);
      assert.equal(made.status, 201, made.text);
      for (const res of [
        made,
        await t.admin$('GET', '/domains/beta', undefined, root),
        await t.send('/admin/v1/domains'),
        await t.send('/auth/admin/service-accounts'),
      ]) {
        assert.equal(res.headers['cache-control'], 'no-store', `${res.status} ${res.text.slice(0, 80)}`);
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
      }
    });

    it('deleting a service removes its role memberships', async () => {
      const svc = await t.admin$('POST', '/domains/beta/services', { name: 'gone' }, root);
      await t.admin$('PUT', '/domains/beta/roles/gonners', { members: [{ principal: 'beta.gone' }] }, root);
      assert.equal((await t.admin$('DELETE', '/domains/beta/services/gone', undefined, root)).status, 204);
      assert.deepEqual((await t.admin$('GET', '/domains/beta/roles/gonners', undefined, root)).json.members, []);
      assert.equal((await t.token('beta.gone', svc.json.clientSecret, { grant_type: 'client_credentials', scope: 'beta:domain' })).status, 401);
    });
  });

  describe('roles', () => {
    it('puts, replaces, gets, lists and deletes roles and members', async () => {
      const put = await t.admin$(
        'PUT',
        '/domains/beta/roles/editors',
        { members: [{ principal: 'alpha.x' }, { principal: 'alpha.y', expiresAt: '2099-01-01T00:00:00Z' }] },
        root,
      );
      assert.equal(put.status, 201, put.text);
      assert.equal(put.json.fullName, 'beta:role.editors');
      const replaced = await t.admin$('PUT', '/domains/beta/roles/editors', { members: [{ principal: 'alpha.z' }] }, root);
      assert.equal(replaced.status, 200);
      assert.deepEqual(replaced.json.members, [{ principal: 'alpha.z', expiresAt: null, reviewBy: null }]);
      assert.equal((await t.admin$('PUT', '/domains/beta/roles/editors/members/alpha.w', undefined, root)).status, 201);
      assert.equal((await t.admin$('GET', '/domains/beta/roles/editors', undefined, root)).json.members.length, 2);
      assert.ok((await t.admin$('GET', '/domains/beta/roles', undefined, root)).json.roles.some((r: { name: string }) => r.name === 'editors'));
      assert.equal((await t.admin$('DELETE', '/domains/beta/roles/editors/members/alpha.w', undefined, root)).status, 204);
      assert.equal((await t.admin$('DELETE', '/domains/beta/roles/editors', undefined, root)).status, 204);
      assertAdminError(await t.admin$('GET', '/domains/beta/roles/editors', undefined, root), 404, 'not_found');
    });

    it('400 for reserved or invalid role names and bad member principals', async () => {
      for (const role of ['domain', 'role.x', 'UPPER']) {
        assertAdminError(await t.admin$('PUT', `/domains/beta/roles/${role}`, {}, root), 400, 'invalid_request');
      }
      assertAdminError(await t.admin$('PUT', '/domains/beta/roles/ok', { members: [{ principal: 'noservice' }] }, root), 400, 'invalid_request');
      assertAdminError(
        await t.admin$('PUT', '/domains/beta/roles/ok', { members: [{ principal: 'a.b' }, { principal: 'a.b' }] }, root),
        400,
        'invalid_request',
      );
      assertAdminError(await t.admin$('PUT', '/domains/nowhere/roles/ok', {}, root), 404, 'not_found');
      assertAdminError(await t.admin$('DELETE', '/domains/beta/roles/never/members/a.b', undefined, root), 404, 'not_found');
    });
  });

  describe('audit', () => {
    it('records every change with who, what, before and after, and never a secret', async () => {
      await t.admin$('POST', '/domains/alpha/services', { name: 'audited' }, root);
      await t.admin$('PATCH', '/domains/alpha/services/audited', { description: 'now described' }, root);
      await t.admin$('POST', '/domains/alpha/services/audited/secrets', {}, root);
      const res = await t.admin$('GET', '/audit?principal=alpha.audited&limit=10', undefined, root);
      assert.equal(res.status, 200, res.text);
      const types = res.json.events.map((e: { type: string }) => e.type);
      assert.ok(types.includes('service.create'), types.join());
      assert.ok(types.includes('service.update'), types.join());
      const update = res.json.events.find((e: { type: string }) => e.type === 'service.update');
      assert.equal(update.actor, 'sys.auth.admin');
      assert.equal(update.target, 'alpha.audited');
      assert.equal(update.before.description, null);
      assert.equal(update.after.description, 'now described');
      const all = await t.admin$('GET', '/audit?limit=1000', undefined, root);
      assert.ok(!/clientSecret|"hash"|sealed|BEGIN PRIVATE/.test(all.text), 'no secret material in audit');
      assert.ok(!all.text.includes(t.admin.clientSecret));
      assertAdminError(await t.admin$('GET', '/audit?limit=0', undefined, root), 400, 'invalid_request');
      assertAdminError(await t.admin$('GET', '/audit?since=yesterday', undefined, root), 400, 'invalid_request');
      assertAdminError(await t.admin$('GET', '/audit?colour=red', undefined, root), 400, 'invalid_request');
    });
  });

  describe('OpenAPI', () => {
    it('describes the admin API and the token endpoint as OpenAPI 3.1', async () => {
      const res = await t.send('/openapi.json');
      assert.equal(res.status, 200);
      assert.equal(res.json.openapi, '3.1.0');
      for (const path of [
        '/admin/v1/domains',
        '/admin/v1/domains/{domain}/services/{service}',
        '/admin/v1/domains/{domain}/roles/{role}/members/{principal}',
        '/admin/v1/signing-keys/rotate',
        '/admin/v1/audit',
        '/oauth2/token',
      ]) {
        assert.ok(res.json.paths[path], `${path} documented`);
      }
      assert.deepEqual(res.json.paths['/admin/v1/domains'].post.requestBody.content['application/json'].schema.required, ['name']);
    });
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await t.send('/nope');
    assertAdminError(res, 404, 'not_found');
  });
});
