// Review 11: what the console can now do (edit a role's impersonators, force a CA rotation) is
// enforced by the server whoever calls: a domain admin of another domain, a person session without
// the system admin role, a service token with admin rights in one domain only, a token held for
// someone else. Held changes stay held for a person too, and a person cannot approve its own
// change through a second session. The attacks here were all refused; they guard against regressions.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { consoleSignInAt, ADMIN_GROUPS, personSignIn, startTestProvider, type TestProvider } from '@tessera/testkit/oidc-provider';
import { freePort } from '@tessera/testkit/port';
import { startTestServer, testRegistry, type TestServer } from '@tessera/testkit/server';

describe('review 11: impersonators and CA rotation, as the console calls them, enforced by the server', () => {
  let t: TestServer;
  let idp: TestProvider;
  const reg = testRegistry(() => t);

  const sessionOf = async (login: string): Promise<string> => {
    const res = await personSignIn(t, login);
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };
  const serviceToken = async (principal: string, scope: string): Promise<string> => {
    const res = await t.token(principal, reg.secrets.get(principal)!, { grant_type: 'client_credentials', scope });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };
  const impersonatorsOf = async (domain: string, role: string): Promise<string[]> =>
    (await t.admin$('GET', `/domains/${domain}/roles/${role}`)).json.impersonators as string[];
  const generations = async (): Promise<number> => (await t.admin$('GET', '/ca/generations')).json.generations.length as number;

  before(async () => {
    const url = `https://127.0.0.1:${await freePort()}`;
    idp = await startTestProvider({ redirectUris: [`${url}/console/`] });
    for (const [id, account] of Object.entries({
      root: { preferred_username: 'root', groups: ['tessera-admins'] },
      kate: { preferred_username: 'kate', groups: ['staff'] },
      dana: { preferred_username: 'dana', groups: ['staff'] },
      nora: { preferred_username: 'nora', groups: ['staff'] },
    })) {
      idp.accounts.set(id, account);
    }
    t = await startTestServer({
      flags: { listen: url },
      edit: (config) => consoleSignInAt(idp, config, ADMIN_GROUPS),
    });
    for (const name of ['beta', 'pay', 'user', 'gw']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const principal of ['pay.a1', 'beta.b1', 'gw.edge', 'gw.api']) await reg.createService(principal);
    await reg.putRole('beta', 'admin', { members: [{ principal: 'user.kate' }, { principal: 'beta.b1' }] });
    await reg.putRole('pay', 'admin', { members: [{ principal: 'user.dana' }, { principal: 'pay.a1' }] });
    await reg.putRole('pay', 'vault', { members: [{ principal: 'gw.api' }], actors: ['gw.edge'] });
    await reg.putRole('beta', 'vault', { members: [{ principal: 'gw.api' }] });
    // A service with one role that is not an admin role; a person admin of gw only.
    await reg.putRole('gw', 'readers', { members: [{ principal: 'gw.edge' }] });
    await reg.putRole('gw', 'admin', { members: [{ principal: 'user.nora' }] });
    for (const domain of ['pay', 'beta']) {
      const res = await t.admin$('PATCH', `/domains/${domain}`, { approvalRequiredRoles: ['vault'] });
      assert.equal(res.status, 200, res.text);
    }
  });
  after(async () => {
    await t?.stop();
    await idp?.close();
  });

  it("a role's impersonators are set only by its own domain's admins (403 for other domains' admins, persons or services)", async () => {
    const kate = await sessionOf('kate');
    const nora = await sessionOf('nora');
    const b1 = await serviceToken('beta.b1', 'beta:role.admin');
    for (const [who, token] of [
      ['kate (admin of beta)', kate],
      ['nora (admin of gw only)', nora],
      ['beta.b1 (admin of beta)', b1],
    ] as const) {
      for (const role of ['vault', 'open']) {
        const res = await t.admin$('PUT', `/domains/pay/roles/${role}`, { impersonators: ['gw.edge'] }, token);
        assert.equal(res.status, 403, `${who} on pay:role.${role}: ${res.text}`);
      }
    }
    assert.deepEqual(await impersonatorsOf('pay', 'vault'), []);
    assert.equal((await t.admin$('GET', '/domains/pay/roles/open')).status, 404);
  });

  it('a token another client holds for an admin (token exchange) cannot set impersonators nor rotate the CA', async () => {
    const a1 = await serviceToken('pay.a1', 'pay:role.admin');
    await reg.putRole('pay', 'admin', { members: [{ principal: 'user.dana' }, { principal: 'pay.a1' }], actors: ['gw.edge'] });
    const exchanged = await t.token('gw.edge', reg.secrets.get('gw.edge')!, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: a1,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'pay:role.admin',
    });
    assert.equal(exchanged.status, 200, exchanged.text);
    const token = exchanged.json.access_token as string;
    assert.equal((await t.admin$('PUT', '/domains/pay/roles/vault', { impersonators: ['gw.edge'] }, token)).status, 401);
    assert.equal((await t.admin$('POST', '/ca/rotate', undefined, token)).status, 401);
    await reg.putRole('pay', 'admin', { members: [{ principal: 'user.dana' }, { principal: 'pay.a1' }], actors: [] });
  });

  it("a person admin's impersonator change of a held role is held, and the same person cannot approve it from a second session", async () => {
    const dana = await sessionOf('dana');
    const res = await t.admin$('PUT', '/domains/pay/roles/vault', { impersonators: ['gw.edge'] }, dana);
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(await impersonatorsOf('pay', 'vault'), []);
    const again = await sessionOf('dana');
    assert.equal((await t.admin$('POST', `/approvals/${res.json.id}/approve`, {}, again)).status, 403);
    // Not a person of another domain, nor a person admin of a third domain.
    for (const login of ['kate', 'nora']) {
      assert.equal((await t.admin$('POST', `/approvals/${res.json.id}/approve`, {}, await sessionOf(login))).status, 404);
    }
    assert.deepEqual(await impersonatorsOf('pay', 'vault'), []);
    const a1 = await serviceToken('pay.a1', 'pay:role.admin');
    const approved = await t.admin$('POST', `/approvals/${res.json.id}/approve`, {}, a1);
    assert.equal(approved.status, 200, approved.text);
    assert.deepEqual(await impersonatorsOf('pay', 'vault'), ['gw.edge']);
  });

  it('a forced CA rotation needs a system admin: refused for a domain admin (person or service), a non-admin service', async () => {
    const before = await generations();
    const tokens = {
      'dana (admin of pay)': await sessionOf('dana'),
      'nora (admin of gw only)': await sessionOf('nora'),
      'pay.a1 (admin of pay)': await serviceToken('pay.a1', 'pay:role.admin'),
      'gw.edge (a reader)': await serviceToken('gw.edge', 'gw:role.readers'),
    };
    for (const [who, token] of Object.entries(tokens)) {
      for (const body of [undefined, {}, { force: true }]) {
        const res = await t.admin$('POST', '/ca/rotate', body, token);
        assert.ok([401, 403].includes(res.status), `${who}: ${res.status} ${res.text}`);
      }
      assert.ok([401, 403].includes((await t.admin$('GET', '/ca/generations', undefined, token)).status), who);
    }
    assert.equal(await generations(), before);
    // A person who is a system admin (through the provider's groups) may; a second call reports the pending rotation.
    const root = await sessionOf('root');
    const first = await t.admin$('POST', '/ca/rotate', undefined, root);
    assert.equal(first.status, 202, first.text);
    const second = await t.admin$('POST', '/ca/rotate', undefined, root);
    assert.equal(second.status, 202, second.text);
    assert.equal(second.json.created, false);
    assert.equal(second.json.id, first.json.id);
    assert.equal(await generations(), before + 1);
  });

  it('a person session is not a credential of the service-account dialect (/auth/*), and cannot mint there what it may not in /admin/v1', async () => {
    const dana = await sessionOf('dana');
    const res = await t.send('/auth/admin/service-accounts', {
      method: 'POST',
      headers: { authorization: `Bearer ${dana}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'sneaky', scopes: ['pay:vault'] }),
    });
    assert.ok([401, 403, 409].includes(res.status), res.text);
    assert.ok(
      !((await t.admin$('GET', '/domains/pay/roles/vault/members')).json.members as { principal: string }[]).some((m) => m.principal.endsWith('.sneaky')),
    );
  });
});
