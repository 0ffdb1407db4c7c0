// Review 11: attacks on second-admin approvals (admin/routes/approvals.ts, the decision committed
// with the write) across features: credentials minted for a co-admin, the service-account dialect,
// held delegation changes and token exchange, expired, decided and foreign changes, and races fired
// with Promise.all on both backends. One hole was found (a co-admin's credential) and fixed; the
// other tests are attacks that were refused and guard against regressions.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, testRegistry, type TestServer } from '@tessera/testkit/server';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const ROUNDS = 8;

for (const backend of ['sqlite', 'postgres'] as const)
  describe(`review 11: second-admin approvals across features (${backend})`, () => {
    let t: TestServer;
    let database: TestDatabase | undefined;
    let root: string;
    const reg = testRegistry(() => t);
    const tokens: Record<string, string> = {};

    const tokenOf = async (principal: string, scope: string, secret = reg.secrets.get(principal)!): Promise<string> => {
      const res = await t.token(principal, secret, { grant_type: 'client_credentials', scope });
      assert.equal(res.status, 200, res.text);
      return res.json.access_token as string;
    };
    const members = async (role: string): Promise<string[]> =>
      (await t.admin$('GET', `/domains/pay/roles/${role}/members?limit=1000`, undefined, root)).json.members.map((m: { principal: string }) => m.principal);
    const statusOf = async (id: string): Promise<string> => (await t.server.store.getPendingChange(id))!.status;
    const held = async (method: string, path: string, body: unknown, token = tokens.a1!): Promise<string> => {
      const res = await t.admin$(method, path, body, token);
      assert.equal(res.status, 202, res.text);
      return res.json.id as string;
    };
    const decide = (id: string, verb: 'approve' | 'reject', token: string): Promise<TestResponse> => t.admin$('POST', `/approvals/${id}/${verb}`, {}, token);

    before(async () => {
      if (backend === 'postgres') database = await createTestDatabase();
      t = database
        ? await startTestServer({ flags: { database: database.url }, env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 5).toString('base64') } })
        : await startTestServer();
      root = await t.adminToken();
      for (const name of ['pay', 'beta', 'ops']) assert.equal((await t.admin$('POST', '/domains', { name }, root)).status, 201);
      for (const principal of ['pay.a1', 'pay.a2', 'beta.b1', 'ops.api', 'ops.gw']) await reg.createService(principal);
      await reg.putRole('pay', 'admin', { members: [{ principal: 'pay.a1' }, { principal: 'pay.a2' }] });
      await reg.putRole('beta', 'admin', { members: [{ principal: 'beta.b1' }] });
      for (const role of ['writers', 'vault']) await reg.putRole('pay', role, { members: [{ principal: 'ops.api' }] });
      // The domain lists its admin role too: no lone admin may add a second admin of its own making.
      const listed = await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['admin', 'writers', 'vault'] }, root);
      assert.equal(listed.status, 200, listed.text);
      tokens.a1 = await tokenOf('pay.a1', 'pay:role.admin');
      tokens.a2 = await tokenOf('pay.a2', 'pay:role.admin');
      tokens.b1 = await tokenOf('beta.b1', 'beta:role.admin');
    });
    after(async () => {
      await t?.stop();
      await database?.drop();
    });

    // Found by this review and fixed: a lone admin of a domain whose `admin` role is listed in
    // approvalRequiredRoles approved its own change anyway, by giving a co-admin service of its domain
    // a client secret (any credential route would do), getting its token and approving as it.
    // Giving a credential to, or changing the standing of, a service that is an admin of a domain
    // with approvals is now for the service itself or a system admin (admin/authz.ts).
    it('a lone admin cannot approve its own change by minting a secret for a co-admin service of its domain', async () => {
      const id = await held('PUT', '/domains/pay/roles/vault/members/ops.gw', {});
      const minted = await t.admin$('POST', '/domains/pay/services/a2/secrets', { graceSeconds: 3600 }, tokens.a1);
      assert.equal(minted.status, 403, minted.text);
      assert.match(minted.json.message as string, /pay\.a2 holds pay:role\.admin.*only pay\.a2 itself or a system admin/);
      assert.equal(await statusOf(id), 'pending');
      assert.ok(!(await members('vault')).includes('ops.gw'));
    });

    it("no other credential route gives a lone admin a co-admin's identity either, nor can it re-enable one", async () => {
      const refused: [string, string, unknown][] = [
        ['POST', '/domains/pay/services/a2/api-keys', { audience: 'pay' }],
        ['PUT', '/domains/pay/services/a2/keys/k1', { pem: 'not checked before the authorization' }],
        ['POST', '/join-tokens', { principal: 'pay.a2' }],
        ['PATCH', '/domains/pay/services/a2', { status: 'ACTIVE' }],
      ];
      for (const [method, path, body] of refused) {
        const res = await t.admin$(method, path, body, tokens.a1);
        assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
      }
      // Taking standing away stays open to every admin of the domain (a compromised co-admin can be stopped).
      const disabled = await t.admin$('PATCH', '/domains/pay/services/a2', { status: 'DISABLED' }, tokens.a1);
      assert.equal(disabled.status, 200, disabled.text);
      const enabled = await t.admin$('PATCH', '/domains/pay/services/a2', { status: 'ACTIVE' }, root);
      assert.equal(enabled.status, 200, enabled.text);
    });

    it('a co-admin rotates its own secret, and a system admin may give it one', async () => {
      const own = await t.admin$('POST', '/domains/pay/services/a2/secrets', { graceSeconds: 3600 }, tokens.a2);
      assert.equal(own.status, 201, own.text);
      const bySystem = await t.admin$('POST', '/domains/pay/services/a2/secrets', { graceSeconds: 3600 }, root);
      assert.equal(bySystem.status, 201, bySystem.text);
      reg.secrets.set('pay.a2', bySystem.json.clientSecret as string);
    });

    it('the requester cannot approve its own change, with another token of its own either', async () => {
      const id = await held('PUT', '/domains/pay/roles/writers/members/ops.gw', { reason: 'mine' });
      const again = await tokenOf('pay.a1', 'pay:role.admin pay:role.writers');
      for (const token of [tokens.a1!, again]) {
        const res = await decide(id, 'approve', token);
        assert.equal(res.status, 403, res.text);
      }
      assert.equal(await statusOf(id), 'pending');
      assert.equal((await decide(id, 'reject', again)).status, 200);
    });

    it("an admin of another domain cannot see, approve or reject a domain's change (404), nor list its approvals (403)", async () => {
      const id = await held('PUT', '/domains/pay/roles/writers/members/beta.b1', {});
      assert.equal((await decide(id, 'approve', tokens.b1!)).status, 404);
      assert.equal((await decide(id, 'reject', tokens.b1!)).status, 404);
      assert.equal((await t.admin$('GET', '/domains/pay/approvals', undefined, tokens.b1)).status, 403);
      // Neither through a token of a member of the held role without the admin role.
      const writer = await tokenOf('ops.api', 'pay:role.writers');
      assert.equal((await decide(id, 'approve', writer)).status, 404);
      assert.equal(await statusOf(id), 'pending');
      assert.ok(!(await members('writers')).includes('beta.b1'));
    });

    it('a change applies at most once: approved, rejected, withdrawn or failed changes are 409 and change nothing', async () => {
      const once = await held('PUT', '/domains/pay/roles/writers/members/ops.once', {});
      assert.equal((await decide(once, 'approve', tokens.a2!)).status, 200);
      await t.server.store.deleteRoleMember('pay', 'writers', 'ops.once', { actor: 'test' });
      // Approving it again would re-add the member removed since.
      assert.equal((await decide(once, 'approve', root)).status, 409);
      assert.ok(!(await members('writers')).includes('ops.once'));

      const rejected = await held('PUT', '/domains/pay/roles/writers/members/ops.rej', {});
      assert.equal((await decide(rejected, 'reject', tokens.a1!)).status, 200);
      assert.equal((await decide(rejected, 'approve', tokens.a2!)).status, 409);
      assert.equal((await decide(rejected, 'reject', tokens.a2!)).status, 409);
      assert.ok(!(await members('writers')).includes('ops.rej'));
    });

    it('an expired change cannot be approved, even one stored straight with a past expiry', async () => {
      const id = `chg_${'e'.repeat(15)}${backend === 'sqlite' ? '1' : '2'}`;
      const past = Date.now() - 1000;
      await t.server.store.createPendingChange(
        {
          id,
          domain: 'pay',
          role: 'vault',
          kind: 'member.put',
          change: { domain: 'pay', role: 'vault', principal: 'ops.late', body: {} },
          requestedBy: 'pay.a1',
          requestedAt: past - 1000,
          expiresAt: past,
        },
        { actor: 'pay.a1' },
      );
      const res = await decide(id, 'approve', tokens.a2!);
      assert.equal(res.status, 409, res.text);
      assert.match(res.json.message, /expired/);
      assert.ok(!(await members('vault')).includes('ops.late'));
    });

    it('impersonators, actors and idTokenSubjects of a held role wait for the approval; token exchange grants nothing meanwhile', async () => {
      const id = await held('PUT', '/domains/pay/roles/vault', { impersonators: ['ops.gw'], actors: ['ops.gw'], idTokenSubjects: true });
      const role = (await t.admin$('GET', '/domains/pay/roles/vault', undefined, root)).json;
      assert.deepEqual([role.impersonators, role.actors, role.idTokenSubjects], [[], [], false]);
      const subject = await tokenOf('ops.api', 'pay:role.vault');
      const exchange = await t.token('ops.gw', reg.secrets.get('ops.gw')!, {
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: subject,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        scope: 'pay:role.vault',
        impersonation: 'true',
      });
      assert.notEqual(exchange.status, 200, exchange.text);
      // Each delegation field alone is held too, and so is the same change through a bulk POST or a role DELETE.
      for (const body of [{ impersonators: ['ops.gw'] }, { actors: ['ops.gw'] }, { idTokenSubjects: true }, { members: [] }]) {
        assert.equal((await t.admin$('PUT', '/domains/pay/roles/vault', body, tokens.a1)).status, 202);
      }
      assert.equal((await t.admin$('POST', '/domains/pay/roles/vault/members', { members: [{ principal: 'ops.gw' }] }, tokens.a1)).status, 202);
      assert.equal((await t.admin$('DELETE', '/domains/pay/roles/vault', undefined, tokens.a1)).status, 202);
      assert.equal((await decide(id, 'reject', tokens.a1!)).status, 200);
    });

    it('a held role PUT is refused once its role was deleted and created again meanwhile with other members', async () => {
      await reg.putRole('pay', 'tmp', { members: [{ principal: 'ops.api' }] });
      const listed = await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['admin', 'writers', 'vault', 'tmp'] }, root);
      assert.equal(listed.status, 200, listed.text);
      const id = await held('PUT', '/domains/pay/roles/tmp', { impersonators: ['ops.gw'] });
      const drop = await held('DELETE', '/domains/pay/roles/tmp', undefined);
      assert.equal((await decide(drop, 'approve', tokens.a2!)).status, 200);
      // Created again by the bootstrap admin, with an impersonator: the held change would replace that list.
      const again = await held('PUT', '/domains/pay/roles/tmp', { impersonators: ['ops.api'] }, root);
      assert.equal((await decide(again, 'approve', tokens.a2!)).status, 200);
      const res = await decide(id, 'approve', tokens.a2!);
      assert.equal(res.status, 409, res.text);
      assert.equal(await statusOf(id), 'failed');
      assert.deepEqual((await t.admin$('GET', '/domains/pay/roles/tmp', undefined, root)).json.impersonators, ['ops.api']);
    });

    it('the service-account dialect cannot grant a held role (either scope spelling), nor approve anything', async () => {
      for (const scope of ['pay:vault', 'pay:role.vault', 'pay:admin']) {
        const res = await t.send('/auth/admin/service-accounts', {
          method: 'POST',
          headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: `sa${scope.length}${scope.includes('role.') ? 'r' : ''}`, scopes: [scope] }),
        });
        assert.equal(res.status, 409, res.text);
      }
      const id = await held('PUT', '/domains/pay/roles/writers/members/ops.dialect', {});
      for (const path of [`/auth/admin/approvals/${id}/approve`, `/auth/approvals/${id}/approve`]) {
        const res = await t.send(path, { method: 'POST', headers: { authorization: `Bearer ${tokens.a1}`, 'content-type': 'application/json' }, body: '{}' });
        assert.equal(res.status, 404, res.text);
      }
      assert.equal(await statusOf(id), 'pending');
    });

    it('a held removal from approvalRequiredRoles is refused once a name was added meanwhile (it would drop that one too)', async () => {
      const current = (await t.admin$('GET', '/domains/pay', undefined, root)).json.approvalRequiredRoles as string[];
      const unlist = await held('PATCH', '/domains/pay', { approvalRequiredRoles: current.filter((role) => role !== 'tmp') });
      const added = await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: [...current, 'extra'] }, tokens.a1);
      assert.equal(added.status, 200, added.text);
      const res = await decide(unlist, 'approve', tokens.a2!);
      assert.equal(res.status, 409, res.text);
      const after = (await t.admin$('GET', '/domains/pay', undefined, root)).json.approvalRequiredRoles as string[];
      assert.ok(after.includes('extra') && after.includes('tmp'), after.join());
    });

    it('races: two approvals and a withdrawal at once decide once, and the member is written once', async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const principal = `ops.race${i}`;
        const id = await held('PUT', `/domains/pay/roles/writers/members/${principal}`, {});
        const answers = await Promise.all([decide(id, 'approve', tokens.a2!), decide(id, 'approve', root), decide(id, 'reject', tokens.a1!)]);
        const won = answers.filter((res) => res.status === 200);
        assert.equal(won.length, 1, answers.map((res) => `${res.status} ${res.text}`).join('\n'));
        for (const lost of answers.filter((res) => res.status !== 200)) assert.equal(lost.status, 409, lost.text);
        const status = await statusOf(id);
        assert.equal((await members('writers')).includes(principal), status === 'approved', status);
      }
    });

    it('races: a held role PUT and a held member PUT approved at once never drop the member silently', async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const principal = `ops.keep${i}`;
        const current = await members('writers');
        const replace = await held('PUT', '/domains/pay/roles/writers', { members: current.map((p) => ({ principal: p })) });
        const add = await held('PUT', `/domains/pay/roles/writers/members/${principal}`, {});
        const [put, member] = await Promise.all([decide(replace, 'approve', tokens.a2!), decide(add, 'approve', root)]);
        assert.equal(member.status, 200, member.text);
        assert.ok(put.status === 200 || put.status === 409, put.text);
        assert.ok((await members('writers')).includes(principal), `${put.status} ${put.text}`);
      }
    });

    it('races: a removal held from approvalRequiredRoles and a held member change approved at once stay consistent', async () => {
      for (let i = 0; i < ROUNDS / 2; i++) {
        const principal = `ops.list${i}`;
        const unlist = await held('PATCH', '/domains/pay', { approvalRequiredRoles: ['admin', 'vault', 'tmp'] });
        const add = await held('PUT', `/domains/pay/roles/writers/members/${principal}`, {});
        const answers = await Promise.all([decide(unlist, 'approve', tokens.a2!), decide(add, 'approve', root)]);
        for (const res of answers) assert.equal(res.status, 200, res.text);
        assert.ok((await members('writers')).includes(principal));
        // Listed again (applies at once) for the next round.
        assert.equal((await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['admin', 'writers', 'vault', 'tmp'] }, root)).status, 200);
      }
    });
  });
