// The service-account JSON dialect (docs/http-api.md) over real HTTPS: the service-account API under
// /auth/admin, the JSON token endpoint /auth/token and the JWKS at /auth/.well-known/jwks.json,
// with every refusal's status, `error` and `message`.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const SEED_MESSAGE = "Service account created successfully. Save the client secret as it won't be shown again.";
const json = { 'content-type': 'application/json' };

function assertDialectError(res: TestResponse, status: number, error: string, message?: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.deepEqual(Object.keys(res.json).sort(), ['error', 'message'], res.text);
  assert.equal(res.json.error, error, res.text);
  assert.ok(res.json.message.length > 10, 'the message says what to fix');
  if (message) assert.match(res.json.message, message);
  assert.ok(!/at .*\.ts:\d+/.test(res.text), 'no stack trace');
}

/** Requests against one server: the admin API of the dialect and its token endpoint. */
function dialect(t: TestServer) {
  const accounts = async (method: string, path = '', body?: unknown, token?: string): Promise<TestResponse> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token ?? (await t.adminToken())}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return t.send(`/auth/admin/service-accounts${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  const token = (body: unknown): Promise<TestResponse> => t.send('/auth/token', { method: 'POST', headers: json, body: JSON.stringify(body) });
  const tokenFor = (account: { clientId: string; clientSecret: string }, scope: string): Promise<TestResponse> =>
    token({ grantType: 'client_credentials', clientId: account.clientId, clientSecret: account.clientSecret, scope });
  return { accounts, token, tokenFor };
}

describe('service-account JSON dialect: service accounts', () => {
  let t: TestServer;
  let api: ReturnType<typeof dialect>;
  let root: string;
  /** The dialect's own example account. */
  let example: { serviceAccountId: string; clientId: string; clientSecret: string };

  before(async () => {
    t = await startTestServer();
    api = dialect(t);
    root = await t.adminToken();
  });
  after(() => t.stop());

  describe('creating an account', () => {
    it('answers the example request with exactly the response shape of the dialect, and creates what its scopes name', async () => {
      const res = await api.accounts(
        'POST',
        '',
        {
          name: 'validation-service',
          description: 'Service account for the Validation Service',
          scopes: ['workflow:read', 'validation:write'],
          allowedIps: ['127.0.0.0/8', '::1/128'],
        },
        root,
      );
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(Object.keys(res.json), [
        'serviceAccountId',
        'name',
        'status',
        'clientId',
        'clientSecret',
        'scopes',
        'createdAt',
        'expiresAt',
        'message',
      ]);
      assert.match(res.json.serviceAccountId, /^svc_[0-9a-f]{16}$/);
      assert.equal(res.json.name, 'validation-service');
      assert.equal(res.json.status, 'ACTIVE');
      assert.match(res.json.clientId, /^val_svc_client_[0-9a-f]{6}$/);
      assert.match(res.json.clientSecret, /^cs_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(res.json.scopes, ['workflow:read', 'validation:write']);
      assert.match(res.json.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(res.json.expiresAt, null);
      assert.equal(res.json.message, SEED_MESSAGE);
      example = res.json;

      // A Tessera service in the configured domain (default service-accounts), created on first use.
      const service = await t.admin$('GET', '/domains/service-accounts/services/validation-service', undefined, root);
      assert.equal(service.status, 200, service.text);
      assert.equal(service.json.clientId, example.clientId);
      assert.deepEqual(service.json.allowedIps, ['127.0.0.0/8', '::1/128']);
      const role = await t.admin$('GET', '/domains/workflow/roles/read', undefined, root);
      assert.equal(role.status, 200, role.text);
      assert.deepEqual(
        role.json.members.map((m: { principal: string }) => m.principal),
        ['service-accounts.validation-service'],
      );
      assert.equal((await t.admin$('GET', '/domains/validation/roles/write', undefined, root)).status, 200);
    });

    it('reads "<domain>:role.<role>" as the same role and grants a role named twice once', async () => {
      const res = await api.accounts('POST', '', { name: 'reporter', scopes: ['workflow:role.read', 'workflow:read', 'reports:role.publish'] }, root);
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(res.json.scopes, ['workflow:read', 'reports:publish']);
      assert.match(res.json.clientId, /^rep_svc_client_[0-9a-f]{6}$/);
    });

    it('creates an account without scopes, with an expiry echoed as given', async () => {
      const res = await api.accounts('POST', '', { name: 'bare', expiresAt: '2099-01-01T00:00:00Z' }, root);
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(res.json.scopes, []);
      assert.equal(res.json.expiresAt, '2099-01-01T00:00:00Z');
    });

    it('409 for a name already taken, and nothing changes', async () => {
      const res = await api.accounts('POST', '', { name: 'validation-service', scopes: ['other:read'] }, root);
      assertDialectError(res, 409, 'conflict', /validation-service.*already exists/);
      assert.equal((await t.admin$('GET', '/domains/other', undefined, root)).status, 404);
    });

    it("409 for a scope whose new domain would share another domain's certificate DNS label", async () => {
      assert.equal((await api.accounts('POST', '', { name: 'ops-a', scopes: ['pay-ops:read'] }, root)).status, 201);
      const res = await api.accounts('POST', '', { name: 'ops-b', scopes: ['pay.ops:read'] }, root);
      assertDialectError(res, 409, 'conflict', /domain pay\.ops would share the DNS label "pay-ops" .* with domain pay-ops/);
      assert.equal((await t.admin$('GET', '/domains/pay.ops', undefined, root)).status, 404);
    });

    it('400 for bad JSON, unknown fields, wrong types and missing names', async () => {
      const malformed = await t.send('/auth/admin/service-accounts', {
        method: 'POST',
        headers: { ...json, authorization: `Bearer ${root}` },
        body: '{"name": "x",',
      });
      assertDialectError(malformed, 400, 'invalid_request');
      const empty = await t.send('/auth/admin/service-accounts', { method: 'POST', headers: { ...json, authorization: `Bearer ${root}` } });
      assertDialectError(empty, 400, 'invalid_request', /body must be object/);
      assertDialectError(await api.accounts('POST', '', { name: 'x', colour: 'blue' }, root), 400, 'invalid_request', /unknown field "colour"/);
      assertDialectError(await api.accounts('POST', '', { name: 'x', scopes: 'workflow:read' }, root), 400, 'invalid_request', /scopes/);
      assertDialectError(await api.accounts('POST', '', { scopes: [] }, root), 400, 'invalid_request', /required field "name"/);
      assertDialectError(await api.accounts('POST', '', { name: 'Bad Name' }, root), 400, 'invalid_request', /not a valid service name/);
      assertDialectError(await api.accounts('POST', '', { name: 'x', expiresAt: 'next tuesday' }, root), 400, 'invalid_request', /expiresAt.*date-time/);
    });

    it('400 for a scope that is not "<domain>:<role>"', async () => {
      for (const scope of ['workflow', 'workflow:', ':read', 'Workflow:read', 'workflow:domain', 'openid', 'workflow:service.api', 'workflow:role.', 'a:b:c']) {
        const res = await api.accounts('POST', '', { name: 'bad-scope', scopes: [scope] }, root);
        assertDialectError(res, 400, 'invalid_request', /"<domain>:<role>"/);
        assert.ok(res.json.message.includes(scope), `${scope}: the message names the bad scope`);
      }
      assert.equal(
        (await api.accounts('GET', '', undefined, root)).json.serviceAccounts.some((a: { name: string }) => a.name === 'bad-scope'),
        false,
      );
    });

    it('400 for an allowedIps entry that is not a CIDR block', async () => {
      for (const cidr of ['10.0.1.0/33', 'not-an-ip', '10.0.0.0/8/8']) {
        assertDialectError(await api.accounts('POST', '', { name: 'bad-ips', allowedIps: [cidr] }, root), 400, 'invalid_request', /allowedIps/);
      }
    });
  });

  describe('who may manage accounts', () => {
    let opsAdmin: string;
    let plain: string;

    before(async () => {
      // ops.boss administers the accounts' domain and ops, and nothing else.
      for (const name of ['ops', 'finance']) assert.equal((await t.admin$('POST', '/domains', { name }, root)).status, 201);
      const boss = await t.admin$('POST', '/domains/ops/services', { name: 'boss' }, root);
      for (const domain of ['service-accounts', 'ops']) {
        assert.equal((await t.admin$('PUT', `/domains/${domain}/roles/admin`, { members: [{ principal: 'ops.boss' }] }, root)).status, 201);
      }
      await t.admin$('PUT', '/domains/ops/roles/deploy', {}, root);
      await t.admin$('PUT', '/domains/finance/roles/read', {}, root);
      const bossToken = await t.token('ops.boss', boss.json.clientSecret, { grant_type: 'client_credentials', scope: 'service-accounts:admin ops:admin' });
      opsAdmin = bossToken.json.access_token;

      const worker = await t.admin$('POST', '/domains/ops/services', { name: 'worker' }, root);
      await t.admin$('PUT', '/domains/ops/roles/deploy/members/ops.worker', {}, root);
      plain = (await t.token('ops.worker', worker.json.clientSecret, { grant_type: 'client_credentials', scope: 'ops:deploy' })).json.access_token;
    });

    it('401 without a bearer token, or with one Tessera did not issue, with a Bearer challenge', async () => {
      const none = await t.send('/auth/admin/service-accounts');
      assertDialectError(none, 401, 'invalid_token', /Authorization: Bearer/);
      assert.match(String(none.headers['www-authenticate']), /^Bearer/);
      assertDialectError(await api.accounts('GET', '', undefined, 'not.a.token'), 401, 'invalid_token');
      // 401 comes before the body is read.
      const unread = await t.send('/auth/admin/service-accounts', { method: 'POST', headers: json, body: '{broken' });
      assertDialectError(unread, 401, 'invalid_token');
    });

    it('403 AUTH_102 for a valid token without an admin role, before its body is read', async () => {
      assertDialectError(await api.accounts('GET', '', undefined, plain), 403, 'AUTH_102', /sys\.auth:role\.admin/);
      assertDialectError(await api.accounts('POST', '', { name: 'Not Valid' }, plain), 403, 'AUTH_102');
      assertDialectError(await api.accounts('GET', `/${example.serviceAccountId}`, undefined, plain), 403, 'AUTH_102');
    });

    it('a domain admin grants existing roles of domains it administers', async () => {
      const res = await api.accounts('POST', '', { name: 'deployer', scopes: ['ops:deploy'] }, opsAdmin);
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(res.json.scopes, ['ops:deploy']);
      const listed = await api.accounts('GET', '', undefined, opsAdmin);
      assert.equal(listed.status, 200, listed.text);
      assert.ok(listed.json.serviceAccounts.some((a: { name: string }) => a.name === 'deployer'));
    });

    it('403 when a domain admin grants a role of a domain it does not administer, and nothing is created', async () => {
      const res = await api.accounts('POST', '', { name: 'sneaky', scopes: ['ops:deploy', 'finance:read'] }, opsAdmin);
      assertDialectError(res, 403, 'AUTH_102', /finance:role\.admin/);
      assertDialectError(await api.accounts('POST', '', { name: 'sneaky', scopes: ['sys.auth:admin'] }, opsAdmin), 403, 'AUTH_102');
      assert.equal((await t.admin$('GET', '/domains/service-accounts/services/sneaky', undefined, root)).status, 404);
    });

    it('403 when a domain admin names a missing role or domain: only a system admin creates those', async () => {
      const role = await api.accounts('POST', '', { name: 'sneaky', scopes: ['ops:new-role'] }, opsAdmin);
      assertDialectError(role, 403, 'AUTH_102', /role ops:role\.new-role does not exist.*system admin/);
      assert.equal((await t.admin$('GET', '/domains/ops/roles/new-role', undefined, root)).status, 404);
      assertDialectError(await api.accounts('POST', '', { name: 'sneaky', scopes: ['nowhere:read'] }, opsAdmin), 403, 'AUTH_102');
      assert.equal((await t.admin$('GET', '/domains/nowhere', undefined, root)).status, 404);
    });
  });

  describe('reading accounts', () => {
    it('gets an account by serviceAccountId, with its scopes as role memberships now', async () => {
      const res = await api.accounts('GET', `/${example.serviceAccountId}`, undefined, root);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, {
        ...res.json,
        serviceAccountId: example.serviceAccountId,
        name: 'validation-service',
        description: 'Service account for the Validation Service',
        principal: 'service-accounts.validation-service',
        status: 'ACTIVE',
        clientId: example.clientId,
        scopes: ['validation:write', 'workflow:read'],
        allowedIps: ['127.0.0.0/8', '::1/128'],
        expiresAt: null,
      });
      assert.equal(res.json.clientSecret, undefined, 'the secret is shown only once');

      // A role granted through the admin API shows up; one that expired does not.
      const member = (expiresAt: string | null) => ({ members: [{ principal: 'service-accounts.validation-service', expiresAt }] });
      assert.equal((await t.admin$('PUT', '/domains/workflow/roles/write', member(null), root)).status, 201);
      assert.equal((await t.admin$('PUT', '/domains/workflow/roles/old', member('2001-01-01T00:00:00Z'), root)).status, 201);
      const after = await api.accounts('GET', `/${example.serviceAccountId}`, undefined, root);
      assert.deepEqual(after.json.scopes, ['validation:write', 'workflow:read', 'workflow:write']);
    });

    it('lists every account with a count', async () => {
      const res = await api.accounts('GET', '', undefined, root);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.count, res.json.serviceAccounts.length);
      const names = res.json.serviceAccounts.map((a: { name: string }) => a.name);
      for (const name of ['validation-service', 'reporter', 'bare', 'deployer']) assert.ok(names.includes(name), name);
      assert.ok(!names.includes('boss'), 'services made with the admin API are not service accounts');
    });

    it('lists at most 1,000 a page, oldest first: ?limit= asks for fewer and nextCursor follows on', async () => {
      const all = await api.accounts('GET', '', undefined, root);
      assert.equal(all.json.nextCursor, null, 'a page of 1,000 by default holds them all');
      const ids = all.json.serviceAccounts.map((a: { serviceAccountId: string }) => a.serviceAccountId);
      assert.ok(ids.length >= 3);
      const walked: string[] = [];
      let cursor: string | null = null;
      do {
        const res: TestResponse = await api.accounts('GET', `?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`, undefined, root);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.count, res.json.serviceAccounts.length);
        walked.push(...res.json.serviceAccounts.map((a: { serviceAccountId: string }) => a.serviceAccountId));
        cursor = res.json.nextCursor as string | null;
      } while (cursor !== null);
      assert.deepEqual(walked, ids);
      assertDialectError(await api.accounts('GET', '?limit=1001', undefined, root), 400, 'invalid_request', /limit must be a whole number from 1 to 1000/);
      assertDialectError(await api.accounts('GET', '?cursor=nope', undefined, root), 400, 'invalid_request', /cursor is not one this list gave out/);
    });

    it('404 for an unknown serviceAccountId on every route', async () => {
      for (const [method, path] of [
        ['GET', ''],
        ['POST', '/disable'],
        ['POST', '/enable'],
        ['POST', '/rotate-secret'],
        ['DELETE', ''],
      ] as const) {
        assertDialectError(await api.accounts(method, `/svc_0000000000000000${path}`, undefined, root), 404, 'not_found', /svc_0000000000000000/);
      }
    });
  });

  describe('POST /auth/token', () => {
    it("answers the example token request with the dialect's response, through the shared token path", async () => {
      const res = await api.tokenFor(example, 'workflow:read validation:write');
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(Object.keys(res.json).sort(), ['accessToken', 'expiresIn', 'scope', 'tokenType']);
      assert.equal(res.json.tokenType, 'Bearer');
      assert.equal(res.json.expiresIn, 3600);
      assert.equal(res.json.scope, 'workflow:read validation:write');
      assert.equal(res.headers['cache-control'], 'no-store');

      const keys = await t.send('/auth/.well-known/jwks.json');
      const { payload, protectedHeader } = await jwtVerify(res.json.accessToken, createLocalJWKSet(keys.json as JSONWebKeySet), {
        issuer: t.url,
        audience: 'workflow',
        typ: 'at+jwt',
      });
      assert.equal(protectedHeader.alg, 'ES256');
      assert.equal(payload.sub, 'service-accounts.validation-service');
      assert.equal(payload['client_id'], 'service-accounts.validation-service');
      assert.deepEqual(payload.aud, ['workflow', 'validation']);
      assert.deepEqual(payload['scp'], ['workflow:read', 'validation:write']);
    });

    it('honours expiresIn, capped like expires_in', async () => {
      const res = await api.token({
        grantType: 'client_credentials',
        clientId: example.clientId,
        clientSecret: example.clientSecret,
        scope: 'workflow:read',
        expiresIn: 600,
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.expiresIn, 600);
      const claims = decodeJwt(res.json.accessToken);
      assert.equal(claims.exp! - claims.iat!, 600);
    });

    it('the opaque clientId also works on /oauth2/token', async () => {
      const res = await t.token(example.clientId, example.clientSecret, { grant_type: 'client_credentials', scope: 'workflow:domain' });
      assert.equal(res.status, 200, res.text);
      assert.equal(decodeJwt(res.json.access_token).sub, 'service-accounts.validation-service');
    });

    it('AUTH_101 for a wrong secret, an unknown clientId and missing credentials, all alike', async () => {
      const scope = 'workflow:read';
      const wrong = await api.tokenFor({ clientId: example.clientId, clientSecret: 'cs_wrong' }, scope);
      assertDialectError(wrong, 401, 'AUTH_101', /client authentication failed/);
      assert.equal(wrong.headers['cache-control'], 'no-store');
      assert.deepEqual((await api.tokenFor({ clientId: 'nobody_svc_client_000000', clientSecret: 'x' }, scope)).json, wrong.json);
      assertDialectError(await api.token({ grantType: 'client_credentials', clientId: example.clientId, scope }), 401, 'AUTH_101', /clientId and clientSecret/);
      assertDialectError(await api.token({ grantType: 'client_credentials', scope }), 401, 'AUTH_101');
    });

    it('400 for a missing or unsupported grantType, naming the JSON field', async () => {
      const missing = await api.token({ clientId: example.clientId, clientSecret: example.clientSecret, scope: 'workflow:read' });
      assertDialectError(missing, 400, 'invalid_request', /grantType is required.*'grantType': 'client_credentials'/);
      const other = await api.token({ grantType: 'password', clientId: example.clientId, clientSecret: example.clientSecret, scope: 'workflow:read' });
      assertDialectError(other, 400, 'unsupported_grant_type', /client_credentials/);
    });

    it('scope failures follow Athenz: 400 malformed, 404 unknown domain, 403 no role held', async () => {
      const ask = (scope?: string) => api.token({ grantType: 'client_credentials', clientId: example.clientId, clientSecret: example.clientSecret, scope });
      assertDialectError(await ask(undefined), 400, 'invalid_scope', /scope is required/);
      assertDialectError(await ask('Workflow:read'), 400, 'invalid_scope');
      assertDialectError(await ask('nowhere:read'), 404, 'invalid_scope');
      assertDialectError(await ask('reports:publish'), 403, 'access_denied');
      assertDialectError(
        await api.token({
          grantType: 'client_credentials',
          clientId: example.clientId,
          clientSecret: example.clientSecret,
          scope: 'workflow:read',
          expiresIn: 0,
        }),
        400,
        'invalid_request',
        /expiresIn/,
      );
    });

    it('400 for bad JSON and wrong types, 415 for a form body, each with no-store', async () => {
      const malformed = await t.send('/auth/token', { method: 'POST', headers: json, body: '{"grantType":' });
      assertDialectError(malformed, 400, 'invalid_request');
      assert.equal(malformed.headers['cache-control'], 'no-store');
      assertDialectError(
        await api.token({ grantType: 'client_credentials', clientId: 42, clientSecret: 'x', scope: 'a:b' }),
        400,
        'invalid_request',
        /clientId/,
      );
      assertDialectError(await api.token(['client_credentials']), 400, 'invalid_request');
      assertDialectError(await t.send('/auth/token', { method: 'POST', headers: json }), 400, 'invalid_request', /body must be object/);
      const form = await t.send('/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grantType: 'client_credentials' }).toString(),
      });
      assertDialectError(form, 415, 'invalid_request', /application\/json/);
      assert.equal(form.headers['cache-control'], 'no-store');
    });

    it('AUTH_103 for an expired account', async () => {
      const res = await api.accounts('POST', '', { name: 'lapsed', scopes: ['workflow:read'], expiresAt: '2001-01-01T00:00:00Z' }, root);
      assert.equal(res.status, 201, res.text);
      assertDialectError(await api.tokenFor(res.json, 'workflow:read'), 401, 'AUTH_103', /expired/);
    });

    it('AUTH_104 when the caller is outside allowedIps, and a token when inside', async () => {
      const fenced = await api.accounts('POST', '', { name: 'fenced', scopes: ['workflow:read'], allowedIps: ['10.0.0.0/8'] }, root);
      const local = await api.accounts('POST', '', { name: 'local', scopes: ['workflow:read'], allowedIps: ['127.0.0.0/8'] }, root);
      assertDialectError(await api.tokenFor(fenced.json, 'workflow:read'), 403, 'AUTH_104', /127\.0\.0\.1/);
      assert.equal((await api.tokenFor(local.json, 'workflow:read')).status, 200);
    });
  });

  describe('account lifecycle', () => {
    it('disable refuses tokens with AUTH_103 at once; enable lets them through again', async () => {
      const disabled = await api.accounts('POST', `/${example.serviceAccountId}/disable`, undefined, root);
      assert.equal(disabled.status, 200, disabled.text);
      assert.equal(disabled.json.status, 'DISABLED');
      assertDialectError(await api.tokenFor(example, 'workflow:read'), 401, 'AUTH_103', /disabled/);
      assert.equal((await api.accounts('GET', `/${example.serviceAccountId}`, undefined, root)).json.status, 'DISABLED');
      assert.equal((await api.accounts('POST', `/${example.serviceAccountId}/disable`, undefined, root)).status, 200, 'disabling twice is harmless');

      const enabled = await api.accounts('POST', `/${example.serviceAccountId}/enable`, undefined, root);
      assert.equal(enabled.status, 200, enabled.text);
      assert.equal(enabled.json.status, 'ACTIVE');
      assert.equal((await api.tokenFor(example, 'workflow:read')).status, 200);
    });

    it('rotate-secret shows a new secret once; with no grace the old one stops at once', async () => {
      const res = await api.accounts('POST', `/${example.serviceAccountId}/rotate-secret`, { graceSeconds: 0 }, root);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(Object.keys(res.json).sort(), ['clientId', 'clientSecret', 'message', 'previousSecretExpiresAt', 'serviceAccountId']);
      assert.equal(res.json.clientId, example.clientId);
      assert.match(res.json.clientSecret, /^cs_/);
      assert.notEqual(res.json.clientSecret, example.clientSecret);
      assert.match(res.json.message, /won't be shown again/);
      assertDialectError(await api.tokenFor(example, 'workflow:read'), 401, 'AUTH_101');
      assert.equal((await api.tokenFor({ clientId: example.clientId, clientSecret: res.json.clientSecret }, 'workflow:read')).status, 200);
      example = { ...example, clientSecret: res.json.clientSecret };
    });

    it('400 for a bad graceSeconds', async () => {
      for (const body of [{ graceSeconds: -1 }, { graceSeconds: 'soon' }, { grace: 5 }]) {
        assertDialectError(await api.accounts('POST', `/${example.serviceAccountId}/rotate-secret`, body, root), 400, 'invalid_request');
      }
    });

    it('delete removes the account: 204, then 404, and its clientId gets AUTH_101', async () => {
      assert.equal((await api.accounts('DELETE', `/${example.serviceAccountId}`, undefined, root)).status, 204);
      assertDialectError(await api.accounts('GET', `/${example.serviceAccountId}`, undefined, root), 404, 'not_found');
      assertDialectError(await api.tokenFor(example, 'workflow:read'), 401, 'AUTH_101');
      const role = await t.admin$('GET', '/domains/workflow/roles/read', undefined, root);
      assert.ok(!role.json.members.some((m: { principal: string }) => m.principal === 'service-accounts.validation-service'), 'its memberships went too');
      // The name is free again.
      assert.equal((await api.accounts('POST', '', { name: 'validation-service' }, root)).status, 201);
    });
  });

  describe('keys and documentation', () => {
    it('serves the very JWKS bytes of /oauth2/keys at /auth/.well-known/jwks.json', async () => {
      const [dialectKeys, keys] = await Promise.all([t.send('/auth/.well-known/jwks.json'), t.send('/oauth2/keys')]);
      assert.equal(dialectKeys.status, 200);
      assert.equal(dialectKeys.text, keys.text);
      assert.equal(dialectKeys.headers['content-type'], keys.headers['content-type']);
      assert.equal(dialectKeys.headers['cache-control'], keys.headers['cache-control']);
      assert.ok(dialectKeys.json.keys.every((k: { use: string; kid: string }) => k.use === 'sig' && k.kid));
    });

    it('describes the dialect in /openapi.json', async () => {
      const doc = (await t.send('/openapi.json')).json;
      for (const path of [
        '/auth/token',
        '/auth/admin/service-accounts',
        '/auth/admin/service-accounts/{id}',
        '/auth/admin/service-accounts/{id}/rotate-secret',
        '/auth/.well-known/jwks.json',
      ]) {
        assert.ok(doc.paths[path], path);
      }
    });
  });
});

describe('service-account JSON dialect: rotate-secret grace period', () => {
  let clock = Date.now();
  let t: TestServer;

  before(async () => {
    t = await startTestServer({ now: () => clock });
  });
  after(() => t.stop());

  it('keeps the previous secret working until the grace period ends', async () => {
    const api = dialect(t);
    const created = await api.accounts('POST', '', { name: 'rotating', scopes: ['workflow:read'] });
    assert.equal(created.status, 201, created.text);
    const rotated = await api.accounts('POST', `/${created.json.serviceAccountId}/rotate-secret`, { graceSeconds: 60 });
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(rotated.json.previousSecretExpiresAt, new Date(clock + 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z'));
    const fresh = { clientId: created.json.clientId, clientSecret: rotated.json.clientSecret };

    assert.equal((await api.tokenFor(created.json, 'workflow:read')).status, 200, 'the old secret works within the grace period');
    assert.equal((await api.tokenFor(fresh, 'workflow:read')).status, 200);
    clock += 61_000;
    assertDialectError(await api.tokenFor(created.json, 'workflow:read'), 401, 'AUTH_101');
    assert.equal((await api.tokenFor(fresh, 'workflow:read')).status, 200);
  });
});
