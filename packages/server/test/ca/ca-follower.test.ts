// A cluster worker other than the first (rotates: false) takes no CA rotation step itself, yet
// serves the bundle the owner stores and signs with a new generation from its activation time.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadCertificateAuthority } from '../../src/ca/authority.ts';
import { caRotationPolicy } from '../../src/ca/settings.ts';
import { successorDueAt } from '../../src/rotation/plan.ts';
import { memoryCaStore, newAuthority, testSettings } from './helpers.ts';
import { createSealer, generateMasterKey } from '../../src/keys/master-key.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2031, 0, 1);

void describe('a CA that does not rotate (cluster followers)', () => {
  void test('creates no CA on an empty store', async () => {
    const store = memoryCaStore([], () => T0);
    const follower = await loadCertificateAuthority({
      store,
      sealer: createSealer(generateMasterKey()),
      settings: testSettings(),
      now: () => T0,
      rotates: false,
    });
    assert.equal(store.records.length, 0);
    assert.deepEqual(follower.generations(), []);
  });

  void test("leaves a due rotation to the owner, then follows the owner's generations by their activation time", async () => {
    let clock = T0;
    const { ca: owner, store, sealer } = await newAuthority({ now: () => clock });
    const follower = await loadCertificateAuthority({ store, sealer, settings: testSettings(), now: () => clock, rotates: false });
    const [active] = owner.generations();
    assert.ok(active);
    assert.equal(follower.id, active.id);

    clock = successorDueAt({ ...active, state: 'active' }, caRotationPolicy(testSettings()));
    await follower.refresh();
    assert.deepEqual(
      store.records.map((record) => record.state),
      ['active'],
      'the follower prepared nothing',
    );

    await owner.refresh();
    await follower.refresh();
    assert.equal(follower.bundlePem, owner.bundlePem);
    const prepared = follower.generations().find((generation) => generation.state === 'prepared');
    assert.ok(prepared);
    assert.equal(follower.id, active.id);

    clock += DAY + 1000;
    await follower.refresh();
    assert.ok(
      store.records.some((record) => record.state === 'prepared'),
      'the follower activated nothing',
    );
    assert.equal(follower.id, prepared.id, 'it signs with the new generation once that one is due');
  });
});
