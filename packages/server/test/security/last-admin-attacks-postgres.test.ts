// Attacks on the last system admin rule with two instances on one PostgreSQL database, over
// HTTPS: races between instances, and whether a refusal ever turns into a 500 (a deadlock,
// 40P01) instead of the 409. The two races marked "found by this review" passed both changes, or
// answered 500, before the fix.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { activeAdmins, LAST, startFleet, type Fleet } from '../helpers/system-admins.ts';

describe('last system admin: two instances on one PostgreSQL', () => {
  let fleet: Fleet;
  let root = '';
  /** The instances' error log lines: what a 500 was. */
  let logged: string[] = [];
  const active = (): Promise<string[]> => activeAdmins(fleet.store());

  before(async () => {
    fleet = await startFleet('error');
    ({ root, logged } = fleet);
    assert.equal((await fleet.adminCall(0, root, 'POST', '/domains', { name: 'ops' })).status, 201);
  });
  after(() => fleet?.close());

  it('of two instances racing to remove the two admins (member, service), exactly one succeeds each round, the other 409', async () => {
    for (let round = 0; round < 6; round++) {
      const name = `pair${round}`;
      const made = await fleet.adminCall(0, root, 'POST', '/domains/sys.auth/services', { name });
      assert.equal(made.status, 201, made.text);
      const other = await fleet.adminCall(0, root, 'PUT', `/domains/sys.auth/roles/admin/members/sys.auth.${name}`, {});
      assert.equal(other.status, 201, other.text);
      const otherToken = await fleet.token(`sys.auth.${name}`, made.json.clientSecret);
      // Each removes the other: the root's member (on instance 0), the pair's service disabled (on instance 1).
      const [first, second] = await Promise.all([
        fleet.adminCall(0, otherToken, 'DELETE', '/domains/sys.auth/roles/admin/members/sys.auth.admin'),
        fleet.adminCall(1, root, 'PATCH', `/domains/sys.auth/services/${name}`, { status: 'DISABLED' }),
      ]);
      const statuses = [first.status, second.status].sort();
      assert.ok(statuses[1] === 409 || statuses[1] === 401, `round ${round}: ${first.status} ${first.text} / ${second.status} ${second.text}`);
      for (const res of [first, second]) if (res.status === 409) assert.match(res.text, LAST);
      const left = await active();
      assert.equal(left.length, 1, `round ${round}: ${left.join(', ')}`);
      // Back to the root alone, by whoever is left.
      const by = left[0] === 'sys.auth.admin' ? root : otherToken;
      if (left[0] !== 'sys.auth.admin') {
        assert.equal((await fleet.adminCall(0, by, 'PUT', '/domains/sys.auth/roles/admin/members/sys.auth.admin', {})).status, 201);
      }
      const gone = await fleet.adminCall(0, root, 'DELETE', `/domains/sys.auth/services/${name}`);
      assert.equal(gone.status, 204, gone.text);
      assert.deepEqual(await active(), ['sys.auth.admin']);
    }
  });

  // Found by this review and fixed: the two locked the role and the service in opposite orders (a 500, deadlock 40P01);
  // both now take the system-admin lock first.
  it("a renewal of a lapsed foreign admin in the role racing that service's deletion on the other instance never deadlocks", async () => {
    // PUT locks the role, then the renewed foreign admin's service (join tokens); the deletion locks
    // the service, then the roles it is a member of: the opposite order.
    const statuses: string[] = [];
    for (let round = 0; round < 12; round++) {
      const name = `x${round}`;
      assert.equal((await fleet.adminCall(0, root, 'POST', '/domains/ops/services', { name })).status, 201);
      const lapsed = { principal: `ops.${name}`, expiresAt: new Date(Date.now() - 60_000).toISOString() };
      assert.equal((await fleet.adminCall(0, root, 'PUT', `/domains/sys.auth/roles/admin/members/ops.${name}`, { expiresAt: lapsed.expiresAt })).status, 201);
      const members = [{ principal: 'sys.auth.admin' }, { principal: `ops.${name}` }];
      const [put, del] = await Promise.all([
        fleet.adminCall(0, root, 'PUT', '/domains/sys.auth/roles/admin', { members }),
        fleet.adminCall(1, root, 'DELETE', `/domains/ops/services/${name}`),
      ]);
      statuses.push(`${put.status}/${del.status}`);
      const deadlock = logged.find((line) => /40P01|deadlock/.test(line))?.slice(0, 300) ?? '';
      for (const res of [put, del]) assert.ok(res.status < 500, `round ${round}: ${res.status} ${res.text} (${statuses.join(' ')}) ${deadlock}`);
      const role = await fleet.store().getRole('sys.auth', 'admin');
      const stale = role?.members.find((m) => m.principal === `ops.${name}`);
      if (stale) assert.equal((await fleet.adminCall(0, root, 'DELETE', `/domains/sys.auth/roles/admin/members/ops.${name}`)).status, 204);
      assert.deepEqual(await active(), ['sys.auth.admin']);
    }
  });

  // Found by this review and fixed: the deletion's guard read the membership before the PUT committed and took no lock.
  it('a PUT of the admin role naming a new member racing a deletion of that member on the other instance: never both, an admin stays', async () => {
    // Instance 0 replaces the members with sys.auth.rN (its check sees rN's service ACTIVE); instance 1
    // deletes rN's service, whose guard reads rN's membership before the PUT commits, sees none and
    // never takes the lock: neither transaction sees the other's change.
    const outcomes: string[] = [];
    let lockedOut = false;
    for (let round = 0; round < 40 && !lockedOut; round++) {
      const name = `r${round}`;
      const made = await fleet.adminCall(0, root, 'POST', '/domains/sys.auth/services', { name });
      assert.equal(made.status, 201, made.text);
      const [put, del] = await Promise.all([
        fleet.adminCall(0, root, 'PUT', '/domains/sys.auth/roles/admin', { members: [{ principal: `sys.auth.${name}` }] }),
        fleet.adminCall(
          1,
          root,
          round % 2 === 0 ? 'DELETE' : 'PATCH',
          `/domains/sys.auth/services/${name}`,
          round % 2 === 0 ? undefined : { status: 'DISABLED' },
        ),
      ]);
      outcomes.push(`${put.status}/${del.status}`);
      for (const res of [put, del]) assert.ok(res.status < 500, `round ${round}: ${res.status} ${res.text}`);
      const left = await active();
      if (left.length === 0) {
        lockedOut = true;
        break;
      }
      if (left[0] !== 'sys.auth.admin') {
        // The new member won: it brings the root back (its token, from its own secret).
        const by = await fleet.token(`sys.auth.${name}`, made.json.clientSecret);
        assert.equal((await fleet.adminCall(0, by, 'PUT', '/domains/sys.auth/roles/admin/members/sys.auth.admin', {})).status, 201);
        assert.equal((await fleet.adminCall(0, root, 'DELETE', `/domains/sys.auth/roles/admin/members/sys.auth.${name}`)).status, 204);
      }
      assert.deepEqual(await active(), ['sys.auth.admin']);
    }
    assert.ok(!lockedOut, `after rounds ${outcomes.join(' ')} nobody holds sys.auth:role.admin`);
  });
});
