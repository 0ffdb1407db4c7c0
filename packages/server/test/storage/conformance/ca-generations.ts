// CA rotation as a state machine stored in rows: prepared → active → old → removed, one
// prepared and one active generation at a time, every step a compare-and-set that exactly one
// instance wins.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { CaRecord } from '../../../src/storage/records.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, peerTest, storeTest } from './harness.ts';

const HOUR = 3_600_000;

function generation(id: string, state: CaRecord['state'], createdAt: number): CaRecord {
  return { id, state, chainPem: `CHAIN-${id}`, rootPem: `ROOT-${id}`, sealedPrivateKey: `SEALED-${id}`, createdAt };
}

function states(cas: CaRecord[]): Record<string, string> {
  return Object.fromEntries(cas.map((ca) => [ca.id, ca.state]));
}

export function caGenerations(harness: StoreHarness): void {
  describe('CA generations', () => {
    storeTest(harness, 'lists every generation, newest first, as stored', async (store) => {
      assert.deepEqual(await store.listCas(), []);
      const first = generation('ca-1', 'active', 1000);
      const second = generation('ca-2', 'prepared', 2000);
      await store.initCa(first);
      assert.equal(await store.insertPreparedCa(second), true);
      assert.deepEqual(await store.listCas(), [second, first]);
      assert.equal(await store.transitionCa('ca-1', 'active', 'old'), true);
      assert.deepEqual(await store.listCas(), [second, { ...first, state: 'old' }]);
    });

    storeTest(harness, 'holds one prepared generation at a time and never reuses an id', async (store) => {
      await store.initCa(generation('ca-1', 'active', 1000));
      assert.equal(await store.insertPreparedCa(generation('ca-2', 'prepared', 2000)), true);
      assert.equal(await store.insertPreparedCa(generation('ca-3', 'prepared', 3000)), false);
      assert.equal(await store.insertPreparedCa(generation('ca-1', 'prepared', 3000)), false);
      assert.deepEqual(states(await store.listCas()), { 'ca-1': 'active', 'ca-2': 'prepared' });
      assert.equal((await store.queryAudit({ type: 'ca.prepare', limit: 10 })).length, 1);
    });

    storeTest(harness, 'refuses to insert a generation that is not prepared', async (store) => {
      await assert.rejects(store.insertPreparedCa(generation('ca-1', 'active', 1000)), /must be prepared, not active/);
      await assert.rejects(store.insertPreparedCa(generation('ca-1', 'old', 1000)), /must be prepared, not old/);
      assert.deepEqual(await store.listCas(), []);
    });

    peerTest(harness, 'lets exactly one of several instances preparing at once win', async (store, peer) => {
      await store.initCa(generation('ca-0', 'active', 1000));
      const results = await Promise.all(
        ['a', 'b', 'c', 'd'].map((id, i) => (i % 2 === 0 ? store : peer).insertPreparedCa(generation(`ca-${id}`, 'prepared', 2000))),
      );
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal((await store.listCas()).filter((ca) => ca.state === 'prepared').length, 1);
      assert.equal((await store.queryAudit({ type: 'ca.prepare', limit: 10 })).length, 1);
    });

    storeTest(harness, 'rotates prepared → active → old, the new generation taking the slot only once the old one left it', async (store) => {
      await store.initCa(generation('ca-1', 'active', 1000));
      await store.insertPreparedCa(generation('ca-2', 'prepared', 2000));
      // One active generation at a time: the old one must step aside first.
      assert.equal(await store.transitionCa('ca-2', 'prepared', 'active'), false);
      assert.equal((await store.getActiveCa())?.id, 'ca-1');

      assert.equal(await store.transitionCa('ca-1', 'active', 'old'), true);
      assert.equal(await store.getActiveCa(), null);
      assert.equal(await store.transitionCa('ca-2', 'prepared', 'active'), true);
      assert.deepEqual(await store.getActiveCa(), generation('ca-2', 'active', 2000));
      assert.deepEqual(states(await store.listCas()), { 'ca-1': 'old', 'ca-2': 'active' });
      // The next rotation can begin: the prepared slot is free again.
      assert.equal(await store.insertPreparedCa(generation('ca-3', 'prepared', 3000)), true);
    });

    storeTest(harness, 'refuses a step from a state the generation is not in, or of a generation that does not exist', async (store) => {
      await store.initCa(generation('ca-1', 'active', 1000));
      await store.insertPreparedCa(generation('ca-2', 'prepared', 2000));
      assert.equal(await store.transitionCa('ca-2', 'active', 'old'), false);
      assert.equal(await store.transitionCa('ca-1', 'prepared', 'active'), false);
      assert.equal(await store.transitionCa('ca-9', 'active', 'old'), false);
      assert.deepEqual(states(await store.listCas()), { 'ca-1': 'active', 'ca-2': 'prepared' });
      assert.equal((await store.queryAudit({ type: 'ca.retire', limit: 10 })).length, 0);
    });

    storeTest(harness, 'throws on a step the state machine does not have', async (store) => {
      await store.initCa(generation('ca-1', 'active', 1000));
      for (const [from, to] of [
        ['old', 'active'],
        ['active', 'prepared'],
        ['prepared', 'old'],
        ['active', 'active'],
      ] as const) {
        await assert.rejects(store.transitionCa('ca-1', from, to), new RegExp(`cannot move from ${from} to ${to}`));
      }
      assert.equal((await store.getActiveCa())?.id, 'ca-1');
    });

    peerTest(harness, 'moves a generation for exactly one of several instances taking the same step', async (store, peer) => {
      await store.initCa(generation('ca-1', 'active', 1000));
      await store.insertPreparedCa(generation('ca-2', 'prepared', 2000));
      const retired = await Promise.all([store, peer, store, peer].map((s) => s.transitionCa('ca-1', 'active', 'old')));
      assert.equal(retired.filter(Boolean).length, 1);
      const activated = await Promise.all([peer, store, peer, store].map((s) => s.transitionCa('ca-2', 'prepared', 'active')));
      assert.equal(activated.filter(Boolean).length, 1);
      assert.deepEqual(states(await peer.listCas()), { 'ca-1': 'old', 'ca-2': 'active' });
      assert.equal((await store.queryAudit({ type: 'ca.retire', limit: 10 })).length, 1);
      assert.equal((await store.queryAudit({ type: 'ca.activate', limit: 10 })).length, 1);
    });

    storeTest(harness, 'removes an old generation once every certificate it issued has expired', async (_store, driver) => {
      let clock = 1_700_000_000_000;
      const store = new SqlStore(driver, { now: () => clock });
      await store.initCa(generation('ca-1', 'active', clock));
      await store.recordCertificate(
        { serial: '01', principal: 'alpha.api', thumbprint: 't', caId: 'ca-1', notBefore: clock, notAfter: clock + HOUR, issuedAt: clock, renewedFrom: null },
        admin,
      );
      await store.insertPreparedCa(generation('ca-2', 'prepared', clock));
      // Never a live generation.
      assert.equal(await store.removeCa('ca-1'), false);
      assert.equal(await store.removeCa('ca-2'), false);
      await store.transitionCa('ca-1', 'active', 'old');
      await store.transitionCa('ca-2', 'prepared', 'active');
      // Still in the trust bundle while its certificate is valid; the new CA's are no obstacle.
      await store.recordCertificate(
        {
          serial: '02',
          principal: 'alpha.api',
          thumbprint: 't',
          caId: 'ca-2',
          notBefore: clock,
          notAfter: clock + 2 * HOUR,
          issuedAt: clock,
          renewedFrom: null,
        },
        admin,
      );
      // notAfter is inclusive: at that very moment the certificate is still valid.
      clock += HOUR;
      assert.equal(await store.removeCa('ca-1'), false);
      clock += 1;
      const results = await Promise.all([store.removeCa('ca-1'), store.removeCa('ca-1')]);
      assert.deepEqual(results.sort(), [false, true]);
      assert.deepEqual(states(await store.listCas()), { 'ca-2': 'active' });
      assert.equal(await store.removeCa('ca-9'), false);
      // Its certificates stay on record.
      assert.equal((await store.getCertificate('01'))?.caId, 'ca-1');
    });

    storeTest(harness, 'audits every step as the system, by id and state, never with key material', async (store) => {
      await store.initCa(generation('ca-1', 'active', 1000));
      await store.insertPreparedCa(generation('ca-2', 'prepared', 2000));
      await store.transitionCa('ca-1', 'active', 'old');
      await store.transitionCa('ca-2', 'prepared', 'active');
      await store.removeCa('ca-1');
      const events = (await store.queryAudit({ limit: 100 })).reverse().filter((event) => event.type.startsWith('ca.'));
      assert.deepEqual(
        events.map(({ actor, type, target, before, after }) => ({ actor, type, target, before, after })),
        [
          { actor: 'system', type: 'ca.init', target: 'ca-1', before: null, after: { id: 'ca-1', state: 'active', createdAt: 1000 } },
          { actor: 'system', type: 'ca.prepare', target: 'ca-2', before: null, after: { id: 'ca-2', state: 'prepared', createdAt: 2000 } },
          { actor: 'system', type: 'ca.retire', target: 'ca-1', before: { id: 'ca-1', state: 'active' }, after: { id: 'ca-1', state: 'old', createdAt: 1000 } },
          {
            actor: 'system',
            type: 'ca.activate',
            target: 'ca-2',
            before: { id: 'ca-2', state: 'prepared' },
            after: { id: 'ca-2', state: 'active', createdAt: 2000 },
          },
          { actor: 'system', type: 'ca.remove', target: 'ca-1', before: { id: 'ca-1', state: 'old' }, after: null },
        ],
      );
      const text = JSON.stringify(events);
      assert.ok(!text.includes('SEALED-') && !text.includes('CHAIN-') && !text.includes('ROOT-'));
    });
  });
}
