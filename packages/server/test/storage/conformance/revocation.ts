// State the token endpoint and introspection keep about individual tokens: revoked access
// tokens (RFC 7009) and used private_key_jwt assertion jtis (RFC 7523 section 3).

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

const HOUR = 3_600_000;

export function revocation(harness: StoreHarness): void {
  describe('token revocation', () => {
    storeTest(harness, 'reports a revoked token until it would have expired', async (store) => {
      const now = Date.now();
      await store.revokeToken({ jti: 'jti-1', principal: 'alpha.api', expiresAt: now + 1000 }, admin);
      assert.equal(await store.isTokenRevoked('jti-1', now), true);
      assert.equal(await store.isTokenRevoked('jti-1', now + 999), true);
      assert.equal(await store.isTokenRevoked('jti-1', now + 1000), false);
      assert.equal(await store.isTokenRevoked('jti-2', now), false);
    });

    storeTest(harness, 'revokes idempotently, with one audit event that names the jti and not the token', async (store) => {
      const token = { jti: 'jti-1', principal: 'alpha.api', expiresAt: Date.now() + HOUR };
      await store.revokeToken(token, { actor: 'alpha.api' });
      await store.revokeToken(token, admin);
      await Promise.all(Array.from({ length: 4 }, () => store.revokeToken(token, admin)));
      assert.equal(await store.isTokenRevoked('jti-1', Date.now()), true);
      const events = await store.queryAudit({ type: 'token.revoke', limit: 10 });
      assert.deepEqual(
        events.map(({ actor, target, before, after }) => ({ actor, target, before, after })),
        [{ actor: 'alpha.api', target: 'alpha.api', before: null, after: { jti: 'jti-1', expiresAt: token.expiresAt } }],
      );
    });

    storeTest(harness, 'forgets revocations whose tokens have expired', async (_store, driver) => {
      let clock = 1_700_000_000_000;
      const store = new SqlStore(driver, { now: () => clock });
      await store.revokeToken({ jti: 'short', principal: 'alpha.api', expiresAt: clock + 1000 }, admin);
      await store.revokeToken({ jti: 'long', principal: 'alpha.api', expiresAt: clock + HOUR }, admin);
      clock += 1000;
      await store.revokeToken({ jti: 'later', principal: 'alpha.api', expiresAt: clock + HOUR }, admin);
      const rows = await driver.all<{ jti: string }>('SELECT jti FROM revoked_tokens ORDER BY jti');
      assert.deepEqual(
        rows.map((row) => row.jti),
        ['later', 'long'],
      );
    });
  });

  describe('assertion replay', () => {
    storeTest(harness, "accepts a client's jti once and refuses its replay", async (store) => {
      const now = Date.now();
      assert.equal(await store.consumeAssertionJti('alpha.api', 'jti-1', now + 60_000, now), true);
      assert.equal(await store.consumeAssertionJti('alpha.api', 'jti-1', now + 60_000, now + 1), false);
      assert.equal(await store.consumeAssertionJti('alpha.api', 'jti-1', now + 120_000, now + 59_999), false);
      // jtis are per client: another client's jti-1 is another assertion.
      assert.equal(await store.consumeAssertionJti('alpha.web', 'jti-1', now + 60_000, now), true);
      assert.equal(await store.consumeAssertionJti('alpha.api', 'jti-2', now + 60_000, now), true);
    });

    storeTest(harness, 'lets exactly one of concurrent uses of a jti through', async (store) => {
      const now = Date.now();
      for (let round = 0; round < 5; round++) {
        const results = await Promise.all(Array.from({ length: 8 }, () => store.consumeAssertionJti('alpha.api', `jti-${round}`, now + 60_000, now)));
        assert.equal(results.filter(Boolean).length, 1);
      }
    });

    storeTest(harness, 'prunes expired entries as time passes', async (store, driver) => {
      const now = Date.now();
      await store.consumeAssertionJti('alpha.api', 'old', now + 1000, now);
      await store.consumeAssertionJti('alpha.api', 'current', now + 2 * HOUR, now);
      await store.consumeAssertionJti('alpha.api', 'new', now + 2 * HOUR, now + HOUR);
      const rows = await driver.all<{ jti: string }>('SELECT jti FROM assertion_jtis ORDER BY jti');
      assert.deepEqual(
        rows.map((row) => row.jti),
        ['current', 'new'],
      );
      // Once its entry is gone, an expired jti no longer counts as used.
      assert.equal(await store.consumeAssertionJti('alpha.api', 'old', now + 2 * HOUR, now + HOUR), true);
      assert.equal(await store.consumeAssertionJti('alpha.api', 'current', now + 2 * HOUR, now + HOUR), false);
    });

    storeTest(harness, 'works through a large backlog of expired entries within a few calls', async (store, driver) => {
      const now = Date.now();
      const backlog = 2500;
      for (let start = 0; start < backlog; start += 250) {
        const rows = Array.from({ length: 250 }, (_, i) => [`c-${start + i}`, 'jti', now - 1]);
        await driver.run(`INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES ${rows.map(() => '(?, ?, ?)').join(', ')}`, rows.flat());
      }
      for (let call = 0; call < 5; call++) {
        assert.equal(await store.consumeAssertionJti('alpha.api', `jti-${call}`, now + HOUR, now), true);
      }
      const left = await driver.get<{ n: number }>('SELECT COUNT(*) AS n FROM assertion_jtis WHERE expires_at <= ?', [now]);
      assert.equal(Number(left?.n), 0);
    });
  });
}
