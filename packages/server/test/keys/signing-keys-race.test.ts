import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SigningKeys } from '../../src/keys/signing-keys.ts';
import { DAY, T0, harness, policy } from './harness.ts';
import type { Harness } from './harness.ts';

// Instances sharing one store race through a whole rotation cycle. Each step must happen once:
// one key per create event, one promote and one remove per rotation, and every instance agrees
// on the key that signs.

function counts(h: Harness): Record<string, number> {
  const by = (type: string) => h.store.eventsOfType(type).length;
  return {
    create: by('signing-key.create'),
    promote: by('signing-key.activate'),
    remove: by('signing-key.remove'),
  };
}

async function refreshAll(instances: SigningKeys[]): Promise<void> {
  await Promise.all(instances.map((keys) => keys.refresh()));
}

function agreeOnCurrent(instances: SigningKeys[]): string {
  const kids = new Set(instances.map((keys) => keys.current().kid));
  assert.equal(kids.size, 1, 'every instance signs with the same key');
  return [...kids][0] ?? '';
}

void describe('SigningKeys on instances sharing a store', () => {
  void it('creates the first key once when two instances start together', async () => {
    const h = harness();
    const instances = [h.instance(), h.instance()];
    await refreshAll(instances);

    assert.equal(h.store.keys.size, 1);
    assert.deepEqual(counts(h), { create: 1, promote: 0, remove: 0 });
    assert.ok(h.store.lostRaces > 0, 'the instances did contend');
    agreeOnCurrent(instances);
  });

  void it('performs each step of scheduled rotation exactly once', async () => {
    const h = harness();
    const instances = [h.instance(), h.instance(), h.instance()];
    await refreshAll(instances);
    const first = agreeOnCurrent(instances);

    h.clock.now = T0 + policy.rotationInterval - policy.prePublication;
    await refreshAll(instances);
    assert.deepEqual(counts(h), { create: 2, promote: 0, remove: 0 });
    assert.equal(agreeOnCurrent(instances), first);

    h.clock.now = T0 + policy.rotationInterval;
    await refreshAll(instances);
    assert.deepEqual(counts(h), { create: 2, promote: 1, remove: 0 });
    const second = agreeOnCurrent(instances);
    assert.notEqual(second, first);

    h.clock.now += policy.retention;
    await refreshAll(instances);
    assert.deepEqual(counts(h), { create: 2, promote: 1, remove: 1 });
    assert.equal(agreeOnCurrent(instances), second);
    assert.ok(h.store.lostRaces >= 4, 'every step was contended');
    assert.equal(new Set(instances.map((keys) => keys.jwksJson())).size, 1);
    assert.deepEqual(
      instances[0]?.jwks().keys.map((jwk) => jwk.kid),
      [second],
    );
  });

  void it('publishes one successor when two admins force a rotation at once', async () => {
    const h = harness();
    const [a, b] = [h.instance(), h.instance()];
    await refreshAll([a, b]);

    h.clock.now = T0 + DAY;
    const lostBefore = h.store.lostRaces;
    const results = await Promise.all([a.rotate({ actor: 'alice' }), b.rotate({ actor: 'bob' })]);

    assert.deepEqual(results.map((result) => result.created).sort(), [false, true]);
    assert.equal(results[0]?.kid, results[1]?.kid);
    assert.equal(results[0]?.activatesAt, T0 + DAY + policy.prePublication);
    assert.equal(h.store.inState('next').length, 1);
    assert.deepEqual(counts(h), { create: 2, promote: 0, remove: 0 });
    assert.equal(h.store.eventsOfType('signing-key.rotate').length, 2);
    assert.equal(h.store.lostRaces - lostBefore, 1, 'the second insert found the slot taken');
  });

  void it('adds one successor when a forced rotation races the scheduled one', async () => {
    const h = harness();
    const [a, b] = [h.instance(), h.instance()];
    await refreshAll([a, b]);

    h.clock.now = T0 + policy.rotationInterval - policy.prePublication;
    const [, rotation] = await Promise.all([a.refresh(), b.rotate({ actor: 'alice' })]);

    assert.equal(h.store.inState('next').length, 1);
    assert.equal(h.store.inState('next')[0]?.kid, rotation.kid);
    assert.deepEqual(counts(h), { create: 2, promote: 0, remove: 0 });

    h.clock.now = rotation.activatesAt;
    await Promise.all([a.refresh(), b.rotate({ actor: 'bob' }), a.refresh()]);
    assert.equal(h.store.eventsOfType('signing-key.activate').length, 1);
    assert.equal(h.store.inState('active')[0]?.kid, rotation.kid);
    // Bob's rotation, after the promotion, published the successor of the new key.
    assert.equal(h.store.inState('next').length, 1);
    assert.equal(counts(h).create, h.store.keys.size);
  });
});
