// OpenID Connect sign-in for people (console.oidc) against a real OpenID provider (oidc-provider,
// in this process), the authorization request driven without a browser: the session token for a
// system admin by group and a domain admin by registry membership, every refused sign-in with its
// message, the token usable at the admin API only (not at the token endpoint, not as a subject
// token, inactive at introspection), a removed membership ending it at once, sign-out, and the audit.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { personSignIn, startTestProvider, type PersonSignInTweak, type TestProvider } from '@tessera/testkit/oidc-provider';
import { freePort } from '@tessera/testkit/port';
import { introspectAs, startTestServer, type TestServer } from '@tessera/testkit/server';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';

describe('console sign-in with OpenID Connect', () => {
  let t: TestServer;
  let idp: TestProvider;
  const secrets = new Map<string, string>();

  /** The whole flow as the page runs it; answers POST /console/oidc/session's answer. */
  const signIn = (login: string, tweak: PersonSignInTweak = {}) => personSignIn(t, login, tweak);
  const sessionOf = async (login: string): Promise<string> => {
    const res = await signIn(login);
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };
  const assertRefused = (res: { status: number; json: Record<string, unknown>; text: string }, status: number, error: string, message: RegExp) => {
    assert.equal(res.status, status, res.text);
    assert.equal(res.json['error'], error, res.text);
    assert.match(res.json['message'] as string, message);
  };

  before(async () => {
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    idp = await startTestProvider({ redirectUris: [`${url}/console/`] });
    for (const [id, account] of Object.entries({
      root: { preferred_username: 'Root', groups: ['tessera-admins'] },
      dana: { preferred_username: 'dana', groups: ['staff'] },
      nobody: { preferred_username: 'nobody', groups: ['staff'] },
      spaced: { preferred_username: 'Dana Smith' },
      nameless: { email: 'x@example.com' },
      svc: { preferred_username: 'svc' },
      erin: { preferred_username: 'erin', groups: ['staff'] },
      // Another account at the provider whose username lower-cases to the same name.
      erin2: { preferred_username: 'Erin', groups: ['staff'] },
    })) {
      idp.accounts.set(id, account);
    }
    t = await startTestServer({
      flags: { listen: url },
      edit: (config) => {
        // Many sign-ins from one address in a few seconds: the limit has its own test (console-sign-in-rate-limit.test.ts).
        config.consoleSignInRateLimit = { rate: 0, burst: 0 };
        config.console.oidc = {
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecretFile: null,
          scopes: ['openid', 'profile', 'email', 'groups'],
          principal: { claim: 'preferred_username', domain: 'user' },
          groups: { claim: 'groups', roles: { 'tessera-admins': ['sys.auth:role.admin'] } },
          sessionLifetime: 900,
        };
        // A confidential client: its secret in a file, read at startup.
        const secretFile = join(config.dataDir, 'oidc-client-secret');
        writeFileSync(secretFile, `${idp.clientSecret}\n`);
        config.console.oidc.clientSecretFile = secretFile;
        // The service-account dialect's domain is the people's domain: it creates no account there.
        config.serviceAccounts.domain = 'user';
      },
    });
    for (const name of ['alpha', 'beta', 'user']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const gw = await t.admin$('POST', '/domains/alpha/services', { name: 'gw' });
    assert.equal(gw.status, 201, gw.text);
    secrets.set('alpha.gw', gw.json.clientSecret as string);
    // The admin API registers no service in the people's domain while console.oidc is on (409); a
    // service there from before (registered while it was off) is made directly in the store.
    const refused = await t.admin$('POST', '/domains/user/services', { name: 'svc' });
    assert.equal(refused.status, 409, refused.text);
    assert.match(refused.json.message, /user is the people's domain \(console\.oidc\.principal\.domain\)/);
    await t.server.store.createService({ domain: 'user', name: 'svc', description: null }, {}, { actor: 'test' });
    const account = await t.send('/auth/admin/service-accounts', {
      method: 'POST',
      headers: { authorization: `Bearer ${await t.adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'dana', scopes: [] }),
    });
    assert.equal(account.status, 409, account.text);
    assert.match(account.json.message, /people's domain \(console\.oidc\.principal\.domain\)/);
    const put = await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'user.dana' }], actors: ['alpha.gw'] });
    assert.ok(put.status === 200 || put.status === 201, put.text);
  });
  after(async () => {
    await t?.stop();
    await idp?.close();
  });

  it('GET /console/oidc/config names the provider, the client and the redirect URI, with the console headers', async () => {
    const res = await t.send('/console/oidc/config');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, {
      enabled: true,
      issuer: idp.issuer,
      authorizationEndpoint: `${idp.issuer}/auth`,
      clientId: 'tessera-console',
      scopes: 'openid profile email groups',
      redirectUri: `${t.url}/console/`,
    });
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(String(res.headers['content-security-policy']), /connect-src 'self'/);
    const spec = await t.send('/openapi.json');
    assert.equal(spec.json.paths['/console/oidc/config'], undefined, 'the console routes stay out of the OpenAPI document');
  });

  it('signs in a system admin by group: a session token for the admin API only, audited console.sign-in', async () => {
    const res = await signIn('root');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.principal, 'user.root', 'lower-cased');
    assert.equal(res.json.scope, 'sys.auth:role.admin');
    assert.equal(res.json.expires_in, 900);
    const token = res.json.access_token as string;
    assert.equal(decodeProtectedHeader(token).typ, 'admin-session+jwt');
    const claims = decodeJwt(token);
    assert.equal(claims.aud, `${t.server.config.issuer}/admin/v1`);
    assert.equal(claims['tessera_session'], 'person');
    assert.deepEqual([claims['admin_of'], claims['admin_of_idp']], [[], ['sys.auth']]);
    assert.equal(claims['client_id'], undefined);
    assert.equal(claims['scp'], undefined);
    const domains = await t.admin$('GET', '/domains', undefined, token);
    assert.equal(domains.status, 200, domains.text);
    assert.deepEqual(
      (domains.json.domains as { name: string }[]).map((d) => d.name),
      ['alpha', 'beta', 'sys.auth', 'user'],
    );
    // A change made with it is audited under the person.
    const created = await t.admin$('POST', '/domains', { name: 'gamma' }, token);
    assert.equal(created.status, 201, created.text);
    const audit = await t.admin$('GET', '/audit?principal=user.root');
    const types = (audit.json.events as { type: string; actor: string }[]).map((e) => `${e.actor} ${e.type}`);
    // The first sign-in binds user.root to the provider's (iss, sub): person.bind, beside console.sign-in
    // (in either order: both are dated within the sign-in).
    assert.equal(types[0], 'user.root domain.create');
    assert.deepEqual(types.slice(1).sort(), ['user.root console.sign-in', 'user.root person.bind']);
    const signInEvent = (audit.json.events as { type: string; after: Record<string, unknown> }[]).find((e) => e.type === 'console.sign-in')!;
    assert.equal(signInEvent.after['method'], 'oidc');
    assert.equal(signInEvent.after['issuer'], idp.issuer);
    assert.equal(signInEvent.after['subject'], 'root');
    assert.deepEqual(signInEvent.after['adminOfFromGroups'], ['sys.auth']);
  });

  it('signs in a domain admin by registry membership; removing the membership ends the session at once', async () => {
    const res = await signIn('dana');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.principal, 'user.dana');
    assert.equal(res.json.scope, 'alpha:role.admin');
    const token = res.json.access_token as string;
    assert.deepEqual(decodeJwt(token)['admin_of'], ['alpha']);
    assert.equal((await t.admin$('GET', '/domains/alpha/services', undefined, token)).status, 200);
    const other = await t.admin$('GET', '/domains/beta/services', undefined, token);
    assert.equal(other.status, 403, other.text);
    const system = await t.admin$('POST', '/domains', { name: 'delta' }, token);
    assert.equal(system.status, 403, system.text);
    const removed = await t.admin$('DELETE', '/domains/alpha/roles/admin/members/user.dana');
    assert.equal(removed.status, 204, removed.text);
    const refused = await t.admin$('GET', '/domains/alpha/services', undefined, token);
    assert.equal(refused.status, 401, refused.text);
    assert.match(refused.json.message, /user.dana no longer holds alpha:role.admin, which the session names; sign in again/);
    // Without the membership dana is no admin at all.
    assertRefused(await signIn('dana'), 403, 'not_admin', /user\.dana is not an admin: add it to sys\.auth:role\.admin or a domain's admin role/);
    const again = await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'user.dana' }], actors: ['alpha.gw'] });
    assert.equal(again.status, 200, again.text);
  });

  it('is refused at the token endpoint, as a subject or actor token, and is inactive at introspection', async () => {
    const token = await sessionOf('dana');
    const gw = secrets.get('alpha.gw')!;
    const exchange = await t.token('alpha.gw', gw, { grant_type: EXCHANGE, subject_token: token, subject_token_type: AT, scope: 'alpha:role.admin' });
    assert.equal(exchange.status, 400, exchange.text);
    assert.equal(exchange.json.error, 'invalid_grant');
    assert.match(exchange.json.error_description, /subject_token is not acceptable/);
    const gwToken = await t.token('alpha.gw', gw, { grant_type: 'client_credentials', scope: 'alpha:domain' });
    const asActor = await t.token('alpha.gw', gw, {
      grant_type: EXCHANGE,
      subject_token: token,
      subject_token_type: AT,
      actor_token: token,
      actor_token_type: AT,
      scope: 'alpha:role.admin',
    });
    assert.equal(asActor.status, 400, asActor.text);
    void gwToken;
    // As a client's credential: a bearer header and a client assertion are both refused.
    const bearer = await t.send('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'alpha:role.admin' }).toString(),
    });
    assert.equal(bearer.status, 401, bearer.text);
    const assertion = await t.send('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'alpha:role.admin',
        client_id: 'user.dana',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: token,
      }).toString(),
    });
    assert.equal(assertion.status, 401, assertion.text);
    const introspected = await introspectAs(t, { id: 'alpha.gw', secret: gw }, token);
    assert.deepEqual(introspected.json, { active: false });
    // Nor at the service-account dialect's admin routes: /admin/v1 only.
    const dialect = await t.send('/auth/admin/service-accounts', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(dialect.status, 401, dialect.text);
    assert.match(dialect.text, /only \/admin\/v1 takes one/);
    // Still good at the admin API.
    assert.equal((await t.admin$('GET', '/domains/alpha/services', undefined, token)).status, 200);
  });

  it('signs out with DELETE /admin/v1/session', async () => {
    const token = await sessionOf('root');
    const res = await t.send('/admin/v1/session', { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 204, res.text);
    const after = await t.admin$('GET', '/domains', undefined, token);
    assert.equal(after.status, 401, after.text);
    assert.match(after.json.message, /revoked/);
    const audit = await t.admin$('GET', '/audit?type=session.revoke&principal=user.root');
    assert.equal(audit.json.events[0].actor, 'user.root');
  });

  it('refuses a person with no admin role, or with no usable name, saying what to fix', async () => {
    assertRefused(await signIn('nobody'), 403, 'not_admin', /user\.nobody is not an admin: .* or map one of its groups in console\.oidc\.groups\.roles/);
    assertRefused(
      await signIn('spaced'),
      403,
      'no_principal',
      /Your preferred_username "Dana Smith" cannot be a name in Tessera .*console\.oidc\.principal\.claim/,
    );
    assertRefused(await signIn('nameless'), 403, 'no_principal', /The ID token has no preferred_username claim/);
    assertRefused(await signIn('svc'), 403, 'no_principal', /user\.svc is a registered service, so a person cannot sign in under that name/);
  });

  it('binds a person principal to the identity first signed in with it; a system admin deletes the binding', async () => {
    const put = await t.admin$('PUT', '/domains/beta/roles/admin', { members: [{ principal: 'user.erin' }] });
    assert.ok(put.status === 200 || put.status === 201, put.text);
    const first = await signIn('erin');
    assert.equal(first.status, 200, first.text);
    const bound = /user\.erin belongs to another person: .*DELETE \/admin\/v1\/people\/user\.erin\/binding/;
    assertRefused(await signIn('erin2'), 403, 'principal_bound', bound);
    // Only a system admin deletes it.
    const byDomainAdmin = await t.admin$('DELETE', '/people/user.erin/binding', undefined, first.json.access_token as string);
    assert.equal(byDomainAdmin.status, 403, byDomainAdmin.text);
    const deleted = await t.admin$('DELETE', '/people/user.erin/binding');
    assert.equal(deleted.status, 200, deleted.text);
    assert.deepEqual([deleted.json.principal, deleted.json.issuer, deleted.json.subject], ['user.erin', idp.issuer, 'erin']);
    assert.equal((await t.admin$('DELETE', '/people/user.erin/binding')).status, 404);
    // The session signed in with the identity unbound ends at once.
    const ended = await t.admin$('GET', '/domains', undefined, first.json.access_token as string);
    assert.equal(ended.status, 401, ended.text);
    assert.match(ended.json.message, /no longer bound to the identity this session was signed in with/);
    assert.equal((await t.admin$('DELETE', '/people/not%20a%20name/binding')).status, 400);
    // The next sign-in binds it again, to whoever it is; the first identity is then refused.
    assert.equal((await signIn('erin2')).status, 200);
    assertRefused(await signIn('erin'), 403, 'principal_bound', bound);
    const audit = await t.admin$('GET', '/audit?type=person.unbind');
    assert.equal(audit.json.events[0].target, 'user.erin');
    assert.deepEqual(audit.json.events[0].before, { issuer: idp.issuer, subject: 'erin' });
  });

  it('refuses a bad code, a wrong verifier, a nonce of another sign-in, and a malformed request', async () => {
    assertRefused(await signIn('root', { code: 'not-a-code' }), 400, 'invalid_grant', /The OpenID provider refused the authorization code \(invalid_grant/);
    assertRefused(await signIn('root', { codeVerifier: 'x'.repeat(43) }), 400, 'invalid_grant', /refused the authorization code/);
    assertRefused(await signIn('root', { nonce: 'another-sign-in-nonce' }), 401, 'invalid_id_token', /not issued for this sign-in \(its nonce differs\)/);
    const post = (body: unknown) =>
      t.send('/console/oidc/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assertRefused(await post({ code: 'c' }), 400, 'invalid_request', /the sign-in request is malformed/);
    const redirect = await post({ code: 'c', codeVerifier: 'v'.repeat(43), nonce: 'n'.repeat(16), redirectUri: 'https://evil.example/console/' });
    assertRefused(redirect, 400, 'invalid_request', /redirectUri must be https:\/\/127\.0\.0\.1:\d+\/console\//);
  });

  it('refuses an ID token the provider did not sign', async () => {
    idp.tamper = true;
    try {
      assertRefused(await signIn('root'), 401, 'invalid_id_token', /The ID token from the OpenID provider is not valid/);
    } finally {
      idp.tamper = false;
    }
  });

  it("refuses an ID token signed by the provider that is not for this client, expired, another issuer's, or without a nonce", async () => {
    const nonce = 'a-nonce-of-this-sign-in';
    const forged = async (claims: Record<string, unknown>) => {
      idp.forge = { nonce, ...claims };
      try {
        return await signIn('root', { nonce });
      } finally {
        idp.forge = null;
      }
    };
    const ok = await forged({});
    assert.equal(ok.status, 200, `the forging itself is sound: ${ok.text}`);
    assertRefused(await forged({ aud: 'another-client' }), 401, 'invalid_id_token', /not valid \(unexpected "aud" claim value\)/);
    assertRefused(await forged({ aud: [idp.clientId, 'another-client'] }), 401, 'invalid_id_token', /issued to another client \(azp undefined\)/);
    assertRefused(await forged({ azp: 'another-client' }), 401, 'invalid_id_token', /issued to another client \(azp another-client\)/);
    const old = Math.floor(Date.now() / 1000) - 3600;
    assertRefused(await forged({ iat: old - 300, exp: old }), 401, 'invalid_id_token', /"exp" claim timestamp check failed/);
    assertRefused(await forged({ iss: 'https://elsewhere.example' }), 401, 'invalid_id_token', /unexpected "iss" claim value/);
    assertRefused(await forged({ nonce: undefined }), 401, 'invalid_id_token', /its nonce differs/);
  });

  it('says so when the provider cannot be reached (last: it closes the provider)', async () => {
    await idp.close();
    const res = await t.send('/console/oidc/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'c', codeVerifier: 'v'.repeat(43), nonce: 'n'.repeat(16), redirectUri: `${t.url}/console/` }),
    });
    assertRefused(res, 502, 'idp_unreachable', /The OpenID provider's token endpoint at http:\/\/127\.0\.0\.1:\d+\/token could not be reached/);
  });
});

describe('console sign-in with OpenID Connect, off', () => {
  it('says so at /console/oidc/config (not a 404 the browser would log as an error) and answers 404 at /console/oidc/session', async () => {
    const t = await startTestServer();
    try {
      const res = await t.send('/console/oidc/config');
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { enabled: false });
      assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
      const post = await t.send('/console/oidc/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(post.status, 404);
    } finally {
      await t.stop();
    }
  });
});
