// A second outsider's attacks on the last system admin rule's PostgreSQL side, with two instances
// on one database over HTTPS: the lock order of the changes the rule guards against the others,
// what the global lock costs changes that have nothing to do with the system admins, and whether a
// deadlock's 503 leaves a pending change pending and no outage reported.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFleet, type Fleet } from '../helpers/system-admins.ts';

const OUTAGE = /storage is failing/;

describe('last system admin, second review: two instances on one PostgreSQL', () => {
  let fleet: Fleet;
  let root = '';
  /** The instances' log lines (level info and up): deadlocks are logged at info, outages at error. */
  let logged: string[] = [];
  const made = async (domain: string, name: string): Promise<string> => {
    const res = await fleet.adminCall(0, root, 'POST', `/domains/${domain}/services`, { name });
    assert.equal(res.status, 201, res.text);
    return res.json.clientSecret as string;
  };

  before(async () => {
    // Started at once on the fresh database: the bootstrap races itself and must leave one admin.
    fleet = await startFleet('info');
    ({ root, logged } = fleet);
    for (const name of ['ops', 'alpha', 'beta']) assert.equal((await fleet.adminCall(0, root, 'POST', '/domains', { name })).status, 201);
    assert.equal((await fleet.adminCall(0, root, 'PUT', '/domains/beta/roles/admin', { members: [] })).status, 201);
  });
  after(() => fleet?.close());

  it('the fresh database, bootstrapped by two instances at once, has exactly one admin, usable on both', async () => {
    const role = await fleet.store().getRole('sys.auth', 'admin');
    assert.deepEqual(
      role?.members.map((m) => m.principal),
      ['sys.auth.admin'],
    );
    for (const i of [0, 1]) assert.equal((await fleet.adminCall(i, root, 'GET', '/domains/sys.auth')).status, 200);
  });

  // A renewal of a lapsed foreign admin locks the role, then the service (roles.ts writeMembers);
  // the service's deletion locks the service, then its roles: on another domain's admin role than
  // sys.auth's the two can still deadlock (40P01). Never a 500: the one PostgreSQL rolls back is
  // answered 503 "retry", and the same request made again goes through.
  it("a renewal of a lapsed foreign admin in beta:role.admin racing that service's deletion: never a 500, a 503 goes through when retried", async () => {
    const outcomes: string[] = [];
    for (let round = 0; round < 12; round++) {
      const name = `x${round}`;
      await made('ops', name);
      const lapsed = new Date(Date.now() - 60_000).toISOString();
      assert.equal((await fleet.adminCall(0, root, 'PUT', `/domains/beta/roles/admin/members/ops.${name}`, { expiresAt: lapsed })).status, 201);
      const renew = () => fleet.adminCall(0, root, 'PUT', `/domains/beta/roles/admin/members/ops.${name}`, {});
      const remove = () => fleet.adminCall(1, root, 'DELETE', `/domains/ops/services/${name}`);
      let [put, del] = await Promise.all([renew(), remove()]);
      outcomes.push(`${put.status}/${del.status}`);
      for (const res of [put, del]) {
        assert.ok(res.status < 500 || res.status === 503, `round ${round}: ${res.status} ${res.text}`);
        if (res.status === 503) assert.match(res.text, /a concurrent change to the same records got in the way and nothing was written; retry/);
      }
      if (del.status === 503) del = await remove();
      if (put.status === 503) put = await renew();
      assert.equal(del.status, 204, `round ${round}, the deletion made again: ${del.text}`);
      assert.ok(put.status < 500, `round ${round}, the renewal made again: ${put.status} ${put.text}`);
    }
    assert.ok(outcomes.length === 12, outcomes.join(' '));
  });

  it('a deadlock met while applying an approved change answers 503: the change stays pending, and no storage outage is reported', async (t) => {
    const bossSecret = await made('beta', 'chief');
    assert.equal((await fleet.adminCall(0, root, 'PUT', '/domains/beta/roles/admin/members/beta.chief', {})).status, 201);
    const chief = await fleet.token('beta.chief', bossSecret, 'beta:role.admin');
    assert.equal((await fleet.adminCall(0, root, 'PATCH', '/domains/beta', { approvalRequiredRoles: ['admin'] })).status, 200);
    const before = logged.length;
    const seen: string[] = [];
    {
      for (let round = 0; round < 40 && !seen.some((s) => s.startsWith('503/')); round++) {
        const name = `y${round}`;
        await made('ops', name);
        // The lapsed membership, written past the approval (a system admin's PUT would wait for one).
        const lapsed = Date.now() - 60_000;
        await fleet.store().putRoleMember('beta', 'admin', { principal: `ops.${name}`, expiresAt: lapsed }, { actor: 'test' });
        const asked = await fleet.adminCall(0, root, 'PUT', `/domains/beta/roles/admin/members/ops.${name}`, {});
        assert.equal(asked.status, 202, asked.text);
        const [approve, del] = await Promise.all([
          fleet.adminCall(0, chief, 'POST', `/approvals/${asked.json.id}/approve`, {}),
          fleet.adminCall(1, root, 'DELETE', `/domains/ops/services/${name}`),
        ]);
        seen.push(`${approve.status}/${del.status}`);
        const change = await fleet.store().getPendingChange(asked.json.id as string);
        if (approve.status === 503) {
          assert.equal(change?.status, 'pending', `round ${round}: the approval met a deadlock (503) but the change is ${change?.status}`);
          assert.match(approve.text, /concurrent change/);
        }
        for (const res of [approve, del]) assert.ok(res.status !== 500, `round ${round}: ${res.status} ${res.text}`);
        const left = await fleet.store().getRole('beta', 'admin');
        if (left?.members.some((m) => m.principal === `ops.${name}`)) {
          await fleet.store().deleteRoleMember('beta', 'admin', `ops.${name}`, { actor: 'test' });
        }
      }
      t.diagnostic(`rounds (approve/DELETE): ${seen.join(' ')}`);
      assert.ok(
        seen.some((s) => s.startsWith('503/')),
        `no approval met the deadlock: ${seen.join(' ')}`,
      );
      assert.equal(
        logged.slice(before).find((line) => OUTAGE.test(line)),
        undefined,
        `rounds (approve/DELETE): ${seen.join(' ')}`,
      );
    }
  });

  it('forty deletions of plain services in four domains, on two instances at once, beside guarded system-admin changes: all pass, no 5xx', async () => {
    const names: [string, string][] = [];
    for (const domain of ['ops', 'alpha', 'beta']) for (let i = 0; i < 13; i++) names.push([domain, `p${i}`]);
    for (const [domain, name] of names) await made(domain, name);
    const guardSecret = await made('sys.auth', 'second');
    assert.equal((await fleet.adminCall(0, root, 'PUT', '/domains/sys.auth/roles/admin/members/sys.auth.second', {})).status, 201);
    await fleet.token('sys.auth.second', guardSecret);
    const started = Date.now();
    const results = await Promise.all([
      ...names.map(([domain, name], i) => fleet.adminCall(i % 2, root, 'DELETE', `/domains/${domain}/services/${name}`)),
      fleet.adminCall(0, root, 'PUT', '/domains/sys.auth/roles/admin/members/sys.auth.second', { expiresAt: new Date(Date.now() + 86_400_000).toISOString() }),
      fleet.adminCall(1, root, 'PATCH', '/domains/sys.auth/services/second', { expiresAt: new Date(Date.now() + 2 * 86_400_000).toISOString() }),
    ]);
    for (const res of results) assert.ok(res.status < 300, `${res.status} ${res.text}`);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.equal((await fleet.adminCall(0, root, 'DELETE', '/domains/sys.auth/services/second')).status, 204);
  });
});
