// A domain's admin must not become another domain's admin (or a system admin) through a service
// of their own domain that holds that other domain's admin role: whoever can mint the service a
// credential, or restore its standing, acts with its roles. Black-box over HTTPS against a real
// server; the service-account dialect's domain is alpha here, so its accounts are alpha's services.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

interface Target {
  name: string;
  principal: string;
  accountId: string;
  clientId: string;
  clientSecret: string;
  /** A domain where it holds a role: an API key's audience. */
  audience: string;
}

interface Change {
  what: string;
  /** The status a caller allowed to make the change gets. */
  ok: number;
  run(target: Target, token: string): Promise<TestResponse>;
}

/** The targets' allowedIps: the test server is called over loopback. */
const LOOPBACK = ['127.0.0.0/8', '::1/128'];
const pem = (): string => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

function assertRefused(res: TestResponse, holder: string, role: string): void {
  assert.equal(res.status, 403, res.text);
  assert.match(res.json.error, /^(forbidden|AUTH_102)$/, res.text);
  const escaped = (text: string): string => text.replaceAll('.', '\\.');
  assert.match(res.json.message, new RegExp(`${escaped(holder)} holds ${escaped(role)}.*needs ${escaped(role)}`), res.text);
}

describe("a domain admin cannot reach another domain's admin role through a service of their domain", () => {
  let t: TestServer;
  let root: string;
  /** alpha:role.admin only. */
  let alphaAdmin: string;
  /** alpha:role.admin and beta:role.admin. */
  let bothAdmin: string;
  const targets = {} as Record<'ops' | 'ops2' | 'plain', Target>;

  const accounts = (method: string, path: string, body: unknown, token: string): Promise<TestResponse> =>
    t.send(`/auth/admin/service-accounts${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const adminTokenOf = async (name: string, scope: string): Promise<string> => {
    const created = await t.admin$('POST', '/domains/alpha/services', { name }, root);
    assert.equal(created.status, 201, created.text);
    const res = await t.token(`alpha.${name}`, created.json.clientSecret, { grant_type: 'client_credentials', scope });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };

  before(async () => {
    t = await startTestServer({ env: { TESSERA_SERVICE_ACCOUNTS_DOMAIN: 'alpha' } });
    root = await t.adminToken();
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name }, root)).status, 201);
    const admins = [{ principal: 'alpha.admin' }, { principal: 'alpha.both' }];
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: admins }, root)).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/admin', { members: [{ principal: 'alpha.both' }] }, root)).status, 201);
    alphaAdmin = await adminTokenOf('admin', 'alpha:role.admin');
    bothAdmin = await adminTokenOf('both', 'alpha:role.admin beta:role.admin');
    // Created by a system admin, as the review's reproduction does.
    const made = { ops: ['sys.auth:admin', 'sys.auth'], ops2: ['beta:admin', 'beta'], plain: ['alpha:reader', 'alpha'] } as const;
    for (const [name, [scope, audience]] of Object.entries(made) as [keyof typeof targets, readonly [string, string]][]) {
      const res = await accounts('POST', '', { name, scopes: [scope], allowedIps: LOOPBACK }, root);
      assert.equal(res.status, 201, res.text);
      const { serviceAccountId: accountId, clientId, clientSecret } = res.json;
      targets[name] = { name, principal: `alpha.${name}`, accountId, clientId, clientSecret, audience };
    }
  });
  after(() => t.stop());

  const service = (target: Target): string => `/domains/alpha/services/${target.name}`;
  const changes: Change[] = [
    { what: 'adding a client secret', ok: 201, run: (s, token) => t.admin$('POST', `${service(s)}/secrets`, {}, token) },
    {
      what: 'registering a public key',
      ok: 201,
      run: (s, token) => t.admin$('PUT', `${service(s)}/keys/k-${Math.random().toString(36).slice(2)}`, { pem: pem() }, token),
    },
    { what: 'creating a join token', ok: 201, run: (s, token) => t.admin$('POST', '/join-tokens', { principal: s.principal }, token) },
    {
      what: 'creating an API key',
      ok: 201,
      run: (s, token) => t.admin$('POST', `${service(s)}/api-keys`, { audience: s.audience }, token),
    },
    { what: 'PATCHing its status', ok: 200, run: (s, token) => t.admin$('PATCH', service(s), { status: 'ACTIVE' }, token) },
    {
      what: 'widening its allowedIps',
      ok: 200,
      run: (s, token) => t.admin$('PATCH', service(s), { allowedIps: [...LOOPBACK, '10.0.0.0/8'] }, token),
    },
    { what: 'removing its expiresAt', ok: 200, run: (s, token) => t.admin$('PATCH', service(s), { expiresAt: null }, token) },
    {
      what: 'rotating its service-account secret',
      ok: 200,
      run: (s, token) => accounts('POST', `/${s.accountId}/rotate-secret`, {}, token),
    },
    { what: 'enabling its service account', ok: 200, run: (s, token) => accounts('POST', `/${s.accountId}/enable`, {}, token) },
  ];

  for (const change of changes) {
    describe(change.what, () => {
      it("403 for alpha's admin when the service holds sys.auth:role.admin, naming the role needed", async () => {
        assertRefused(await change.run(targets.ops, alphaAdmin), 'alpha.ops', 'sys.auth:role.admin');
      });

      it("403 for alpha's admin when the service holds beta:role.admin", async () => {
        assertRefused(await change.run(targets.ops2, alphaAdmin), 'alpha.ops2', 'beta:role.admin');
      });

      it("allowed to alpha's admin for a service that holds no other domain's admin role", async () => {
        const res = await change.run(targets.plain, alphaAdmin);
        assert.equal(res.status, change.ok, res.text);
      });

      it('allowed to an admin of alpha and beta for the beta admin, refused for the system admin', async () => {
        const res = await change.run(targets.ops2, bothAdmin);
        assert.equal(res.status, change.ok, res.text);
        assertRefused(await change.run(targets.ops, bothAdmin), 'alpha.ops', 'sys.auth:role.admin');
      });

      it('allowed to a system admin', async () => {
        for (const target of [targets.ops, targets.ops2]) {
          const res = await change.run(target, root);
          assert.equal(res.status, change.ok, res.text);
        }
      });
    });
  }

  it("the review's reproduction: alpha's admin gets no secret for alpha.ops, which does hold sys.auth:role.admin", async () => {
    assertRefused(await t.admin$('POST', '/domains/alpha/services/ops/secrets', {}, alphaAdmin), 'alpha.ops', 'sys.auth:role.admin');
    // What the refusal protects: a secret of alpha.ops is a system admin's token.
    const secret = await t.admin$('POST', '/domains/alpha/services/ops/secrets', {}, root);
    assert.equal(secret.status, 201, secret.text);
    const token = await t.token(targets.ops.clientId, secret.json.clientSecret, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' });
    assert.equal(token.status, 200, token.text);
    const domain = await t.admin$('POST', '/domains', { name: 'made-by-ops' }, token.json.access_token);
    assert.equal(domain.status, 201, domain.text);
  });

  describe("taking its standing away stays with alpha's admin, giving it back does not", () => {
    const day = 86_400_000;
    const at = (ms: number): string => new Date(ms).toISOString();
    /** A service of alpha made by a system admin, holding `role` and given `fields`. */
    const holding = async (role: 'sys.auth' | 'beta', fields: Record<string, unknown> = {}): Promise<{ name: string; path: string; principal: string }> => {
      const name = `held-${Math.random().toString(36).slice(2, 10)}`;
      const created = await t.admin$('POST', '/domains/alpha/services', { name, allowedIps: LOOPBACK, ...fields }, root);
      assert.equal(created.status, 201, created.text);
      assert.equal((await t.admin$('PUT', `/domains/${role}/roles/admin/members/alpha.${name}`, {}, root)).status, 201);
      return { name, path: `/domains/alpha/services/${name}`, principal: `alpha.${name}` };
    };
    const patch = (path: string, body: unknown): Promise<TestResponse> => t.admin$('PATCH', path, body, alphaAdmin);

    it("disables it (PATCH and the dialect's disable), and the service can no longer get a token", async () => {
      for (const role of ['sys.auth', 'beta'] as const) {
        const held = await holding(role);
        const res = await patch(held.path, { status: 'DISABLED', description: 'contained' });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.status, 'DISABLED');
      }
      const secret = await t.admin$('POST', '/domains/alpha/services/ops2/secrets', { graceSeconds: 0 }, root);
      assert.equal(secret.status, 201, secret.text);
      const disabled = await accounts('POST', `/${targets.ops2.accountId}/disable`, {}, alphaAdmin);
      assert.equal(disabled.status, 200, disabled.text);
      assert.equal(disabled.json.status, 'DISABLED');
      const token = await t.token(targets.ops2.clientId, secret.json.clientSecret, { grant_type: 'client_credentials', scope: 'beta:role.admin' });
      assert.notEqual(token.status, 200, token.text);
      // Enabling it again is giving its standing back: beta's admin rights needed, as for the dialect's enable above.
      assertRefused(await patch('/domains/alpha/services/ops2', { status: 'ACTIVE' }), 'alpha.ops2', 'beta:role.admin');
      assertRefused(await accounts('POST', `/${targets.ops2.accountId}/enable`, {}, alphaAdmin), 'alpha.ops2', 'beta:role.admin');
      assert.equal((await accounts('POST', `/${targets.ops2.accountId}/enable`, {}, bothAdmin)).status, 200);
    });

    it("deletes it (DELETE and the dialect's delete), which takes it out of the other domain's admin role", async () => {
      const held = await holding('beta');
      assert.equal((await t.admin$('DELETE', held.path, undefined, alphaAdmin)).status, 204);
      const role = await t.admin$('GET', '/domains/beta/roles/admin', undefined, root);
      assert.ok(!role.json.members.some((m: { principal: string }) => m.principal === held.principal), role.text);
      const made = await accounts('POST', '', { name: 'doomed', scopes: ['sys.auth:admin'] }, root);
      assert.equal(made.status, 201, made.text);
      const deleted = await accounts('DELETE', `/${made.json.serviceAccountId}`, undefined, alphaAdmin);
      assert.equal(deleted.status, 204, deleted.text);
    });

    it("sets an expiry no later than its own (any, when it has none); a later one, or none, needs the other domain's rights", async () => {
      const open = await holding('sys.auth');
      const soon = Date.now() + day;
      const set = await patch(open.path, { expiresAt: at(soon) });
      assert.equal(set.status, 200, set.text);
      assert.equal(Date.parse(set.json.expiresAt), soon);
      assert.equal((await patch(open.path, { expiresAt: at(soon) })).status, 200, 'the same expiry again');
      assert.equal((await patch(open.path, { expiresAt: at(soon - 3_600_000) })).status, 200);
      assertRefused(await patch(open.path, { expiresAt: at(soon) }), open.principal, 'sys.auth:role.admin');
      assertRefused(await patch(open.path, { expiresAt: null }), open.principal, 'sys.auth:role.admin');
      assert.equal((await t.admin$('GET', open.path, undefined, root)).json.expiresAt, at(soon - 3_600_000));
    });

    it("narrows its allowedIps; widening them, or [] (anywhere), needs the other domain's rights", async () => {
      const held = await holding('beta');
      assert.equal((await patch(held.path, { allowedIps: ['127.0.0.1', '::1'] })).status, 200);
      assert.equal((await patch(held.path, { allowedIps: ['127.0.0.1/32'] })).status, 200);
      assertRefused(await patch(held.path, { allowedIps: ['127.0.0.0/8'] }), held.principal, 'beta:role.admin');
      assertRefused(await patch(held.path, { allowedIps: [] }), held.principal, 'beta:role.admin');
      assert.deepEqual((await t.admin$('GET', held.path, undefined, root)).json.allowedIps, ['127.0.0.1/32']);
      // A service that may call from anywhere may be narrowed to any list.
      const anywhere = await holding('beta', { allowedIps: [] });
      assert.equal((await patch(anywhere.path, { allowedIps: ['10.0.0.0/8'] })).status, 200);
    });

    it('refuses a PATCH that takes away and gives back at once, and changes nothing then', async () => {
      const held = await holding('sys.auth', { expiresAt: at(Date.now() + day) });
      const mixed: Record<string, unknown>[] = [
        { status: 'DISABLED', expiresAt: at(Date.now() + 2 * day) },
        { status: 'DISABLED', expiresAt: null },
        { status: 'DISABLED', allowedIps: ['0.0.0.0/0'] },
        { expiresAt: at(Date.now() + 3_600_000), allowedIps: [...LOOPBACK, '10.0.0.0/8'] },
      ];
      for (const body of mixed) assertRefused(await patch(held.path, body), held.principal, 'sys.auth:role.admin');
      const after = await t.admin$('GET', held.path, undefined, root);
      assert.equal(after.json.status, 'ACTIVE');
      assert.deepEqual(after.json.allowedIps, LOOPBACK);
    });

    it("deletes a join token made for it by the other domain's admin", async () => {
      const held = await holding('beta');
      const made = await t.admin$('POST', '/join-tokens', { principal: held.principal }, bothAdmin);
      assert.equal(made.status, 201, made.text);
      assert.equal((await t.admin$('DELETE', `/join-tokens/${made.json.id}`, undefined, alphaAdmin)).status, 204);
      assertRefused(await t.admin$('POST', '/join-tokens', { principal: held.principal }, alphaAdmin), held.principal, 'beta:role.admin');
    });
  });

  it("reading such a service, and changing its description, stay open to alpha's admin", async () => {
    for (const path of ['', '/keys', '/api-keys', '/certificates']) {
      const res = await t.admin$('GET', `${service(targets.ops)}${path}`, undefined, alphaAdmin);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
    }
    assert.equal((await accounts('GET', `/${targets.ops.accountId}`, undefined, alphaAdmin)).status, 200);
    const described = await t.admin$('PATCH', service(targets.ops), { description: 'operations' }, alphaAdmin);
    assert.equal(described.status, 200, described.text);
  });

  it("taking a credential away stays open to alpha's admin: removing a key, revoking an API key or the certificates", async () => {
    assert.equal((await t.admin$('PUT', `${service(targets.ops)}/keys/incident`, { pem: pem() }, root)).status, 201);
    const removed = await t.admin$('DELETE', `${service(targets.ops)}/keys/incident`, undefined, alphaAdmin);
    assert.equal(removed.status, 204, removed.text);
    const key = await t.admin$('POST', `${service(targets.ops)}/api-keys`, { audience: 'sys.auth' }, root);
    assert.equal(key.status, 201, key.text);
    const revoked = await t.admin$('DELETE', `${service(targets.ops)}/api-keys/${key.json.id}`, undefined, alphaAdmin);
    assert.equal(revoked.status, 204, revoked.text);
    const certificates = await t.admin$('POST', `${service(targets.ops)}/certificates/revoke`, {}, alphaAdmin);
    assert.equal(certificates.status, 200, certificates.text);
  });

  it("403 for alpha's admin registering a service under a name that already holds another domain's admin role", async () => {
    const member = await t.admin$('PUT', '/domains/sys.auth/roles/admin/members/alpha.future', {}, root);
    assert.equal(member.status, 201, member.text);
    const beta = await t.admin$('PUT', '/domains/beta/roles/admin/members/alpha.later', {}, root);
    assert.equal(beta.status, 201, beta.text);
    assertRefused(await t.admin$('POST', '/domains/alpha/services', { name: 'future' }, alphaAdmin), 'alpha.future', 'sys.auth:role.admin');
    assertRefused(await accounts('POST', '', { name: 'future' }, alphaAdmin), 'alpha.future', 'sys.auth:role.admin');
    assertRefused(await accounts('POST', '', { name: 'later' }, alphaAdmin), 'alpha.later', 'beta:role.admin');
    assert.equal((await t.admin$('GET', '/domains/alpha/services/future', undefined, root)).status, 404);
    assert.equal((await accounts('POST', '', { name: 'later' }, bothAdmin)).status, 201);
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'future' }, root)).status, 201);
  });

  it("a deleted service's memberships go with it: registered again by alpha's admin, it holds none", async () => {
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'gone', secret: false }, root)).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/sys.auth/roles/admin/members/alpha.gone', {}, root)).status, 201);
    assert.equal((await t.admin$('DELETE', '/domains/alpha/services/gone', undefined, root)).status, 204);
    const again = await t.admin$('POST', '/domains/alpha/services', { name: 'gone' }, alphaAdmin);
    assert.equal(again.status, 201, again.text);
    const role = await t.admin$('GET', '/domains/sys.auth/roles/admin', undefined, root);
    assert.ok(!role.json.members.some((m: { principal: string }) => m.principal === 'alpha.gone'), role.text);
    const token = await t.token('alpha.gone', again.json.clientSecret, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' });
    assert.notEqual(token.status, 200, token.text);
  });

  it("403 for alpha's admin writing another domain's roles, its admin role included", async () => {
    const writes: [string, string, unknown][] = [
      ['PUT', '/domains/sys.auth/roles/admin/members/alpha.plain', {}],
      ['PUT', '/domains/sys.auth/roles/admin', { members: [{ principal: 'alpha.plain' }, { principal: 'sys.auth.admin' }] }],
      ['PUT', '/domains/beta/roles/admin/members/alpha.plain', {}],
      ['PUT', '/domains/beta/roles/admin', { members: [{ principal: 'alpha.plain' }] }],
    ];
    for (const [method, path, body] of writes) {
      const res = await t.admin$(method, path, body, alphaAdmin);
      assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
    }
    const role = await t.admin$('GET', '/domains/beta/roles/admin', undefined, root);
    assert.ok(!role.json.members.some((m: { principal: string }) => m.principal === 'alpha.plain'), role.text);
  });
});

// Its own server: here an alpha service is the only system admin.
describe('a domain admin taking standing away still cannot leave Tessera without a system admin', () => {
  let t: TestServer;
  let alphaAdmin: string;
  let accountId: string;
  const solo = '/domains/alpha/services/solo';

  before(async () => {
    t = await startTestServer({ env: { TESSERA_SERVICE_ACCOUNTS_DOMAIN: 'alpha' } });
    const root = await t.adminToken();
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' }, root)).status, 201);
    const admin = await t.admin$('POST', '/domains/alpha/services', { name: 'admin' }, root);
    assert.equal(admin.status, 201, admin.text);
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.admin' }] }, root)).status, 201);
    const account = await t.send('/auth/admin/service-accounts', {
      method: 'POST',
      headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'solo', scopes: ['sys.auth:admin'] }),
    });
    assert.equal(account.status, 201, account.text);
    accountId = account.json.serviceAccountId as string;
    const left = await t.admin$('DELETE', `/domains/sys.auth/roles/admin/members/${t.admin.clientId}`, undefined, root);
    assert.equal(left.status, 204, left.text);
    const token = await t.token('alpha.admin', admin.json.clientSecret as string, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    assert.equal(token.status, 200, token.text);
    alphaAdmin = token.json.access_token as string;
  });
  after(() => t.stop());

  it('409 for disabling, expiring or deleting the last system admin, through either API', async () => {
    const accounts = (method: string, path: string): Promise<TestResponse> =>
      t.send(`/auth/admin/service-accounts/${accountId}${path}`, { method, headers: { authorization: `Bearer ${alphaAdmin}` } });
    const answers = [
      await t.admin$('PATCH', solo, { status: 'DISABLED' }, alphaAdmin),
      await t.admin$('PATCH', solo, { expiresAt: new Date(Date.now() + 3_600_000).toISOString() }, alphaAdmin),
      await t.admin$('DELETE', solo, undefined, alphaAdmin),
      await accounts('POST', '/disable'),
      await accounts('DELETE', ''),
    ];
    for (const [i, res] of answers.entries()) {
      assert.equal(res.status, 409, `${i}: ${res.text}`);
      assert.match(res.json.message ?? res.json.error_description ?? res.text, /without an active member/);
    }
    const still = await accounts('GET', '');
    assert.equal(still.json.status, 'ACTIVE', still.text);
  });
});
