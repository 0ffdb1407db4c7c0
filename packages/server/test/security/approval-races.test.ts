// Decisions on a change waiting for a second admin (admin/routes/approvals.ts) racing each other
// and direct changes, on both backends. Exactly one decision on a change wins, and an approval is
// judged against the state it is written on: the decision, the check that the change is not stale
// and the write are one transaction.
//
// The concurrent tests fire the requests at once, many times over. The window they aim at (between
// the check and the write) is a few awaits wide, so they cannot hit it on every run; the tests that
// must fail whenever the check runs outside the write pause the server at the store boundary
// instead: the wrapped store method waits before it runs, and the test changes the target
// meanwhile. A check made inside the write's transaction sees that change; one made before the
// write does not.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import type { Store } from '../../src/storage/store.ts';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const ROUNDS = 10;

function assertConflict(res: TestResponse, message: RegExp): void {
  assert.equal(res.status, 409, res.text);
  assert.equal(res.json.error, 'conflict', res.text);
  assert.match(res.json.message, message);
}

/**
 * Makes `store[method]` wait, on its next call only, until the test releases it; `reached`
 * resolves when the route has called it. `original` is the method unwrapped, for the test's own writes;
 * `restore` releases the call (if the test failed first) and unwraps the method.
 */
function pauseNext<K extends 'putRole' | 'updateDomain' | 'putRoleMember'>(store: Store, method: K) {
  const original = store[method].bind(store) as Store[K];
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reachedP = new Promise<void>((resolve) => (reached = resolve));
  const paused = (async (...args: unknown[]) => {
    (store as unknown as Record<string, unknown>)[method] = original;
    reached();
    await released;
    return (original as (...a: unknown[]) => Promise<unknown>)(...args);
  }) as unknown as Store[K];
  (store as unknown as Record<string, unknown>)[method] = paused;
  const restore = (): void => {
    release();
    (store as unknown as Record<string, unknown>)[method] = original;
  };
  return { original, reached: reachedP, release, restore };
}

for (const backend of ['sqlite', 'postgres'] as const)
  describe(`decisions on pending changes race safely (${backend})`, () => {
    let t: TestServer;
    let database: TestDatabase | undefined;
    let root: string;
    const tokens = { a1: '', a2: '' };

    const members = async (role: string): Promise<string[]> =>
      (await t.admin$('GET', `/domains/pay/roles/${role}/members`, undefined, root)).json.members.map((m: { principal: string }) => m.principal);
    const statusOf = async (id: string): Promise<string> => (await t.server.store.getPendingChange(id))!.status;
    const request = async (method: string, path: string, body: unknown): Promise<string> => {
      const res = await t.admin$(method, path, body, tokens.a1);
      assert.equal(res.status, 202, res.text);
      return res.json.id as string;
    };
    const decide = (id: string, verb: 'approve' | 'reject', token: string): Promise<TestResponse> => t.admin$('POST', `/approvals/${id}/${verb}`, {}, token);
    /** The audit events of `type` that apply the change `id`. */
    const appliedEvents = async (type: string, id: string): Promise<number> => {
      const res = await t.admin$('GET', `/audit?type=${type}&limit=1000`, undefined, root);
      assert.equal(res.status, 200, res.text);
      return res.json.events.filter((e: { after: { approval?: { id: string } } | null }) => e.after?.approval?.id === id).length;
    };

    before(async () => {
      if (backend === 'postgres') database = await createTestDatabase();
      t = database
        ? await startTestServer({ flags: { database: database.url }, env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 3).toString('base64') } })
        : await startTestServer();
      root = await t.adminToken();
      assert.equal((await t.admin$('POST', '/domains', { name: 'pay' }, root)).status, 201);
      for (const role of ['admin', 'writers', 'vault']) assert.equal((await t.admin$('PUT', `/domains/pay/roles/${role}`, {}, root)).status, 201);
      for (const name of ['a1', 'a2'] as const) {
        const svc = await t.admin$('POST', '/domains/pay/services', { name }, root);
        assert.equal(svc.status, 201, svc.text);
        await t.server.store.putRoleMember('pay', 'admin', { principal: `pay.${name}`, expiresAt: null }, { actor: 'test' });
        const res = await t.token(`pay.${name}`, svc.json.clientSecret, { grant_type: 'client_credentials', scope: 'pay:role.admin' });
        assert.equal(res.status, 200, res.text);
        tokens[name] = res.json.access_token;
      }
      const listed = await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['writers', 'vault'] }, root);
      assert.equal(listed.status, 200, listed.text);
    });
    after(async () => {
      await t?.stop();
      await database?.drop();
    });

    it('two approvals of one change at once: it is applied once, the other approval gets 409', async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const id = await request('PUT', `/domains/pay/roles/writers/members/w.twice${i}`, {});
        const answers = await Promise.all([decide(id, 'approve', tokens.a2), decide(id, 'approve', root)]);
        const won = answers.filter((res) => res.status === 200);
        assert.equal(won.length, 1, answers.map((res) => res.text).join('\n'));
        assertConflict(
          answers.find((res) => res.status !== 200)!,
          new RegExp(`change ${id} is already approved`),
        );
        assert.equal(await statusOf(id), 'approved');
        assert.equal(await appliedEvents('role-member.put', id), 1);
      }
    });

    it('an approval and a withdrawal (or a rejection) at once: exactly one decides, and a change not approved is not applied', async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const principal = `w.either${i}`;
        const id = await request('PUT', `/domains/pay/roles/writers/members/${principal}`, {});
        const [approve, reject] = await Promise.all([decide(id, 'approve', tokens.a2), decide(id, 'reject', i % 2 === 0 ? tokens.a1 : root)]);
        assert.equal([approve.status, reject.status].filter((status) => status === 200).length, 1, `${approve.text}\n${reject.text}`);
        const status = await statusOf(id);
        if (approve.status === 200) {
          assert.equal(status, 'approved');
          assertConflict(reject, new RegExp(`change ${id} is already approved`));
        } else {
          assert.equal(status, 'rejected');
          assertConflict(approve, new RegExp(`change ${id} is already rejected`));
        }
        assert.equal((await members('writers')).includes(principal), approve.status === 200);
        assert.equal(await appliedEvents('role-member.put', id), approve.status === 200 ? 1 : 0);
      }
    });

    it('a held role PUT approved at once with another change of the role never silently undoes it', async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const base = (await members('writers')).map((principal) => ({ principal }));
        const replace = await request('PUT', '/domains/pay/roles/writers', { members: [...base, { principal: `w.replace${i}` }] });
        const add = await request('PUT', `/domains/pay/roles/writers/members/w.add${i}`, {});
        const [first, second] = await Promise.all([decide(replace, 'approve', tokens.a2), decide(add, 'approve', root)]);
        assert.equal(second.status, 200, second.text);
        const now = await members('writers');
        assert.ok(now.includes(`w.add${i}`), `the member added by the other approval is still there (${first.status}: ${first.text})`);
        if (first.status === 200) assert.ok(now.includes(`w.replace${i}`));
        else assertConflict(first, /changed \(members\) since this change was requested/);
      }
    });

    it('a held role PUT is judged against the role it is written on: a member added meanwhile makes it stale (409, failed)', async () => {
      const base = (await members('writers')).map((principal) => ({ principal }));
      const id = await request('PUT', '/domains/pay/roles/writers', { members: [...base, { principal: 'w.replacing' }] });
      const pause = pauseNext(t.server.store, 'putRole');
      try {
        const approving = decide(id, 'approve', tokens.a2);
        await pause.reached;
        await t.server.store.putRoleMember('pay', 'writers', { principal: 'w.meanwhile', expiresAt: null }, { actor: 'test' });
        pause.release();
        assertConflict(await approving, /pay:role\.writers changed \(members\) since this change was requested/);
      } finally {
        pause.restore();
      }
      const now = await members('writers');
      assert.ok(now.includes('w.meanwhile'), 'the member added meanwhile stays');
      assert.ok(!now.includes('w.replacing'));
      assert.equal(await statusOf(id), 'failed');
      assert.equal(await appliedEvents('role.put', id), 0);
    });

    it('a removal from approvalRequiredRoles is judged against the list it is written on: a name added meanwhile makes it stale', async () => {
      const id = await request('PATCH', '/domains/pay', { approvalRequiredRoles: ['writers'] });
      const pause = pauseNext(t.server.store, 'updateDomain');
      try {
        const approving = decide(id, 'approve', tokens.a2);
        await pause.reached;
        await pause.original('pay', { approvalRequiredRoles: ['writers', 'vault', 'admin'] }, { actor: 'test' });
        pause.release();
        assertConflict(await approving, /approvalRequiredRoles changed since this was requested: it would now also remove admin/);
      } finally {
        pause.restore();
      }
      assert.deepEqual((await t.server.store.getDomain('pay'))!.approvalRequiredRoles, ['admin', 'vault', 'writers']);
      assert.equal(await statusOf(id), 'failed');
      const reset = await t.server.store.updateDomain('pay', { approvalRequiredRoles: ['writers', 'vault'] }, { actor: 'test' });
      assert.deepEqual(reset.approvalRequiredRoles, ['vault', 'writers']);
    });

    it('a change withdrawn while its approval is on its way is not applied: the approval gets 409', async () => {
      const id = await request('PUT', '/domains/pay/roles/writers/members/w.withdrawn', {});
      const pause = pauseNext(t.server.store, 'putRoleMember');
      try {
        const approving = decide(id, 'approve', tokens.a2);
        await pause.reached;
        const withdrawn = await decide(id, 'reject', tokens.a1);
        assert.equal(withdrawn.status, 200, withdrawn.text);
        pause.release();
        assertConflict(await approving, new RegExp(`change ${id} is already rejected`));
      } finally {
        pause.restore();
      }
      assert.equal(await statusOf(id), 'rejected');
      assert.ok(!(await members('writers')).includes('w.withdrawn'));
      assert.equal(await appliedEvents('role-member.put', id), 0);
    });

    it('an outage while applying leaves the change pending, with no approval recorded', async () => {
      const id = await request('PUT', '/domains/pay/roles/writers/members/w.outage', {});
      const store = t.server.store;
      const original = store.putRoleMember;
      store.putRoleMember = () => Promise.reject(new Error('connection lost'));
      try {
        assert.equal((await decide(id, 'approve', tokens.a2)).status, 500);
      } finally {
        store.putRoleMember = original;
      }
      assert.equal(await statusOf(id), 'pending');
      const approvals = (await t.admin$('GET', '/audit?type=approval.approve&limit=1000', undefined, root)).json.events;
      assert.equal(approvals.filter((e: { after: { id: string } }) => e.after.id === id).length, 0);
      assert.equal((await decide(id, 'approve', tokens.a2)).status, 200);
      assert.ok((await members('writers')).includes('w.outage'));
    });
  });
