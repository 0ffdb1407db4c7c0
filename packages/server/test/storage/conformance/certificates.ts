// The record of issued certificates: what renewal, mTLS revocation checks and the CRL read.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError, NotFoundError } from '../../../src/storage/errors.ts';
import type { NewCertificate } from '../../../src/storage/records.ts';
import { SqlStore } from '../../../src/storage/sql-store.ts';
import type { StoreHarness } from './harness.ts';
import { admin, peerTest, storeTest } from './harness.ts';

const T0 = 1_700_000_000_000;
const DAY = 86_400_000;

function certificate(serial: string, principal = 'alpha.api', notAfter = T0 + DAY): NewCertificate {
  return { serial, principal, thumbprint: `THUMB-${serial}`, caId: 'ca-1', notBefore: T0 - 60_000, notAfter, issuedAt: T0, renewedFrom: null };
}

export function certificates(harness: StoreHarness): void {
  describe('issued certificates', () => {
    storeTest(harness, 'records a certificate and reads it back by serial', async (store) => {
      await store.recordCertificate(certificate('00c0ffee'), admin);
      assert.deepEqual(await store.getCertificate('00c0ffee'), { ...certificate('00c0ffee'), revokedAt: null, revocationReason: null, provedByKey: null });
      // The serial is matched exactly, leading zeros and all.
      assert.equal(await store.getCertificate('c0ffee'), null);
      assert.equal(await store.getCertificate('00C0FFEE'), null);
    });

    storeTest(harness, 'refuses a serial already recorded, and records nothing', async (store) => {
      await store.recordCertificate(certificate('01'), admin);
      const events = await store.queryAudit({ limit: 100 });
      await assert.rejects(store.recordCertificate(certificate('01', 'alpha.web'), admin), (error: unknown) => {
        assert.ok(error instanceof ConflictError);
        assert.match(error.message, /serial 01 is already recorded/);
        return true;
      });
      assert.equal((await store.getCertificate('01'))?.principal, 'alpha.api');
      assert.deepEqual(await store.queryAudit({ limit: 100 }), events);
    });

    storeTest(harness, 'records several certificates in one call, each audited with its own actor', async (store) => {
      await store.recordCertificates([
        { certificate: certificate('0a'), by: { actor: 'alpha.api' } },
        { certificate: certificate('0b', 'alpha.web'), by: admin },
      ]);
      assert.equal((await store.getCertificate('0a'))?.principal, 'alpha.api');
      assert.equal((await store.getCertificate('0b'))?.principal, 'alpha.web');
      const events = await store.queryAudit({ limit: 100 });
      assert.deepEqual(
        events
          .filter((event) => event.type === 'certificate.issue')
          .map((event) => [event.actor, event.target])
          .sort(),
        [
          ['alpha.api', 'alpha.api'],
          [admin.actor, 'alpha.web'],
        ].sort(),
      );
      await store.recordCertificates([]);
    });

    storeTest(harness, 'records none of a group when one serial is already recorded', async (store) => {
      await store.recordCertificate(certificate('0c'), admin);
      const events = await store.queryAudit({ limit: 100 });
      await assert.rejects(
        store.recordCertificates([
          { certificate: certificate('0d'), by: admin },
          { certificate: certificate('0c', 'alpha.web'), by: admin },
        ]),
        (error: unknown) => {
          assert.ok(error instanceof ConflictError);
          assert.match(error.message, /serial 0c is already recorded/);
          return true;
        },
      );
      assert.equal(await store.getCertificate('0d'), null);
      assert.equal((await store.getCertificate('0c'))?.principal, 'alpha.api');
      assert.deepEqual(await store.queryAudit({ limit: 100 }), events);
      await assert.rejects(store.recordCertificates([{ certificate: certificate('0E'), by: admin }]), RangeError);
    });

    storeTest(harness, 'refuses a serial that is not lower-case hex', async (store) => {
      for (const serial of ['', '0A', '0x01', '01:02', 'zz']) {
        await assert.rejects(store.recordCertificate(certificate(serial), admin), RangeError);
      }
      assert.deepEqual(await store.queryAudit({ limit: 100 }), []);
    });

    storeTest(harness, 'audits an issuance by serial, principal and expiry', async (store) => {
      await store.recordCertificate(certificate('02'), { actor: 'alpha.api' });
      const events = await store.queryAudit({ type: 'certificate.issue', limit: 10 });
      assert.deepEqual(
        events.map(({ actor, target, before, after }) => ({ actor, target, before, after })),
        [{ actor: 'alpha.api', target: 'alpha.api', before: null, after: { serial: '02', principal: 'alpha.api', notAfter: T0 + DAY } }],
      );
    });

    storeTest(harness, 'revokes once: the first reason and time stand, with one audit event', async (_store, driver) => {
      let clock = T0;
      const store = new SqlStore(driver, { now: () => clock });
      await store.recordCertificate(certificate('03'), admin);
      const revoked = await store.revokeCertificate('03', 'keyCompromise', { actor: 'alpha.admin' });
      assert.deepEqual(revoked, {
        certificate: { ...certificate('03'), revokedAt: T0, revocationReason: 'keyCompromise', provedByKey: null },
        descendantsRevoked: 0,
      });
      assert.deepEqual(await store.getCertificate('03'), revoked.certificate);

      clock += 1000;
      assert.deepEqual(await store.revokeCertificate('03', 'superseded', admin), revoked);
      const events = await store.queryAudit({ type: 'certificate.revoke', limit: 10 });
      assert.deepEqual(
        events.map(({ actor, target, before, after }) => ({ actor, target, before, after })),
        [
          {
            actor: 'alpha.admin',
            target: 'alpha.api',
            before: { serial: '03', principal: 'alpha.api', revokedAt: null, revocationReason: null },
            after: { serial: '03', principal: 'alpha.api', revokedAt: T0, revocationReason: 'keyCompromise', descendantsRevoked: 0 },
          },
        ],
      );
    });

    peerTest(harness, 'revokes exactly once when instances race', async (store, peer) => {
      await store.recordCertificate(certificate('04'), admin);
      const results = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => (await (i % 2 === 0 ? store : peer).revokeCertificate('04', `reason-${i}`, admin)).certificate),
      );
      // Every caller sees the one revocation that won.
      const [winner] = results;
      assert.ok(winner);
      assert.match(winner.revocationReason ?? '', /^reason-\d$/);
      assert.ok(results.every((result) => result.revocationReason === winner.revocationReason && result.revokedAt === winner.revokedAt));
      assert.equal((await store.queryAudit({ type: 'certificate.revoke', limit: 10 })).length, 1);
    });

    storeTest(harness, 'refuses to revoke a serial it never issued, and records nothing', async (store) => {
      await store.recordCertificate(certificate('05'), admin);
      const events = await store.queryAudit({ limit: 100 });
      await assert.rejects(store.revokeCertificate('06', 'keyCompromise', admin), (error: unknown) => {
        assert.ok(error instanceof NotFoundError);
        assert.match(error.message, /no certificate with serial 06/);
        return true;
      });
      assert.deepEqual(await store.queryAudit({ limit: 100 }), events);
      assert.equal(await store.getCertificate('06'), null);
    });

    storeTest(harness, 'lists revoked certificates until they expire, and no others', async (store) => {
      await store.recordCertificate(certificate('10', 'alpha.api', T0 + 1000), admin);
      await store.recordCertificate(certificate('11', 'alpha.api', T0 + DAY), admin);
      await store.recordCertificate(certificate('12', 'alpha.web', T0 + DAY), admin);
      await store.recordCertificate(certificate('13', 'alpha.web', T0 - 1), admin);
      const { certificate: first } = await store.revokeCertificate('10', 'superseded', admin);
      const { certificate: second } = await store.revokeCertificate('12', 'keyCompromise', admin);
      await store.revokeCertificate('13', 'keyCompromise', admin);

      assert.deepEqual((await store.listRevokedCertificates(T0)).map((revoked) => revoked.serial).sort(), ['10', '12']);
      // notAfter is inclusive (RFC 5280): the certificate is valid, and listed, until it has passed.
      assert.deepEqual(
        (await store.listRevokedCertificates(T0 + 1000)).find((revoked) => revoked.serial === '10'),
        first,
      );
      assert.deepEqual(await store.listRevokedCertificates(T0 + 1001), [second]);
      assert.deepEqual(await store.listRevokedCertificates(T0 + DAY + 1), []);
    });

    storeTest(harness, 'revokes the unexpired certificates of a deleted service and keeps their records', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createService({ domain: 'alpha', name: 'api' }, {}, admin);
      const live = { ...certificate('20'), notAfter: Date.now() + DAY };
      await store.recordCertificate(live, admin);
      await store.deleteService('alpha.api', admin);
      const record = await store.getCertificate('20');
      assert.equal(record?.principal, 'alpha.api');
      assert.equal(record?.revocationReason, 'cessationOfOperation');
      assert.ok(record?.revokedAt !== null);
      // Revoking again is harmless and keeps the first reason.
      await store.revokeCertificate('20', 'keyCompromise', admin);
      assert.equal((await store.getCertificate('20'))?.revocationReason, 'cessationOfOperation');
    });

    storeTest(harness, 'finds a certificate by its thumbprint (x5t#S256), revoked or not; null for one never issued', async (store) => {
      await store.recordCertificate(certificate('30'), admin);
      await store.recordCertificate(certificate('31'), admin);
      assert.deepEqual(await store.getCertificateByThumbprint('THUMB-31'), {
        ...certificate('31'),
        revokedAt: null,
        revocationReason: null,
        provedByKey: null,
      });
      const { certificate: revoked } = await store.revokeCertificate('30', 'keyCompromise', admin);
      assert.deepEqual(await store.getCertificateByThumbprint('THUMB-30'), revoked);
      // Matched exactly: base64url is case-sensitive.
      assert.equal(await store.getCertificateByThumbprint('thumb-30'), null);
      assert.equal(await store.getCertificateByThumbprint('THUMB-3'), null);
    });
  });
}
