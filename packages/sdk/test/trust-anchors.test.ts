// Which certificates of a trust bundle the SDK anchors on (http/anchors.ts): the CAs that issued
// no other CA of the bundle, whatever the shape of the operator's PKI and however many CA
// generations the bundle holds; the configured `ca` is read on its own.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { makeCa, type IssuedCa } from '../../server/test/ca/operator-pki.ts';
import { issuingCas, tesseraTrust } from '../src/http/anchors.ts';

const PEM_BLOCK = /-----BEGIN (?:TRUSTED )?CERTIFICATE-----[\s\S]+?-----END (?:TRUSTED )?CERTIFICATE-----/g;
const names = (certificates: readonly X509Certificate[]): string[] => certificates.map((certificate) => /CN=([^\n]+)/.exec(certificate.subject)?.[1] ?? '');
const anchorsOf = (pem: string): string[] => names((pem.match(PEM_BLOCK) ?? []).map((block) => new X509Certificate(block)));

describe('trust anchors of a bundle', () => {
  let root: IssuedCa;
  let middle: IssuedCa;
  let issuing: IssuedCa;
  let next: IssuedCa;
  let otherRoot: IssuedCa;
  let otherIssuing: IssuedCa;

  before(async () => {
    root = await makeCa('Root', null);
    middle = await makeCa('Middle', root, { pathLength: 1 });
    issuing = await makeCa('Issuing', middle, { pathLength: 0 });
    next = await makeCa('Next Issuing', root, { pathLength: 0 });
    otherRoot = await makeCa('Other Root', null);
    otherIssuing = await makeCa('Other Issuing', otherRoot, { pathLength: 0 });
  });

  it('is the issuing CA of root → middle → issuing', () => {
    assert.deepEqual(names(issuingCas(issuing.pem + middle.pem + root.pem)), ['Issuing']);
  });

  it('is both issuing CAs during a rotation (two generations), and two imported issuing CAs under one root', () => {
    const twoRoots = otherIssuing.pem + otherRoot.pem + issuing.pem + middle.pem + root.pem;
    assert.deepEqual(names(issuingCas(twoRoots)), ['Other Issuing', 'Issuing']);
    assert.deepEqual(names(issuingCas(next.pem + root.pem + issuing.pem + middle.pem)), ['Next Issuing', 'Issuing']);
  });

  it('is the roots of a bundle of roots alone, as older servers published it', () => {
    assert.deepEqual(names(issuingCas(root.pem + otherRoot.pem)), ['Root', 'Other Root']);
  });

  it('gives anchors that are not self-signed as explicitly trusted certificates, and sets allowPartialTrustChain', () => {
    const trust = tesseraTrust(issuing.pem + middle.pem + root.pem);
    assert.equal(trust.allowPartialTrustChain, true);
    assert.match(trust.ca, /^-----BEGIN TRUSTED CERTIFICATE-----\n/);
    assert.deepEqual(anchorsOf(trust.ca), ['Issuing']);
    assert.deepEqual(anchorsOf(tesseraTrust(otherRoot.pem).ca), ['Other Root']);
    assert.match(tesseraTrust(otherRoot.pem).ca, /^-----BEGIN CERTIFICATE-----\n/, 'a root needs no mark');
  });

  it("reads the configured ca on its own: a CA of the user's alone in ca stays a full anchor next to the bundle's issuing CAs", () => {
    assert.deepEqual(anchorsOf(tesseraTrust(root.pem, issuing.pem + middle.pem + root.pem).ca), ['Root', 'Issuing']);
    const rotated = next.pem + root.pem + issuing.pem + middle.pem;
    assert.deepEqual(anchorsOf(tesseraTrust(issuing.pem + middle.pem + root.pem, rotated).ca), ['Issuing', 'Next Issuing']);
  });

  it('leaves a ca that is not plain PEM certificates for Node to read', () => {
    const trusted = '-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n-----END TRUSTED CERTIFICATE-----\n';
    for (const ca of ['not a certificate', trusted + root.pem]) {
      assert.equal(tesseraTrust(ca).ca, `${ca.trim()}\n`);
    }
  });
});
