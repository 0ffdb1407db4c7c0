// A certificate's lineage (the serial each renewal renewed from) and a service's certificates as
// a whole: revoking one revokes what was renewed from it; a service's certificates are listed a
// page at a time and revoked all at once.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError, NotFoundError } from '../../../src/storage/errors.ts';
import type { NewCertificate } from '../../../src/storage/records.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, peerTest, storeTest } from './harness.ts';

const T0 = 1_700_000_000_000;
const DAY = 86_400_000;

function certificate(serial: string, renewedFrom: string | null = null, extra: Partial<NewCertificate> = {}): NewCertificate {
  return {
    serial,
    principal: 'alpha.api',
    thumbprint: `THUMB-${serial}`,
    caId: 'ca-1',
    notBefore: T0 - 60_000,
    notAfter: T0 + DAY,
    issuedAt: T0,
    renewedFrom,
    ...extra,
  };
}

async function withService(store: SqlStore, ...names: string[]): Promise<void> {
  await store.createDomain({ name: 'alpha' }, admin);
  for (const name of names) await store.createService({ domain: 'alpha', name }, {}, admin);
}

export function certificateLineage(harness: StoreHarness): void {
  describe('certificate lineage', () => {
    storeTest(harness, 'records the serial a renewal renewed from', async (store) => {
      await store.recordCertificate(certificate('a0'), admin);
      await store.recordCertificate(certificate('a1', 'a0'), { actor: 'alpha.api' });
      assert.equal((await store.getCertificate('a0'))?.renewedFrom, null);
      assert.equal((await store.getCertificate('a1'))?.renewedFrom, 'a0');
      const [issued] = await store.queryAudit({ type: 'certificate.issue', limit: 1 });
      assert.deepEqual(issued?.after, { serial: 'a1', principal: 'alpha.api', notAfter: T0 + DAY, renewedFrom: 'a0' });
    });

    storeTest(harness, 'revokes every certificate renewed from a revoked one, transitively, with its reason and time', async (_s, driver) => {
      const store = new SqlStore(driver, { now: () => T0 + 5 });
      // a0 → a1 → a2, a0 → b1; c0 is a bootstrap of the same service, a lineage of its own.
      for (const [serial, parent] of [
        ['a0', null],
        ['a1', 'a0'],
        ['a2', 'a1'],
        ['b1', 'a0'],
        ['c0', null],
        ['c1', 'c0'],
      ] as const) {
        await store.recordCertificate(certificate(serial, parent), admin);
      }
      const result = await store.revokeCertificate('a0', 'keyCompromise', { actor: 'alpha.admin' });
      assert.equal(result.descendantsRevoked, 3);
      for (const serial of ['a0', 'a1', 'a2', 'b1']) {
        const record = await store.getCertificate(serial);
        assert.deepEqual([record?.revokedAt, record?.revocationReason], [T0 + 5, 'keyCompromise'], serial);
      }
      for (const serial of ['c0', 'c1']) assert.equal((await store.getCertificate(serial))?.revokedAt, null, serial);

      const events = await store.queryAudit({ type: 'certificate.revoke', limit: 10 });
      assert.equal(events.length, 1);
      assert.deepEqual(events[0]?.after, { serial: 'a0', principal: 'alpha.api', revokedAt: T0 + 5, revocationReason: 'keyCompromise', descendantsRevoked: 3 });
      // Again, or a descendant on its own: nothing left to revoke, nothing audited.
      assert.equal((await store.revokeCertificate('a1', 'superseded', admin)).descendantsRevoked, 0);
      assert.equal((await store.queryAudit({ type: 'certificate.revoke', limit: 10 })).length, 1);
    });

    storeTest(harness, 'revokes a renewal and its own renewals, not the certificate it renewed', async (store) => {
      for (const [serial, parent] of [
        ['a0', null],
        ['a1', 'a0'],
        ['a2', 'a1'],
      ] as const)
        await store.recordCertificate(certificate(serial, parent), admin);
      assert.equal((await store.revokeCertificate('a1', 'superseded', admin)).descendantsRevoked, 1);
      assert.equal((await store.getCertificate('a0'))?.revokedAt, null);
      assert.equal((await store.getCertificate('a2'))?.revocationReason, 'superseded');
    });

    storeTest(harness, 'refuses to record a renewal of a revoked certificate, and records nothing', async (store) => {
      await store.recordCertificate(certificate('a0'), admin);
      await store.revokeCertificate('a0', 'keyCompromise', admin);
      const events = await store.queryAudit({ limit: 100 });
      await assert.rejects(store.recordCertificate(certificate('a1', 'a0'), admin), (error: unknown) => {
        assert.ok(error instanceof ConflictError);
        assert.match(error.message, /certificate a0 was revoked while it was being renewed; bootstrap a new one/);
        return true;
      });
      assert.equal(await store.getCertificate('a1'), null);
      assert.deepEqual(await store.queryAudit({ limit: 100 }), events);
      // A parent it never issued, or another service's, is a bug in the caller.
      await assert.rejects(store.recordCertificate(certificate('a2', 'ff'), admin), RangeError);
      await store.recordCertificate(certificate('b0', null, { principal: 'alpha.web' }), admin);
      await assert.rejects(store.recordCertificate(certificate('a3', 'b0'), admin), RangeError);
    });

    peerTest(harness, 'leaves no live renewal when renewals race the revocation of their parent', async (store, peer) => {
      await withService(store, 'api');
      for (let round = 0; round < 8; round++) {
        const parent = `e${round}0`;
        await store.recordCertificate(certificate(parent), admin);
        const renewals = Array.from({ length: 4 }, (_, i) => (i % 2 === 0 ? store : peer).recordCertificate(certificate(`e${round}1${i}`, parent), admin));
        const outcomes = await Promise.allSettled([...renewals, peer.revokeCertificate(parent, 'keyCompromise', admin)]);
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof ConflictError, String(outcome.reason));
        }
        for (let i = 0; i < 4; i++) {
          const renewal = await store.getCertificate(`e${round}1${i}`);
          assert.ok(renewal === null || renewal.revocationReason === 'keyCompromise', `round ${round}: renewal ${i} outlived its parent`);
        }
      }
    });
  });

  describe("a service's certificates", () => {
    storeTest(harness, 'lists them newest first, a page at a time, with no duplicates and no gaps', async (store) => {
      // Two share an issuance time: the serial orders them.
      const issued = [
        ['01', T0],
        ['02', T0 + 1],
        ['03', T0 + 1],
        ['04', T0 + 2],
        ['05', T0 + 3],
      ] as const;
      for (const [serial, issuedAt] of issued) await store.recordCertificate(certificate(serial, null, { issuedAt }), admin);
      await store.recordCertificate(certificate('06', null, { principal: 'alpha.web', issuedAt: T0 + 9 }), admin);
      const seen: string[] = [];
      let after: { issuedAt: number; serial: string } | undefined;
      for (;;) {
        const page = await store.listCertificates('alpha.api', { limit: 2, after, now: T0 });
        seen.push(...page.map((record) => record.serial));
        const last = page.at(-1);
        if (page.length < 2 || !last) break;
        after = { issuedAt: last.issuedAt, serial: last.serial };
      }
      assert.deepEqual(seen, ['05', '04', '03', '02', '01']);
      assert.deepEqual(await store.listCertificates('alpha.nobody', { limit: 10, now: T0 }), []);
    });

    storeTest(harness, 'lists them by status: active, revoked, expired', async (store) => {
      await store.recordCertificate(certificate('01'), admin);
      await store.recordCertificate(certificate('02', null, { notAfter: T0 - 1 }), admin);
      await store.recordCertificate(certificate('03', null, { notAfter: T0 - 1 }), admin);
      await store.recordCertificate(certificate('04'), admin);
      await store.revokeCertificate('03', 'superseded', admin);
      await store.revokeCertificate('04', 'superseded', admin);
      const serials = async (status: 'active' | 'revoked' | 'expired', now = T0): Promise<string[]> =>
        (await store.listCertificates('alpha.api', { limit: 10, status, now })).map((record) => record.serial).sort();
      assert.deepEqual(await serials('active'), ['01']);
      assert.deepEqual(await serials('revoked'), ['03', '04']);
      assert.deepEqual(await serials('expired'), ['02']);
      // notAfter is inclusive: still active at that very moment.
      assert.deepEqual(await serials('active', T0 + DAY), ['01']);
      assert.deepEqual(await serials('expired', T0 + DAY + 1), ['01', '02']);
    });

    storeTest(harness, 'revokes every live certificate of a service at once, with one audit event', async (_s, driver) => {
      const store = new SqlStore(driver, { now: () => T0 });
      await withService(store, 'api', 'web');
      await store.recordCertificate(certificate('01'), admin);
      await store.recordCertificate(certificate('02', '01'), admin);
      await store.recordCertificate(certificate('03', null, { notAfter: T0 - 1 }), admin);
      await store.recordCertificate(certificate('04'), admin);
      await store.revokeCertificate('04', 'superseded', admin);
      await store.recordCertificate(certificate('05', null, { principal: 'alpha.web' }), admin);

      assert.equal(await store.revokeServiceCertificates('alpha.api', 'keyCompromise', { actor: 'alpha.admin' }), 2);
      for (const serial of ['01', '02']) assert.equal((await store.getCertificate(serial))?.revocationReason, 'keyCompromise');
      assert.equal((await store.getCertificate('03'))?.revokedAt, null, 'an expired one stays as it was');
      assert.equal((await store.getCertificate('04'))?.revocationReason, 'superseded', 'the first revocation stands');
      assert.equal((await store.getCertificate('05'))?.revokedAt, null, "another service's certificate");
      const [event] = await store.queryAudit({ type: 'certificate.revoke-all', limit: 10 });
      assert.deepEqual(
        { actor: event?.actor, target: event?.target, after: event?.after },
        { actor: 'alpha.admin', target: 'alpha.api', after: { principal: 'alpha.api', revoked: 2, revokedAt: T0, revocationReason: 'keyCompromise' } },
      );
      assert.equal(await store.revokeServiceCertificates('alpha.api', 'keyCompromise', admin), 0);
      await assert.rejects(store.revokeServiceCertificates('alpha.nobody', 'keyCompromise', admin), NotFoundError);
    });
  });
}
