// DELETE /admin/v1/session: an admin token revokes itself (the console's sign-out), and nothing else.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { introspectAs, startTestServer, type TestServer } from '@tessera/testkit/server';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';

describe('DELETE /admin/v1/session', () => {
  let t: TestServer;
  const secrets = new Map<string, string>();
  const rs = { id: 'app.rs', secret: '' };

  const tokenOf = async (principal: string, scope: string): Promise<string> => {
    const res = await t.token(principal, secrets.get(principal)!, { grant_type: 'client_credentials', scope });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };
  const signOut = (token?: string, extra: { body?: string; query?: string } = {}) =>
    t.send(`/admin/v1/session${extra.query ?? ''}`, {
      method: 'DELETE',
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(extra.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: extra.body,
    });
  const active = async (token: string): Promise<boolean> => (await introspectAs(t, rs, token)).json.active as boolean;

  before(async () => {
    t = await startTestServer();
    for (const name of ['app', 'gw']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const [domain, name] of [
      ['app', 'rs'],
      ['app', 'admin'],
      ['app', 'plain'],
      ['gw', 'edge'],
    ] as const) {
      const res = await t.admin$('POST', `/domains/${domain}/services`, { name });
      assert.equal(res.status, 201, res.text);
      secrets.set(`${domain}.${name}`, res.json.clientSecret as string);
    }
    rs.secret = secrets.get('app.rs')!;
    const put = async (domain: string, role: string, body: unknown): Promise<void> => {
      const res = await t.admin$('PUT', `/domains/${domain}/roles/${role}`, body);
      assert.ok(res.status === 200 || res.status === 201, res.text);
    };
    await put('app', 'admin', { members: [{ principal: 'app.admin' }], actors: ['gw.edge'] });
    await put('app', 'reader', { members: [{ principal: 'app.plain' }, { principal: 'app.admin' }] });
  });
  after(() => t.stop());

  it('revokes the bearer token itself: 204, then the admin API refuses it and introspection answers inactive; audited as session.revoke', async () => {
    const token = await t.adminToken();
    const other = await t.adminToken();
    assert.equal((await t.admin$('GET', '/domains', undefined, token)).status, 200);
    const res = await signOut(token);
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, '');
    const after = await t.admin$('GET', '/domains', undefined, token);
    assert.equal(after.status, 401, after.text);
    assert.match(after.json.message, /the token has been revoked/);
    assert.equal(await active(token), false);
    // Another token of the same client is untouched.
    assert.equal(await active(other), true);
    assert.equal((await t.admin$('GET', '/domains', undefined, other)).status, 200);
    const audit = await t.admin$('GET', `/audit?type=session.revoke&principal=${t.admin.clientId}`, undefined, other);
    assert.equal(audit.status, 200, audit.text);
    const event = audit.json.events[0];
    assert.equal(event.actor, t.admin.clientId);
    assert.equal(event.target, t.admin.clientId);
    assert.deepEqual(event.after, { jti: decodeJwt(token).jti, expiresAt: decodeJwt(token).exp! * 1000 });
    assert.ok(!JSON.stringify(audit.json).includes(token), 'the token itself is never in the audit');
  });

  it("a domain admin's token revokes itself too", async () => {
    const token = await tokenOf('app.admin', 'app:role.admin');
    assert.equal((await signOut(token)).status, 204);
    assert.equal(await active(token), false);
  });

  it('ends the tokens exchanged from the revoked one', async () => {
    const subject = await tokenOf('app.admin', 'app:role.admin');
    const exchange = await t.token('gw.edge', secrets.get('gw.edge')!, {
      grant_type: EXCHANGE,
      subject_token: subject,
      subject_token_type: AT,
      scope: 'app:role.admin',
    });
    assert.equal(exchange.status, 200, exchange.text);
    const held = exchange.json.access_token as string;
    assert.equal(await active(held), true);
    assert.equal((await signOut(subject)).status, 204);
    assert.equal(await active(held), false);
  });

  it('answers 401 without a token, and a second time for the same token', async () => {
    const none = await signOut();
    assert.equal(none.status, 401, none.text);
    assert.equal(none.json.error, 'invalid_token');
    const garbage = await signOut('not.a.token');
    assert.equal(garbage.status, 401, garbage.text);
    const token = await t.adminToken();
    assert.equal((await signOut(token)).status, 204);
    const again = await signOut(token);
    assert.equal(again.status, 401, again.text);
    assert.match(again.json.message, /revoked/);
  });

  it('refuses a token carrying no admin role with 403, leaving it active', async () => {
    const token = await tokenOf('app.plain', 'app:role.reader');
    const res = await signOut(token);
    assert.equal(res.status, 403, res.text);
    assert.match(res.json.message, /no admin role.*POST \/oauth2\/revoke/);
    assert.equal(await active(token), true);
  });

  it('refuses a delegated token (held by another service for its subject) as the admin API does', async () => {
    const subject = await tokenOf('app.admin', 'app:role.admin');
    const exchange = await t.token('gw.edge', secrets.get('gw.edge')!, {
      grant_type: EXCHANGE,
      subject_token: subject,
      subject_token_type: AT,
      scope: 'app:role.admin',
    });
    assert.equal(exchange.status, 200, exchange.text);
    const held = exchange.json.access_token as string;
    const res = await signOut(held);
    assert.equal(res.status, 401, res.text);
    assert.match(res.json.message, /acts for app.admin on behalf of gw.edge/);
    assert.equal(await active(held), true);
    assert.equal(await active(subject), true);
  });

  it('cannot name another token: a body or a token parameter is refused or ignored, and only the bearer token goes', async () => {
    const victim = await t.adminToken();
    const token = await t.adminToken();
    const withBody = await signOut(token, { body: JSON.stringify({ token: victim }) });
    assert.ok(withBody.status === 400 || withBody.status === 204, withBody.text);
    const withQuery = await signOut(await t.adminToken(), { query: `?token=${victim}` });
    assert.equal(withQuery.status, 204, withQuery.text);
    assert.equal(await active(victim), true);
  });

  it('is in the OpenAPI document', async () => {
    const res = await t.send('/openapi.json');
    const operation = res.json.paths['/admin/v1/session']?.delete;
    assert.ok(operation, 'documented');
    assert.deepEqual(operation.security, [{ bearerAuth: [] }]);
    assert.ok(operation.responses['204']);
    assert.equal(operation.requestBody, undefined, 'no body');
  });
});
