// Server-side token reuse: identical requests inside the window get the same token, and
// nothing that decides whether a token may be issued is skipped.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';

const readers = { grant_type: 'client_credentials', scope: 'beta:role.readers' };

describe('token reuse, enabled', () => {
  let t: TestServer;
  let clock = Date.now();
  let secret = '';

  before(async () => {
    t = await startTestServer({ now: () => clock, env: { TESSERA_TOKEN_REUSE: 'true', TESSERA_TOKEN_REUSE_WINDOW: '30s' } });
    await t.admin$('POST', '/domains', { name: 'beta' });
    secret = (await t.admin$('POST', '/domains/beta/services', { name: 'api' })).json.clientSecret;
    await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'beta.api' }] });
    await t.admin$('PUT', '/domains/beta/roles/writers', { members: [{ principal: 'beta.api' }] });
  });
  after(() => t.stop());

  it('hands out the same token within the window, counting down expires_in', async () => {
    const first = await t.token('beta.api', secret, readers);
    clock += 5000;
    const second = await t.token('beta.api', secret, readers);
    assert.equal(second.status, 200);
    assert.equal(second.json.access_token, first.json.access_token);
    assert.ok(second.json.expires_in <= first.json.expires_in - 4, `${second.json.expires_in} counts down from ${first.json.expires_in}`);
  });

  it('signs a new token once the window has passed', async () => {
    const first = await t.token('beta.api', secret, readers);
    clock += 31_000;
    assert.notEqual((await t.token('beta.api', secret, readers)).json.access_token, first.json.access_token);
  });

  it('never reuses across a different scope, lifetime or grant', async () => {
    const readersToken = (await t.token('beta.api', secret, readers)).json.access_token;
    assert.notEqual((await t.token('beta.api', secret, { ...readers, scope: 'beta:domain' })).json.access_token, readersToken);
    assert.notEqual((await t.token('beta.api', secret, { ...readers, expires_in: '600' })).json.access_token, readersToken);
    const both = (await t.token('beta.api', secret, { ...readers, scope: 'beta:domain' })).json;
    await t.admin$('DELETE', '/domains/beta/roles/writers/members/beta.api');
    const after = (await t.token('beta.api', secret, { ...readers, scope: 'beta:domain' })).json;
    assert.notEqual(after.access_token, both.access_token, 'a removed role changes the grant');
    assert.equal(after.scope, 'beta:role.readers');
  });

  it('does not hand out a revoked token', async () => {
    const first = await t.token('beta.api', secret, readers);
    const claims = JSON.parse(Buffer.from(first.json.access_token.split('.')[1], 'base64url').toString()) as { jti: string; exp: number };
    await t.server.store.revokeToken({ jti: claims.jti, principal: 'beta.api', expiresAt: claims.exp * 1000 }, { actor: 'test' });
    assert.notEqual((await t.token('beta.api', secret, readers)).json.access_token, first.json.access_token);
  });

  it('does not hand out a token that would outlive a membership whose end was brought forward', async () => {
    const first = (await t.token('beta.api', secret, readers)).json;
    const end = clock + 10_000;
    const put = await t.admin$('PUT', '/domains/beta/roles/readers/members/beta.api', { expiresAt: new Date(end).toISOString() });
    assert.equal(put.status, 200, put.text);
    clock += 1000;
    const second = (await t.token('beta.api', secret, readers)).json;
    assert.notEqual(second.access_token, first.access_token);
    const exp = (JSON.parse(Buffer.from(second.access_token.split('.')[1], 'base64url').toString()) as { exp: number }).exp;
    assert.ok(exp * 1000 <= end, `exp ${exp} ends with the membership`);
    clock += 1000;
    assert.equal((await t.token('beta.api', secret, readers)).json.access_token, second.access_token, 'that one is reused while it fits');
    await t.admin$('PUT', '/domains/beta/roles/readers/members/beta.api', { expiresAt: null });
  });

  it('gives a service deleted and registered again under its name a token of its own, which introspects active', async () => {
    const rs = (await t.admin$('POST', '/domains/beta/services', { name: 'rs' })).json.clientSecret as string;
    const introspect = async (token: string): Promise<unknown> =>
      (
        await t.send('/oauth2/introspect', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('beta.rs', rs) },
          body: new URLSearchParams({ token }).toString(),
        })
      ).json.active;
    const register = async (): Promise<string> => {
      const created = await t.admin$('POST', '/domains/beta/services', { name: 'again' });
      assert.equal(created.status, 201, created.text);
      await t.admin$('PUT', '/domains/beta/roles/readers/members/beta.again', {});
      return created.json.clientSecret as string;
    };
    const old = (await t.token('beta.again', await register(), readers)).json.access_token as string;
    clock += 2000;
    assert.equal((await t.admin$('DELETE', '/domains/beta/services/again')).status, 204);
    const fresh = (await t.token('beta.again', await register(), readers)).json.access_token as string;
    assert.notEqual(fresh, old, "the predecessor's token is not handed to the new service");
    assert.equal(await introspect(fresh), true);
    assert.equal(await introspect(old), false);
  });

  it('still refuses a disabled client', async () => {
    await t.token('beta.api', secret, readers);
    await t.admin$('PATCH', '/domains/beta/services/api', { status: 'DISABLED' });
    assert.equal((await t.token('beta.api', secret, readers)).json.error_code, 'AUTH_103');
    await t.admin$('PATCH', '/domains/beta/services/api', { status: 'ACTIVE' });
  });
});

describe('token reuse, disabled (the default)', () => {
  it('signs every request afresh', async () => {
    const t = await startTestServer();
    try {
      await t.admin$('POST', '/domains', { name: 'beta' });
      const secret = (await t.admin$('POST', '/domains/beta/services', { name: 'api' })).json.clientSecret;
      await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'beta.api' }] });
      const a = await t.token('beta.api', secret, readers);
      const b = await t.token('beta.api', secret, readers);
      assert.notEqual(a.json.access_token, b.json.access_token);
    } finally {
      await t.stop();
    }
  });
});

describe('token reuse with more revoked tokens than the registry cache holds', () => {
  let a: TestServer;
  let b: TestServer;
  let dataDir = '';
  let secret = '';
  const revoke = (jti: string, expiresAt: number): Promise<void> => b.server.store.revokeToken({ jti, principal: 'beta.api', expiresAt }, { actor: 'test' });

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-reuse-revoked-'));
    const env = { TESSERA_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'), TESSERA_TOKEN_REUSE: 'true' };
    b = await startTestServer({ dataDir, env });
    await b.admin$('POST', '/domains', { name: 'beta' });
    secret = (await b.admin$('POST', '/domains/beta/services', { name: 'api' })).json.clientSecret;
    await b.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'beta.api' }] });
    for (const jti of ['one', 'two']) await revoke(jti, Date.now() + 3_600_000);
    // A reads the change feed once a minute, and holds at most one revoked token: it holds none.
    a = await startTestServer({ dataDir, env, registryCache: { pollMs: 60_000, safetyPollMs: 60_000, maxStaleMs: 3_600_000, maxRevoked: 1 } });
  });
  after(async () => {
    await a.stop();
    await b.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('asks the database, so a token revoked through another instance is not handed out again', async () => {
    const first = await a.token('beta.api', secret, readers);
    assert.equal(first.status, 200, first.text);
    assert.equal((await a.token('beta.api', secret, readers)).json.access_token, first.json.access_token, 'reused');
    const claims = JSON.parse(Buffer.from(first.json.access_token.split('.')[1], 'base64url').toString()) as { jti: string; exp: number };
    await revoke(claims.jti, claims.exp * 1000);
    assert.notEqual((await a.token('beta.api', secret, readers)).json.access_token, first.json.access_token);
  });
});
