// CA rotation through the CertificateAuthority, with the clock in the test's hands: the new root
// is in the bundle before the new CA signs, certificates of the old CA keep verifying (openssl,
// at the simulated time) until they expire, and only then does the old root leave the bundle.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { loadCertificateAuthority } from '../../src/ca/authority.ts';
import type { CertificateAuthority } from '../../src/ca/authority.ts';
import { caRotationPolicy } from '../../src/ca/settings.ts';
import { successorDueAt } from '../../src/rotation/plan.ts';
import type { IssuedServiceCertificate } from '../../src/ca/service-certificate.ts';
import { makeCsr } from './csr-fixtures.ts';
import { firstPem, memoryCaStore, newAuthority, opensslVerify, tempDir, testSettings } from './helpers.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2031, 0, 1);

function certificates(bundlePem: string): string[] {
  return bundlePem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
}

/** The self-signed certificates of a bundle; the others are the generations' issuing CAs. */
function roots(bundlePem: string): string[] {
  return certificates(bundlePem).filter((pem) => new X509Certificate(pem).checkIssued(new X509Certificate(pem)));
}

async function issue(ca: CertificateAuthority, now: number, lifetimeSeconds?: number): Promise<IssuedServiceCertificate> {
  return ca.issueServiceCertificate({ csrPem: (await makeCsr()).pem, principal: 'alpha.api', now, lifetimeSeconds });
}

function signedBy(issued: IssuedServiceCertificate, chainPem: string): boolean {
  const issuer = new X509Certificate(firstPem(chainPem));
  const leaf = new X509Certificate(issued.certificatePem);
  return leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey);
}

void describe('CA rotation', () => {
  void test('a forced rotation puts the new root in the bundle at once and signs with the new CA from its activation time', async () => {
    let clock = T0;
    const { ca, store } = await newAuthority({ now: () => clock });
    const oldId = ca.id;
    const oldChain = ca.chainPem;
    assert.equal(roots(ca.bundlePem).length, 1);

    const rotation = await ca.rotate({ actor: 'sys.auth.admin' });
    assert.equal(rotation.created, true);
    assert.equal(rotation.activatesAt, T0 + DAY, 'signs after the whole pre-publication window');
    assert.equal(roots(ca.bundlePem).length, 2, 'the prepared root is in the bundle before it signs');
    const prepared = store.records.find((record) => record.state === 'prepared')!;
    assert.equal(roots(ca.bundlePem)[0], roots(prepared.rootPem)[0], 'newest first');
    assert.deepEqual(
      certificates(ca.bundlePem),
      [...certificates(prepared.chainPem), ...certificates(oldChain)],
      "each generation's issuing CA, then its root",
    );
    assert.equal(ca.id, oldId, 'the prepared CA does not sign yet');
    assert.ok(signedBy(await issue(ca, clock), oldChain));

    const again = await ca.rotate({ actor: 'sys.auth.admin' });
    assert.deepEqual(again, { ...rotation, created: false }, 'a pending rotation is reported, not replaced');
    assert.deepEqual(
      store.audit.filter((event) => event.type === 'ca.rotate').map((event) => [event.actor, event.target]),
      [
        ['sys.auth.admin', rotation.id],
        ['sys.auth.admin', rotation.id],
      ],
    );

    clock = rotation.activatesAt - 1;
    assert.ok(signedBy(await issue(ca, clock), oldChain));
    clock = rotation.activatesAt;
    assert.equal(ca.id, rotation.id, 'switches at the activation time, before any refresh');
    const fresh = await issue(ca, clock);
    assert.equal(fresh.caId, rotation.id);
    assert.ok(signedBy(fresh, ca.chainPem));
    assert.notEqual(ca.chainPem, oldChain);

    await ca.refresh();
    assert.deepEqual(
      ca.generations().map((generation) => [generation.id, generation.state]),
      [
        [rotation.id, 'active'],
        [oldId, 'old'],
      ],
    );
    assert.equal(ca.generations()[1]?.removeAt, rotation.activatesAt + caRotationPolicy(testSettings()).retention);
  });

  void test('certificates of the old CA keep verifying against the bundle until they expire; then the old root leaves it', async (t) => {
    let clock = T0;
    const { ca, store } = await newAuthority({ now: () => clock });
    const dir = await tempDir(t);
    const oldCert = await issue(ca, clock, 7 * 86_400);
    const changes: string[] = [];
    ca.onBundleChange((bundlePem) => {
      changes.push(bundlePem);
    });

    const rotation = await ca.rotate({ actor: 'sys.auth.admin' });
    clock = rotation.activatesAt;
    await ca.refresh();
    const newCert = await issue(ca, clock);

    for (const at of [clock, oldCert.expiresAt - 1000]) {
      for (const purpose of ['sslclient', 'sslserver'] as const) {
        const result = await opensslVerify(dir, { bundlePem: ca.bundlePem, chainPem: oldCert.chainPem, leafPem: oldCert.certificatePem, purpose, at });
        assert.ok(result.ok, `the old CA's certificate at ${new Date(at).toISOString()} (${purpose}): ${result.output}`);
      }
    }
    const fresh = await opensslVerify(dir, {
      bundlePem: ca.bundlePem,
      chainPem: newCert.chainPem,
      leafPem: newCert.certificatePem,
      purpose: 'sslclient',
      at: clock,
    });
    assert.ok(fresh.ok, fresh.output);

    const removeAt = ca.generations().find((generation) => generation.state === 'old')?.removeAt;
    assert.ok(removeAt !== null && removeAt !== undefined && removeAt > oldCert.expiresAt, 'the old root outlives every certificate it signed');
    clock = removeAt - 1;
    await ca.refresh();
    assert.equal(roots(ca.bundlePem).length, 2);

    clock = removeAt;
    await ca.refresh();
    assert.deepEqual(roots(ca.bundlePem), roots(store.records[0]!.rootPem), 'only the new root is left');
    assert.equal(store.records.length, 1);
    const gone = await opensslVerify(dir, {
      bundlePem: ca.bundlePem,
      chainPem: firstPem(oldCert.chainPem),
      leafPem: oldCert.certificatePem,
      purpose: 'sslclient',
      at: oldCert.expiresAt - 1000,
    });
    assert.equal(gone.ok, false, 'the old CA is no longer trusted');
    assert.deepEqual(
      changes.map((bundle) => roots(bundle).length),
      [2, 1],
      'listeners (the ca.pem writer) hear of every change',
    );
  });

  void test('rotation is scheduled when the active CA nears its end', async () => {
    let clock = T0;
    const { ca } = await newAuthority({ now: () => clock });
    const [active] = ca.generations();
    assert.ok(active);
    clock = successorDueAt({ ...active, state: 'active' }, caRotationPolicy(testSettings()));
    await ca.refresh();
    const states = ca.generations().map((generation) => generation.state);
    assert.deepEqual(states, ['prepared', 'active']);
    assert.equal(ca.generations()[0]?.activatesAt, clock + DAY);
  });

  void test('instances sharing a store see the prepared root on their next refresh and switch at the same time', async () => {
    let clock = T0;
    const { ca: first, store, sealer } = await newAuthority({ now: () => clock });
    const second = await loadCertificateAuthority({ store, sealer, settings: testSettings(), now: () => clock });

    const rotation = await first.rotate({ actor: 'sys.auth.admin' });
    assert.equal(roots(second.bundlePem).length, 1, 'not before it reloads');
    await second.refresh();
    assert.equal(second.bundlePem, first.bundlePem, 'every instance serves the same bundle bytes');
    clock = rotation.activatesAt;
    assert.equal(second.id, rotation.id);
    assert.equal(first.id, rotation.id);
    await Promise.all([first.refresh(), second.refresh()]);
    assert.deepEqual(store.records.map((record) => record.state).sort(), ['active', 'old']);
  });

  void test('start() advances rotation on its timer and stop() ends it', async () => {
    let clock = T0;
    const store = memoryCaStore([], () => clock);
    const ca = await loadCertificateAuthority({ store, sealer: (await newAuthority()).sealer, settings: testSettings(), now: () => clock, checkIntervalMs: 5 });
    const rotation = await ca.rotate({ actor: 'sys.auth.admin' });
    const logged: string[] = [];
    ca.start({ error: (_details, message) => logged.push(message), warn: (_details, message) => logged.push(message) });
    clock = rotation.activatesAt;
    for (let i = 0; i < 200 && store.records.find((record) => record.id === rotation.id)?.state !== 'active'; i += 1) await sleep(5);
    assert.equal(store.records.find((record) => record.id === rotation.id)?.state, 'active');
    await ca.stop();
    clock += 400 * DAY;
    await sleep(30);
    assert.equal(store.records.length, 2, 'no refresh after stop()');
    assert.deepEqual(logged, []);
  });
});
