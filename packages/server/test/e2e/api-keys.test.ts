// API keys end to end over HTTPS: the admin routes, introspection of a key (its
// audience and the roles its service holds there), revocation by an admin and by the owning
// service, expiry (with a clock the tests move), authorization, and an audit trail that never
// holds a key.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checksum, parseApiKey } from '../../src/keys/api-keys.ts';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, introspectAs, startTestServer, type TestServer } from '@tessera/testkit/server';

interface Client {
  id: string;
  secret: string;
}

function assertAdminError(res: TestResponse, status: number, error: string, message?: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.equal(typeof res.json.message, 'string');
  if (message) assert.match(res.json.message, message);
}

/** The same key with the character at `index` replaced by another of its alphabet. */
function flip(key: string, index: number): string {
  const char = key.charAt(index);
  return key.slice(0, index) + (char === 'A' ? 'B' : 'A') + key.slice(index + 1);
}

describe('API keys', () => {
  let t: TestServer;
  let clock = Date.now();
  let rs: Client;
  let owner: Client;
  const keysPath = '/domains/alpha/services/api/api-keys';

  const introspect = (token: string): Promise<TestResponse> => introspectAs(t, rs, token);
  const active = async (key: string): Promise<boolean> => (await introspect(key)).json.active as boolean;
  const assertInactive = async (key: string): Promise<void> => assert.deepEqual((await introspect(key)).json, { active: false });
  const createKey = async (path = keysPath, body: unknown = { audience: 'beta' }): Promise<{ apiKey: string; id: string }> => {
    const res = await t.admin$('POST', path, body);
    assert.equal(res.status, 201, res.text);
    return res.json as { apiKey: string; id: string };
  };
  const register = async (domain: string, name: string): Promise<Client> => {
    const res = await t.admin$('POST', `/domains/${domain}/services`, { name });
    assert.equal(res.status, 201, res.text);
    return { id: `${domain}.${name}`, secret: res.json.clientSecret as string };
  };

  before(async () => {
    t = await startTestServer({ now: () => clock });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    await register('alpha', 'api');
    rs = await register('beta', 'rs');
    owner = await register('alpha', 'owner');
    await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'alpha.api' }] });
    await t.admin$('PUT', '/domains/beta/roles/writers', { members: [{ principal: 'alpha.api', expiresAt: new Date(clock + 3600_000).toISOString() }] });
    await t.admin$('PUT', '/domains/beta/roles/old', { members: [{ principal: 'alpha.api', expiresAt: new Date(clock - 1000).toISOString() }] });
    await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.owner' }] });
    await t.admin$('PUT', '/domains/alpha/roles/users', { members: [{ principal: 'alpha.api' }] });
  });
  after(() => t.stop());

  it('creates a key shown once, in the tsk_ format with a valid checksum', async () => {
    const res = await t.admin$('POST', keysPath, { audience: 'beta', description: 'for the batch job' });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ['apiKey', 'audience', 'createdAt', 'description', 'expiresAt', 'id', 'revokedAt']);
    assert.equal(res.json.audience, 'beta');
    assert.match(res.json.apiKey, /^tsk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}[0-9A-Za-z]{6}$/);
    assert.equal(res.json.apiKey.slice(-6), checksum(res.json.apiKey.slice(0, -6)));
    assert.deepEqual(parseApiKey(res.json.apiKey), { id: res.json.id });
    assert.equal(res.json.description, 'for the batch job');
    assert.equal(res.json.expiresAt, null);
    assert.equal(res.json.createdAt, new Date(clock).toISOString());
  });

  it('creates a key with an expiry', async () => {
    const expiresAt = new Date(clock + 86_400_000).toISOString();
    assert.equal((await t.admin$('POST', keysPath, { audience: 'beta', expiresAt })).json.expiresAt, expiresAt);
  });

  it('400 for a key without an audience, with or without a body', async () => {
    assertAdminError(await t.admin$('POST', keysPath, {}), 400, 'invalid_request', /missing the required field "audience"/);
    const bare = await t.send(`/admin/v1${keysPath}`, { method: 'POST', headers: { authorization: `Bearer ${await t.adminToken()}` } });
    assertAdminError(bare, 400, 'invalid_request', /audience/);
  });

  it('400 for an audience that is not a domain, or where the service holds no role', async () => {
    assertAdminError(await t.admin$('POST', keysPath, { audience: 'nowhere' }), 400, 'invalid_request', /audience "nowhere" is not a domain/);
    assertAdminError(await t.admin$('POST', keysPath, { audience: 'Not A Domain' }), 400, 'invalid_request', /not a valid domain name/);
    assertAdminError(await t.admin$('POST', keysPath, { audience: 42 }), 400, 'invalid_request');
    assert.equal((await t.admin$('POST', '/domains', { name: 'gamma' })).status, 201);
    assertAdminError(
      await t.admin$('POST', keysPath, { audience: 'gamma' }),
      400,
      'invalid_request',
      /alpha\.api holds no role in gamma, so gamma's services would refuse the key; ask gamma's admin to add alpha\.api to a role first/,
    );
  });

  it('lists keys with id, description and times, never the key or its hash', async () => {
    const { apiKey, id } = await createKey(keysPath, { audience: 'beta', description: 'listed' });
    const res = await t.admin$('GET', keysPath);
    assert.equal(res.status, 200, res.text);
    const listed = res.json.apiKeys.find((k: { id: string }) => k.id === id);
    assert.deepEqual(listed, { id, audience: 'beta', description: 'listed', createdAt: new Date(clock).toISOString(), expiresAt: null, revokedAt: null });
    const stored = await t.server.store.getApiKey(id);
    assert.ok(stored);
    assert.ok(!res.text.includes(apiKey.slice(21)), 'no secret');
    assert.ok(!res.text.includes(stored.hash), 'no hash');
    for (const key of res.json.apiKeys) assert.deepEqual(Object.keys(key).sort(), ['audience', 'createdAt', 'description', 'expiresAt', 'id', 'revokedAt']);
  });

  it('introspects an active key as its service toward its audience, with the roles it holds there now', async () => {
    const { apiKey } = await createKey();
    const res = await introspect(apiKey);
    assert.equal(res.headers['cache-control'], 'no-store');
    // alpha.api also holds alpha:role.users, which a key toward beta does not carry.
    assert.deepEqual(res.json, {
      active: true,
      client_id: 'alpha.api',
      sub: 'alpha.api',
      aud: 'beta',
      token_type: 'api_key',
      iat: Math.floor(clock / 1000),
      scope: 'beta:role.readers beta:role.writers',
    });

    const expiresAt = clock + 600_000;
    const expiring = await createKey(keysPath, { audience: 'beta', expiresAt: new Date(expiresAt).toISOString() });
    assert.equal((await introspect(expiring.apiKey)).json.exp, Math.floor(expiresAt / 1000));

    const ownDomain = await createKey(keysPath, { audience: 'alpha' });
    const own = (await introspect(ownDomain.apiKey)).json;
    assert.equal(own.aud, 'alpha');
    assert.equal(own.scope, 'alpha:role.users');
  });

  it('a key is inactive while its service holds no role in its audience, and active again once it does', async () => {
    await t.admin$('PUT', '/domains/beta/roles/temporary', { members: [{ principal: 'alpha.other' }] });
    await register('alpha', 'other');
    const { apiKey } = await createKey('/domains/alpha/services/other/api-keys');
    assert.equal(await active(apiKey), true);
    assert.equal((await t.admin$('DELETE', '/domains/beta/roles/temporary/members/alpha.other')).status, 204);
    await assertInactive(apiKey);
    await t.admin$('PUT', '/domains/beta/roles/temporary/members/alpha.other', {});
    assert.equal((await introspect(apiKey)).json.scope, 'beta:role.temporary');
  });

  it('a key revoked by an admin is inactive at once; revoking again answers 204', async () => {
    const { apiKey, id } = await createKey();
    assert.equal(await active(apiKey), true);
    const res = await t.admin$('DELETE', `${keysPath}/${id}`);
    assert.equal(res.status, 204, res.text);
    await assertInactive(apiKey);
    assert.equal((await t.admin$('DELETE', `${keysPath}/${id}`)).status, 204);
    const listed = (await t.admin$('GET', keysPath)).json.apiKeys.find((k: { id: string }) => k.id === id);
    assert.equal(listed.revokedAt, new Date(clock).toISOString());
  });

  it('the owning service revokes its key at /oauth2/revoke; another service cannot', async () => {
    const api = { id: 'alpha.api', secret: (await t.admin$('POST', '/domains/alpha/services/api/secrets', { graceSeconds: 0 })).json.clientSecret as string };
    const { apiKey } = await createKey();
    const revoke = (as: Client): Promise<TestResponse> =>
      t.send('/oauth2/revoke', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(as.id, as.secret) },
        body: new URLSearchParams({ token: apiKey, token_type_hint: 'api_key' }).toString(),
      });
    assert.equal((await revoke(rs)).status, 200);
    assert.equal(await active(apiKey), true, 'not revoked by a stranger');
    assert.equal((await revoke(api)).status, 200);
    await assertInactive(apiKey);
  });

  it('an expired key is inactive', async () => {
    const { apiKey } = await createKey(keysPath, { audience: 'beta', expiresAt: new Date(clock + 60_000).toISOString() });
    assert.equal(await active(apiKey), true);
    const saved = clock;
    try {
      clock += 60_000;
      await assertInactive(apiKey);
    } finally {
      clock = saved;
    }
  });

  it('a key with any character changed is inactive (checksum), as is a well-formed key with a wrong secret (hash)', async () => {
    const { apiKey } = await createKey();
    for (const index of [5, 25, 40, 63, 66, 69]) await assertInactive(flip(apiKey, index));
    const forgedBody = `${apiKey.slice(0, 21)}${'A'.repeat(43)}`;
    await assertInactive(forgedBody + checksum(forgedBody));
    assert.equal(await active(apiKey), true);
  });

  it('keys of a disabled or deleted service are inactive', async () => {
    await register('alpha', 'temp');
    await t.admin$('PUT', '/domains/alpha/roles/users/members/alpha.temp', {});
    const { apiKey } = await createKey('/domains/alpha/services/temp/api-keys', { audience: 'alpha' });
    assert.equal(await active(apiKey), true);
    await t.admin$('PATCH', '/domains/alpha/services/temp', { status: 'DISABLED' });
    await assertInactive(apiKey);
    await t.admin$('PATCH', '/domains/alpha/services/temp', { status: 'ACTIVE' });
    assert.equal(await active(apiKey), true);
    assert.equal((await t.admin$('DELETE', '/domains/alpha/services/temp')).status, 204);
    await assertInactive(apiKey);
  });

  it('a domain admin manages the keys of its own domain and gets 403 for another', async () => {
    await register('beta', 'job');
    const token = (await t.token(owner.id, owner.secret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' })).json.access_token as string;
    const own = await t.admin$('POST', keysPath, { audience: 'beta' }, token);
    assert.equal(own.status, 201, own.text);
    assert.equal((await t.admin$('GET', keysPath, undefined, token)).status, 200);
    assert.equal((await t.admin$('DELETE', `${keysPath}/${own.json.id}`, undefined, token)).status, 204);

    await t.admin$('PUT', '/domains/beta/roles/readers/members/beta.job', {});
    const theirs = await createKey('/domains/beta/services/job/api-keys');
    assertAdminError(await t.admin$('POST', '/domains/beta/services/job/api-keys', { audience: 'beta' }, token), 403, 'forbidden', /beta:role\.admin/);
    assertAdminError(await t.admin$('GET', '/domains/beta/services/job/api-keys', undefined, token), 403, 'forbidden');
    assertAdminError(await t.admin$('DELETE', `/domains/beta/services/job/api-keys/${theirs.id}`, undefined, token), 403, 'forbidden');
    assert.equal(await active(theirs.apiKey), true);
  });

  it('401 without an admin token', async () => {
    const res = await t.send(`/admin/v1${keysPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assertAdminError(res, 401, 'invalid_token');
  });

  it('400 for a bad expiry, an unknown field, a long description or a malformed key id', async () => {
    const audience = 'beta';
    assertAdminError(await t.admin$('POST', keysPath, { audience, expiresAt: 'tomorrow' }), 400, 'invalid_request', /date-time/);
    assertAdminError(await t.admin$('POST', keysPath, { audience, expiresAt: new Date(clock - 1000).toISOString() }), 400, 'invalid_request', /in the past/);
    assertAdminError(await t.admin$('POST', keysPath, { audience, scopes: ['x'] }), 400, 'invalid_request', /unknown field "scopes"/);
    assertAdminError(await t.admin$('POST', keysPath, { audience, description: 'd'.repeat(2000) }), 400, 'invalid_request');
    assertAdminError(await t.admin$('POST', keysPath, { audience, expiresAt: 42 }), 400, 'invalid_request');
    assertAdminError(await t.admin$('DELETE', `${keysPath}/not-an-id`), 400, 'invalid_request', /id/);
    assertAdminError(await t.admin$('POST', '/domains/alpha/services/Bad Name/api-keys', { audience }), 400, 'invalid_request', /not a valid service name/);
  });

  it('404 for an unknown service or a key of another service', async () => {
    assertAdminError(await t.admin$('POST', '/domains/alpha/services/nobody/api-keys', { audience: 'beta' }), 404, 'not_found');
    assertAdminError(await t.admin$('GET', '/domains/alpha/services/nobody/api-keys'), 404, 'not_found');
    assertAdminError(await t.admin$('DELETE', `${keysPath}/0123456789abcdef`), 404, 'not_found');
    const { id, apiKey } = await createKey('/domains/alpha/services/owner/api-keys', { audience: 'alpha' });
    assertAdminError(await t.admin$('DELETE', `${keysPath}/${id}`), 404, 'not_found');
    assert.equal(await active(apiKey), true);
  });

  it('audit records creation and revocation, never the key or its hash', async () => {
    const { apiKey, id } = await createKey(keysPath, { audience: 'beta', description: 'audited' });
    await t.admin$('DELETE', `${keysPath}/${id}`);
    const res = await t.admin$('GET', '/audit?principal=alpha.api&limit=1000');
    assert.equal(res.status, 200, res.text);
    const events = res.json.events.filter((e: { after: { id?: string } | null }) => e.after?.id === id);
    assert.deepEqual(events.map((e: { type: string }) => e.type).sort(), ['api-key.create', 'api-key.revoke']);
    for (const event of events) assert.equal(event.after.audience, 'beta');
    const stored = await t.server.store.getApiKey(id);
    assert.ok(stored);
    const everything = (await t.admin$('GET', '/audit?limit=1000')).text;
    assert.ok(!everything.includes(apiKey.slice(21, 64)), 'no secret');
    assert.ok(!everything.includes(stored.hash), 'no hash');
    assert.ok(!/tsk_[0-9a-f]{16}_/.test(everything), 'no key at all');
  });

  it('describes the routes in the OpenAPI document', async () => {
    const doc = (await t.send('/openapi.json')).json;
    const path = Object.keys(doc.paths).find((p) => p.endsWith('/services/{service}/api-keys'));
    assert.ok(path, Object.keys(doc.paths).join(' '));
    assert.ok(doc.paths[path].post && doc.paths[path].get);
    assert.ok(doc.paths[`${path}/{id}`]?.delete);
  });
});
