// A cluster worker other than the first (rotates: false) takes no rotation step itself, yet
// publishes and signs with what the owner stores, when the owner would.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NoSigningKeyError } from '../../src/keys/signing-keys.ts';
import { HOUR, T0, harness, policy } from './harness.ts';

void describe('SigningKeys that do not rotate (cluster followers)', () => {
  void it('creates no first key on an empty store', async () => {
    const { store, instance } = harness();
    const follower = instance({ rotates: false });
    await follower.refresh();
    assert.equal(store.keys.size, 0);
    assert.throws(() => follower.current(), NoSigningKeyError);
  });

  void it("leaves every due step to the owner, and follows the owner's keys by their activation time", async () => {
    const { clock, store, instance } = harness();
    const owner = instance();
    const follower = instance({ rotates: false });
    await owner.refresh();
    await follower.refresh();
    const first = owner.current().kid;
    assert.equal(follower.current().kid, first);

    // The successor is due: the follower does not make it.
    clock.now = T0 + policy.rotationInterval - policy.prePublication;
    await follower.refresh();
    assert.equal(store.keys.size, 1);
    assert.equal(store.inState('next').length, 0);

    await owner.refresh();
    const [next] = store.inState('next');
    assert.ok(next);
    await follower.refresh();
    assert.deepEqual(
      follower
        .jwks()
        .keys.map((jwk) => jwk.kid)
        .sort(),
      [first, next.kid].sort(),
    );
    assert.equal(follower.current().kid, first);

    // Past its activation the follower signs with the successor, though nobody promoted it yet.
    clock.now = next.activatesAt + HOUR;
    await follower.refresh();
    assert.equal(store.inState('next').length, 1, 'the follower promoted nothing');
    assert.equal(follower.current().kid, next.kid);
    await owner.refresh();
    assert.equal(store.inState('active')[0]?.kid, next.kid);
  });
});
