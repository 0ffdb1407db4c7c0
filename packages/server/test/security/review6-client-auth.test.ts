// Review 6 (outside attacker): RFC 6749 §2.3 "exactly one method" after tls_client_auth became an
// ambient method that authenticateClient counts only when no explicit one is present. The
// attacker holds a client certificate of one service (or a proxy-forwarded one) and secrets or
// guesses for another, and tries to end up authenticated as a client the certificate does not
// name while keeping the certificate's binding, or to fall back to the certificate when the
// explicit credentials fail. Each test FAILS while the hole it names exists.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import type { TestResponse } from '@tessera/testkit/https';
import { claimsOf, escapedPem, makeLeaf, newKeys, postForm, publicKeyPem, tesseraCertificate, type ClientCertificate } from '../e2e/mtls-support.ts';

const TOKEN = { grant_type: 'client_credentials', scope: 'beta:domain' };
const LOGIN = '/auth/x509/login';
const CLIENT_PATHS = ['/oauth2/token', '/oauth2/introspect', '/oauth2/revoke', LOGIN] as const;

function formFor(path: string, form: Record<string, string>): Record<string, string> {
  if (path === LOGIN) return { scope: TOKEN.scope, ...Object.fromEntries(Object.entries(form).filter(([k]) => k !== 'grant_type' && k !== 'scope')) };
  return path === '/oauth2/token'
    ? form
    : { token: 'not-a-token', ...Object.fromEntries(Object.entries(form).filter(([k]) => k !== 'grant_type' && k !== 'scope')) };
}

/** A token for `sub` that is not bound to any certificate. */
function assertUnboundFor(res: TestResponse, sub: string): void {
  assert.equal(res.status, 200, res.text);
  const claims = claimsOf(res);
  assert.equal(claims.sub, sub, `the token is for ${String(claims.sub)}, not for the client the explicit credentials prove`);
  assert.equal(claims.cnf, undefined, `a token for ${sub} carries the certificate binding of a certificate that does not name it`);
}

/** A refusal that did not fall back to the certificate. */
function assertNoFallback(res: TestResponse, label: string): void {
  assert.ok(res.status === 400 || res.status === 401, `${label}: ${res.status} ${res.text}`);
  assert.equal(res.headers['cache-control'], 'no-store', label);
  assert.equal(res.json.access_token, undefined, `${label}: a token was issued on the certificate although explicit credentials failed`);
  assert.notEqual(res.json.active, false, `${label}: introspection answered on the certificate although explicit credentials failed`);
}

describe('review6: a client certificate combined with explicit client credentials', () => {
  let t: TestServer;
  let api: ClientCertificate;
  let selfie: ClientCertificate;
  let otherSecret = '';

  before(async () => {
    t = await startTestServer({
      edit: (config) => {
        config.certLogin.enabled = true;
        // 127.0.0.2 plays the TLS-terminating proxy.
        config.trustedProxies = ['127.0.0.2/32'];
        config.mtls.proxyCertHeader = 'X-Client-Cert';
      },
    });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'api' })).status, 201);
    const other = await t.admin$('POST', '/domains/alpha/services', { name: 'other', secret: true });
    assert.equal(other.status, 201, other.text);
    otherSecret = other.json.clientSecret as string;
    const keys = await newKeys();
    assert.equal(
      (await t.admin$('POST', '/domains/alpha/services', { name: 'selfie', publicKeys: [{ kid: 's1', pem: await publicKeyPem(keys) }] })).status,
      201,
    );
    selfie = await makeLeaf(null, { subject: 'CN=alpha.selfie', keys });
    const members = ['api', 'other', 'selfie'].map((name) => ({ principal: `alpha.${name}` }));
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members })).status, 201);
    api = await tesseraCertificate(t, 'alpha.api');
  });
  after(() => t.stop());

  it('Tessera certificate of alpha.api + Basic of alpha.other: a token for alpha.other, never bound to the certificate (token endpoint, certificate login)', async () => {
    assertUnboundFor(await postForm(t, TOKEN, { client: api, headers: { authorization: basic('alpha.other', otherSecret) } }), 'alpha.other');
    assertUnboundFor(
      await postForm(t, formFor(LOGIN, {}), { path: LOGIN, client: api, headers: { authorization: basic('alpha.other', otherSecret) } }),
      'alpha.other',
    );
  });

  it('certificate + client_secret_post of another client: that client, unbound', async () => {
    assertUnboundFor(await postForm(t, { ...TOKEN, client_id: 'alpha.other', client_secret: otherSecret }, { client: api }), 'alpha.other');
    assertUnboundFor(
      await postForm(t, { client_id: 'alpha.other', client_secret: otherSecret, scope: TOKEN.scope }, { path: LOGIN, client: api }),
      'alpha.other',
    );
  });

  it('self-signed certificate + Basic of another client: that client, unbound', async () => {
    assertUnboundFor(await postForm(t, TOKEN, { client: selfie, headers: { authorization: basic('alpha.other', otherSecret) } }), 'alpha.other');
  });

  it("a trusted proxy's certificate header + Basic of another client: that client, unbound; an unreadable header is not even read", async () => {
    const proxied = { localAddress: '127.0.0.2', headers: { 'x-client-cert': escapedPem(api.certPem), authorization: basic('alpha.other', otherSecret) } };
    assertUnboundFor(await postForm(t, TOKEN, proxied), 'alpha.other');
    assertUnboundFor(await postForm(t, TOKEN, { ...proxied, headers: { ...proxied.headers, 'x-client-cert': 'garbage' } }), 'alpha.other');
  });

  it('failed or malformed explicit credentials never fall back to the certificate, at any client endpoint', async () => {
    const attempts: [string, Record<string, string>, Record<string, string>][] = [
      ['wrong Basic secret', {}, { authorization: basic('alpha.other', 'wrong') }],
      ["Basic of the certificate's own client with a wrong secret", {}, { authorization: basic('alpha.api', 'wrong') }],
      ['Basic without a colon', {}, { authorization: `Basic ${Buffer.from('alpha.api').toString('base64')}` }],
      ['Basic with bad percent-encoding', {}, { authorization: `Basic ${Buffer.from('alpha%ZZapi:x').toString('base64')}` }],
      ['Basic in upper case with a wrong secret', {}, { authorization: `BASIC ${Buffer.from('alpha.other:wrong').toString('base64')}` }],
      ['wrong client_secret_post', { client_id: 'alpha.other', client_secret: 'wrong' }, {}],
      ['client_secret without client_id', { client_secret: 'wrong' }, {}],
      ['client_assertion_type alone', { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' }, {}],
      ['client_assertion alone', { client_assertion: 'e30.e30.' }, {}],
      ['a bogus client_assertion', { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'e30.e30.' }, {}],
    ];
    for (const path of CLIENT_PATHS) {
      for (const [label, form, headers] of attempts) {
        assertNoFallback(await postForm(t, formFor(path, { ...TOKEN, ...form }), { path, client: api, headers }), `${path}, ${label}`);
      }
    }
  });

  it("client_id may not disagree with the certificate's principal, nor with the Basic user", async () => {
    for (const path of CLIENT_PATHS) {
      const res = await postForm(t, formFor(path, { ...TOKEN, client_id: 'alpha.other' }), { path, client: api });
      assert.equal(res.status, 401, `${path}: ${res.text}`);
      assert.match(res.json.error_description, /is not the client the certificate names \(alpha.api\)/);
    }
    const res = await postForm(t, { ...TOKEN, client_id: 'alpha.api' }, { client: api, headers: { authorization: basic('alpha.other', otherSecret) } });
    assert.equal(res.status, 400, res.text);
    assert.match(res.json.error_description, /client_id in the body differs from the one in the Authorization header/);
  });

  it('two explicit methods beside a certificate are refused, not resolved in favour of either', async () => {
    const res = await postForm(
      t,
      { ...TOKEN, client_id: 'alpha.other', client_secret: otherSecret },
      { client: api, headers: { authorization: basic('alpha.other', otherSecret) } },
    );
    assert.equal(res.status, 400, res.text);
    assert.match(res.json.error_description, /client_secret_basic and client_secret_post at once/);
  });
});
