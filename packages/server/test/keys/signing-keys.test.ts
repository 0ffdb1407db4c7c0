import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { createSealer, generateMasterKey } from '../../src/keys/master-key.ts';
import type { SigningKeys, SigningKeyStore } from '../../src/keys/signing-keys.ts';
import type { SigningAlg } from '../../src/storage/records.ts';
import type { Clock } from './harness.ts';
import { DAY, HOUR, T0, harness, policy } from './harness.ts';

const ADMIN = { actor: 'sys.auth.admin' };
const TOKEN_LIFETIME_S = 24 * 3600;

function signToken(keys: SigningKeys, clock: Clock): Promise<string> {
  const key = keys.current();
  const iat = Math.floor(clock.now / 1000);
  return new SignJWT({ sub: 'alpha.api' })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + TOKEN_LIFETIME_S)
    .sign(key.signer);
}

function verifyAt(token: string, keys: SigningKeys, at: number) {
  return jwtVerify(token, createLocalJWKSet(keys.jwks()), { currentDate: new Date(at) });
}

function kidsOf(keys: SigningKeys): string[] {
  return keys.jwks().keys.map((jwk) => String(jwk.kid));
}

void describe('SigningKeys', () => {
  void it('creates exactly one active key on first start, and nothing more on the next check', async () => {
    const { store, instance } = harness();
    const keys = instance();
    await keys.refresh();
    await keys.refresh();

    assert.equal(store.keys.size, 1);
    assert.equal(store.inState('active').length, 1);
    const created = store.eventsOfType('signing-key.create');
    assert.equal(created.length, 1);
    assert.equal(created[0]?.actor, 'system');
    assert.equal(created[0]?.target, keys.current().kid);
    assert.deepEqual(kidsOf(keys), [keys.current().kid]);
  });

  for (const [alg, kty, crv] of [
    ['ES256', 'EC', 'P-256'],
    ['EdDSA', 'OKP', 'Ed25519'],
    ['RS256', 'RSA', undefined],
  ] as const) {
    void it(`publishes a ${alg} key as kty ${kty} with its RFC 7638 thumbprint as kid`, async () => {
      const { clock, instance } = harness();
      const keys = instance({ alg });
      await keys.refresh();

      const [jwk, ...others] = keys.jwks().keys;
      assert.equal(others.length, 0);
      assert.ok(jwk !== undefined);
      assert.equal(jwk.kty, kty);
      assert.equal(jwk.crv, crv);
      assert.equal(jwk.alg, alg);
      assert.equal(jwk.use, 'sig');
      assert.equal(jwk.d, undefined);
      assert.equal(jwk.kid, await calculateJwkThumbprint(jwk, 'sha256'));
      if (alg === 'RS256') assert.equal(Buffer.from(String(jwk.n), 'base64url').length * 8, 3072);

      const { protectedHeader } = await verifyAt(await signToken(keys, clock), keys, clock.now);
      assert.equal(protectedHeader.kid, jwk.kid);
    });
  }

  void it('serves the JWKS as one serialized string that changes only with the key set', async () => {
    const { clock, instance } = harness();
    const keys = instance();
    await keys.refresh();
    const before = keys.jwksJson();
    assert.equal(before, JSON.stringify(keys.jwks()));

    clock.now += HOUR;
    await keys.refresh();
    assert.equal(keys.jwksJson(), before);

    await keys.rotate(ADMIN);
    assert.notEqual(keys.jwksJson(), before);
    assert.equal(keys.jwksJson(), JSON.stringify(keys.jwks()));
  });

  void it('publishes a forced rotation’s key before it signs, and switches exactly at activatesAt', async () => {
    const { clock, store, instance } = harness();
    const keys = instance();
    const other = instance();
    await keys.refresh();
    const first = keys.current().kid;

    clock.now = T0 + DAY;
    const rotation = await keys.rotate(ADMIN);
    assert.deepEqual(rotation, { kid: rotation.kid, activatesAt: T0 + DAY + policy.prePublication, created: true });
    assert.deepEqual(new Set(kidsOf(keys)), new Set([first, rotation.kid]));
    assert.equal(keys.current().kid, first);

    // Forcing again while a successor waits must not bring its activation forward.
    clock.now = rotation.activatesAt - 1;
    const again = await other.rotate(ADMIN);
    assert.deepEqual(again, { kid: rotation.kid, activatesAt: rotation.activatesAt, created: false });
    assert.equal(store.inState('next').length, 1);

    assert.equal(keys.current().kid, first);
    assert.equal(other.current().kid, first);

    // Neither instance reloads: both switch on their own at the same moment.
    clock.now = rotation.activatesAt;
    assert.equal(keys.current().kid, rotation.kid);
    assert.equal(other.current().kid, rotation.kid);

    assert.deepEqual(
      store.eventsOfType('signing-key.rotate').map((event) => [event.actor, event.target]),
      [
        ['sys.auth.admin', rotation.kid],
        ['sys.auth.admin', rotation.kid],
      ],
    );
    const forced = store.eventsOfType('signing-key.create').filter((event) => event.target === rotation.kid);
    assert.equal(forced.length, 1);
  });

  void it('keeps verifying tokens of a retired key until removeAt, then drops the key', async () => {
    const { clock, store, instance } = harness();
    const keys = instance();
    await keys.refresh();
    const old = keys.current().kid;

    // Scheduled rotation: the successor is prepared a pre-publication window early.
    clock.now = T0 + policy.rotationInterval - policy.prePublication;
    await keys.refresh();
    const [next] = store.inState('next');
    assert.ok(next !== undefined);
    assert.equal(next.activatesAt, T0 + policy.rotationInterval);
    assert.equal(store.eventsOfType('signing-key.create').length, 2);

    clock.now = next.activatesAt - 1;
    const lastOldToken = await signToken(keys, clock);
    assert.equal(keys.current().kid, old);

    clock.now = next.activatesAt;
    await keys.refresh();
    assert.equal(keys.current().kid, next.kid);
    const [retired] = store.inState('retired');
    assert.equal(retired?.kid, old);
    assert.equal(retired?.retiredAt, next.activatesAt);
    const removeAt = next.activatesAt + policy.retention;
    assert.equal(retired?.removeAt, removeAt);
    assert.equal(store.eventsOfType('signing-key.activate').length, 1);

    const tokenExpiry = next.activatesAt - 1 + TOKEN_LIFETIME_S * 1000;
    clock.now = removeAt - 1;
    await keys.refresh();
    assert.ok(kidsOf(keys).includes(old));
    await verifyAt(lastOldToken, keys, tokenExpiry - 1000);

    clock.now = removeAt;
    await keys.refresh();
    assert.deepEqual(kidsOf(keys), [next.kid]);
    assert.equal(store.eventsOfType('signing-key.remove').length, 1);
    await assert.rejects(verifyAt(lastOldToken, keys, tokenExpiry - 1000), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });

  void it('keeps each stored key’s algorithm when the configured one changes', async () => {
    const { clock, store, instance } = harness();
    const es256 = instance({ alg: 'ES256' });
    await es256.refresh();

    const eddsa = instance({ alg: 'EdDSA' });
    clock.now = T0 + DAY;
    const rotation = await eddsa.rotate(ADMIN);
    await es256.refresh();
    const algs = es256.jwks().keys.map((jwk) => [jwk.kid, jwk.alg, jwk.kty]);
    assert.deepEqual(algs, [
      [rotation.kid, 'EdDSA', 'OKP'],
      [store.inState('active')[0]?.kid, 'ES256', 'EC'],
    ]);

    clock.now = rotation.activatesAt;
    const token = await signToken(es256, clock);
    const { protectedHeader } = await verifyAt(token, eddsa, clock.now);
    assert.deepEqual([protectedHeader.alg, protectedHeader.kid], ['EdDSA' satisfies SigningAlg, rotation.kid]);
  });

  void it('fails with a clear error under another master key, before storing anything', async () => {
    const { clock, store, instance } = harness();
    await instance().refresh();
    clock.now = T0 + policy.rotationInterval;
    const before = [...store.keys.keys()];

    const stranger = instance({ sealer: createSealer(generateMasterKey()) });
    await assert.rejects(stranger.refresh(), {
      code: 'MASTER_KEY_MISMATCH',
      message: /the master key differs from the one that sealed it/,
    });
    assert.equal(stranger.loaded, false);
    assert.deepEqual([...store.keys.keys()], before);
    assert.throws(() => stranger.current(), { code: 'NO_SIGNING_KEY' });
  });

  void it('refuses a stored public JWK that does not match its kid', async () => {
    const { store, instance } = harness();
    const keys = instance();
    await keys.refresh();
    const [record] = store.keys.values();
    assert.ok(record !== undefined);
    const other = harness();
    await other.instance().refresh();
    const [foreign] = other.store.keys.values();
    record.publicJwk = foreign?.publicJwk ?? '';

    await assert.rejects(instance().refresh(), { code: 'SIGNING_KEY_INVALID' });
  });

  void it('writes audit events that carry no key material', async () => {
    const { clock, store, instance } = harness();
    const keys = instance();
    await keys.refresh();
    clock.now = T0 + DAY;
    await keys.rotate(ADMIN);
    clock.now += policy.prePublication;
    await keys.refresh();

    const events = JSON.stringify(store.audit);
    for (const record of store.keys.values()) {
      assert.ok(!events.includes(record.sealedPrivateKey));
      assert.ok(!events.includes(record.publicJwk));
    }
    assert.ok(!/"d"\s*:/.test(events));
  });

  void it('logs refresh failures from its timer instead of throwing them', async () => {
    const { store, instance } = harness();
    const failing: SigningKeyStore = {
      appendAudit: (event) => store.appendAudit(event),
      insertSigningKey: (key) => store.insertSigningKey(key),
      transitionSigningKey: (kid, from, to, times) => store.transitionSigningKey(kid, from, to, times),
      removeSigningKey: (kid) => store.removeSigningKey(kid),
      listSigningKeys: () => Promise.reject(new Error('database unreachable')),
    };
    const logged: { details: object; message: string }[] = [];
    const keys = instance({
      store: failing,
      checkIntervalMs: 2,
      logger: {
        error(details, message) {
          logged.push({ details, message });
        },
      },
    });
    const throwing = instance({
      store: failing,
      checkIntervalMs: 2,
      logger: {
        error() {
          throw new Error('logger broke');
        },
      },
    });

    keys.start();
    throwing.start();
    const deadline = Date.now() + 2000;
    while (logged.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    await keys.stop();
    await throwing.stop();

    assert.ok(logged.length >= 2);
    assert.match(logged[0]?.message ?? '', /signing key refresh failed/);
    assert.deepEqual(logged[0]?.details, { err: new Error('database unreachable') });
  });
});
