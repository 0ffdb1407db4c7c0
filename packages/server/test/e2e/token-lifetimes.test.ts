// Access token lifetimes (docs/tokens.md, Lifetimes): capped by the server's maximum, the maxima of the domains
// the token covers and of the roles it grants; the smallest wins, with or without expires_in.
// Domain and role maxima are set through the admin API.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const SERVER_DEFAULT = 3600;
const SERVER_MAX = 7200;

function assertAdminError(res: TestResponse, status: number, error: string, message?: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.equal(typeof res.json.message, 'string');
  if (message) assert.match(res.json.message, message);
}

describe('token lifetime maxima', () => {
  let t: TestServer;
  let secret: string;

  /** The lifetime the issued access token (and any ID token) really has, in seconds. */
  async function lifetimeOf(scope: string, expiresIn?: number): Promise<number> {
    const params: Record<string, string> = { grant_type: 'client_credentials', scope };
    if (expiresIn !== undefined) params['expires_in'] = String(expiresIn);
    const res = await t.token('alpha.api', secret, params);
    assert.equal(res.status, 200, res.text);
    const claims = decodeJwt(res.json.access_token);
    const lifetime = claims.exp! - claims.iat!;
    assert.ok(res.json.expires_in <= lifetime && res.json.expires_in > lifetime - 5, `expires_in ${res.json.expires_in} matches the token's ${lifetime} s`);
    if (res.json.id_token) {
      const id = decodeJwt(res.json.id_token);
      assert.ok(id.exp! <= claims.exp!, 'the ID token outlives nothing');
    }
    return lifetime;
  }

  before(async () => {
    t = await startTestServer({
      edit: (config) => {
        config.tokens = { defaultLifetime: SERVER_DEFAULT, maxLifetime: SERVER_MAX };
      },
    });
    for (const name of ['alpha', 'open', 'capped', 'mixed', 'cleared']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const created = await t.admin$('POST', '/domains/alpha/services', { name: 'api' });
    assert.equal(created.status, 201, created.text);
    secret = created.json.clientSecret;
    const member = { members: [{ principal: 'alpha.api' }] };
    const roles: [string, string, number | undefined][] = [
      ['open', 'readers', undefined],
      ['capped', 'readers', undefined],
      ['capped', 'long', 5000],
      ['capped', 'tiny', 120],
      ['mixed', 'plain', undefined],
      ['mixed', 'short', 300],
      ['cleared', 'readers', undefined],
    ];
    for (const [domain, role, tokenMaxLifetime] of roles) {
      const res = await t.admin$('PUT', `/domains/${domain}/roles/${role}`, { ...member, ...(tokenMaxLifetime === undefined ? {} : { tokenMaxLifetime }) });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.json.tokenMaxLifetime, tokenMaxLifetime ?? null);
    }
    const patched = await t.admin$('PATCH', '/domains/capped', { tokenMaxLifetime: 1800 });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.tokenMaxLifetime, 1800);
  });
  after(() => t.stop());

  describe('smallest wins', () => {
    it('without domain or role maxima: the server default, expires_in, or the server maximum', async () => {
      assert.equal(await lifetimeOf('open:domain'), SERVER_DEFAULT);
      assert.equal(await lifetimeOf('open:domain', 100), 100);
      assert.equal(await lifetimeOf('open:domain', 100_000), SERVER_MAX);
    });

    it('a domain maximum caps the default lifetime and a longer expires_in', async () => {
      assert.equal(await lifetimeOf('capped:role.readers'), 1800);
      assert.equal(await lifetimeOf('capped:role.readers', 5000), 1800);
      assert.equal(await lifetimeOf('capped:role.readers', 600), 600);
    });

    it("a role maximum below its domain's wins; one above it does not", async () => {
      assert.equal(await lifetimeOf('capped:role.tiny'), 120);
      assert.equal(await lifetimeOf('capped:role.tiny', 60), 60);
      assert.equal(await lifetimeOf('capped:role.long'), 1800);
      assert.equal(await lifetimeOf('capped:role.long', 4000), 1800);
    });

    it('a role maximum caps the default lifetime and expires_in on its own', async () => {
      assert.equal(await lifetimeOf('mixed:role.short'), 300);
      assert.equal(await lifetimeOf('mixed:role.short', 1000), 300);
      assert.equal(await lifetimeOf('mixed:role.plain'), SERVER_DEFAULT);
    });

    it('the smallest maximum among the granted roles decides; a held role not asked for does not', async () => {
      assert.equal(await lifetimeOf('mixed:domain'), 300);
      assert.equal(await lifetimeOf('mixed:role.plain mixed:role.short', 7000), 300);
      assert.equal(await lifetimeOf('capped:domain', 7000), 120);
      assert.equal(await lifetimeOf('mixed:role.plain', 7000), 7000);
    });

    it('a token covering several domains gets the smallest of all their maxima', async () => {
      assert.equal(await lifetimeOf('open:domain capped:role.readers'), 1800);
      assert.equal(await lifetimeOf('open:domain mixed:role.short capped:role.readers', 5000), 300);
    });

    it('applies to the ID token too', async () => {
      const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'openid mixed:role.short mixed:service.web' });
      assert.equal(res.status, 200, res.text);
      const access = decodeJwt(res.json.access_token);
      const id = decodeJwt(res.json.id_token);
      assert.equal(access.exp! - access.iat!, 300);
      assert.ok(id.exp! <= access.exp!);
    });

    it("null removes a domain maximum; a role PUT without tokenMaxLifetime keeps the role's", async () => {
      assert.equal((await t.admin$('PATCH', '/domains/cleared', { tokenMaxLifetime: 900 })).status, 200);
      assert.equal(await lifetimeOf('cleared:domain'), 900);
      const cleared = await t.admin$('PATCH', '/domains/cleared', { tokenMaxLifetime: null });
      assert.equal(cleared.status, 200, cleared.text);
      assert.equal(cleared.json.tokenMaxLifetime, null);
      assert.equal(await lifetimeOf('cleared:domain'), SERVER_DEFAULT);

      const kept = await t.admin$('PUT', '/domains/mixed/roles/short', { members: [{ principal: 'alpha.api' }] });
      assert.equal(kept.status, 200, kept.text);
      assert.equal(kept.json.tokenMaxLifetime, 300);
      assert.equal(await lifetimeOf('mixed:role.short', 299), 299);
    });
  });

  describe('PATCH /admin/v1/domains/{domain}', () => {
    it('changes the description and the maximum, shows them on GET and audits the change', async () => {
      const res = await t.admin$('PATCH', '/domains/open', { description: 'open data', tokenMaxLifetime: 7000 });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.description, 'open data');
      assert.equal(res.json.tokenMaxLifetime, 7000);
      const got = await t.admin$('GET', '/domains/open');
      assert.equal(got.json.description, 'open data');
      assert.equal(got.json.tokenMaxLifetime, 7000);
      const onlyDescription = await t.admin$('PATCH', '/domains/open', { description: null });
      assert.equal(onlyDescription.json.description, null);
      assert.equal(onlyDescription.json.tokenMaxLifetime, 7000, 'a field not sent is kept');
      const audit = await t.admin$('GET', '/audit?type=domain.update&limit=5');
      assert.equal(audit.status, 200, audit.text);
      assert.ok(
        audit.json.events.some((e: { target: string }) => e.target === 'open'),
        audit.text,
      );
      assert.equal((await t.admin$('PATCH', '/domains/open', { description: null, tokenMaxLifetime: null })).status, 200);
    });

    it('400 for a maximum that is not a whole number of seconds of at least 60', async () => {
      for (const tokenMaxLifetime of [30, 59, 0, -60, 90.5]) {
        assertAdminError(
          await t.admin$('PATCH', '/domains/open', { tokenMaxLifetime }),
          400,
          'invalid_request',
          /tokenMaxLifetime must be a whole number of seconds, at least 60/,
        );
      }
      assertAdminError(await t.admin$('PATCH', '/domains/open', { tokenMaxLifetime: '600' }), 400, 'invalid_request', /tokenMaxLifetime/);
      assertAdminError(await t.admin$('PUT', '/domains/open/roles/readers', { tokenMaxLifetime: 10 }), 400, 'invalid_request', /at least 60/);
      assert.equal((await t.admin$('GET', '/domains/open')).json.tokenMaxLifetime, null, 'nothing changed');
    });

    it('400 for an empty patch, an unknown field or a malformed domain name', async () => {
      assertAdminError(await t.admin$('PATCH', '/domains/open', {}), 400, 'invalid_request', /nothing to change/);
      assertAdminError(await t.admin$('PATCH', '/domains/open', { name: 'other' }), 400, 'invalid_request', /unknown field "name"/);
      assertAdminError(await t.admin$('PATCH', '/domains/Not_A_Domain', { tokenMaxLifetime: 600 }), 400, 'invalid_request', /not a valid domain name/);
    });

    it('404 for a domain that does not exist', async () => {
      assertAdminError(await t.admin$('PATCH', '/domains/nowhere', { tokenMaxLifetime: 600 }), 404, 'not_found', /nowhere/);
    });

    it('401 without a token', async () => {
      const res = await t.send('/admin/v1/domains/open', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: '{"tokenMaxLifetime":600}',
      });
      assertAdminError(res, 401, 'invalid_token');
    });

    it("lets a domain's admin patch that domain, and 403 for any other", async () => {
      const admin = await t.admin$('POST', '/domains/alpha/services', { name: 'owner' });
      assert.equal(admin.status, 201, admin.text);
      assert.equal((await t.admin$('PUT', '/domains/capped/roles/admin', { members: [{ principal: 'alpha.owner' }] })).status, 201);
      const res = await t.token('alpha.owner', admin.json.clientSecret, { grant_type: 'client_credentials', scope: 'capped:role.admin' });
      assert.equal(res.status, 200, res.text);
      const token = res.json.access_token as string;

      const own = await t.admin$('PATCH', '/domains/capped', { tokenMaxLifetime: 1800, description: 'capped by its own admin' }, token);
      assert.equal(own.status, 200, own.text);
      assertAdminError(await t.admin$('PATCH', '/domains/open', { tokenMaxLifetime: 60 }, token), 403, 'forbidden', /capped|sys\.auth:role\.admin/);
      assertAdminError(await t.admin$('PATCH', '/domains/sys.auth', { tokenMaxLifetime: 60 }, token), 403, 'forbidden');
      assertAdminError(await t.admin$('PATCH', '/domains/nowhere', { tokenMaxLifetime: 60 }, token), 403, 'forbidden');
      assert.equal((await t.admin$('GET', '/domains/open')).json.tokenMaxLifetime, null);
    });
  });
});
