// Certification path validation for client certificates (mtls/chain.ts): the RFC 5280 rules
// that decide whether a presented chain reaches a trust anchor.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { validatePath, type TrustAnchor } from '../../src/mtls/chain.ts';
import { ClientCertificateError } from '../../src/mtls/errors.ts';
import { x509 } from '../../src/ca/x509.ts';
import { makeCa, makeLeaf, newKeys, type ClientCertificate, type TestCa } from '../e2e/mtls-support.ts';

const DAY = 86_400_000;
const x = (pem: string): X509Certificate => new X509Certificate(pem);
const anchor = (ca: TestCa): TrustAnchor => ({ certificate: x(ca.certPem), source: 'external' });

function validate(client: ClientCertificate, chain: TestCa[], anchors: TestCa[], now = Date.now()) {
  return validatePath(
    x(client.certPem),
    chain.map((ca) => x(ca.certPem)),
    anchors.map(anchor),
    now,
  );
}

function refused(problem: string, message: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ClientCertificateError, String(error));
    assert.equal(error.problem, problem);
    assert.match(error.message, message);
    return true;
  };
}

describe('client certificate path validation', () => {
  it('follows presented intermediates up to an anchor and reports them', async () => {
    const root = await makeCa('Root');
    const issuing = await makeCa('Issuing', { issuer: root });
    const client = await makeLeaf(issuing);
    const path = validate(client, [issuing], [root]);
    assert.equal(path.intermediates.length, 1);
    assert.equal(path.anchor.certificate.subject, x(root.certPem).subject);
  });

  it('trusts a configured intermediate as an anchor without its root', async () => {
    const root = await makeCa('Root');
    const issuing = await makeCa('Issuing', { issuer: root });
    assert.equal(validate(await makeLeaf(issuing), [], [issuing]).intermediates.length, 0);
  });

  it('honours pathLenConstraint', async () => {
    const strict = await makeCa('Strict Root', { pathLength: 0 });
    const below = await makeCa('Below', { issuer: strict });
    const client = await makeLeaf(below);
    assert.throws(() => validate(client, [below], [strict]), refused('untrusted', /does not chain to a CA Tessera trusts/));
    const lenient = await makeCa('Lenient Root', { pathLength: 1 });
    const allowed = await makeCa('Allowed', { issuer: lenient });
    assert.equal(validate(await makeLeaf(allowed), [allowed], [lenient]).intermediates.length, 1);
  });

  it('says so when the only path runs through an expired CA', async () => {
    const root = await makeCa('Root');
    const stale = await makeCa('Stale Issuing', { issuer: root, notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) });
    const client = await makeLeaf(stale, { notBefore: new Date(Date.now() - 2 * DAY) });
    assert.throws(() => validate(client, [stale], [root]), refused('expired', /the issuing CA "CN=Stale Issuing, O=Test CAs" expired at/));
  });

  it('refuses a certificate signed by a non-CA certificate', async () => {
    const root = await makeCa('Root');
    const keys = await newKeys();
    const leafAsIssuer = await makeLeaf(root, { subject: 'CN=Impostor', keys });
    const impostor: TestCa = { certPem: leafAsIssuer.certPem, certificate: new x509.X509Certificate(leafAsIssuer.certPem), keys };
    const forged = await makeLeaf(impostor);
    assert.throws(() => validate(forged, [impostor], [root]), refused('untrusted', /does not chain/));
  });

  it("refuses a CA certificate presented as the client's own", async () => {
    const root = await makeCa('Root');
    const issuing = await makeCa('Issuing', { issuer: root });
    const asClient = { certPem: issuing.certPem } as ClientCertificate;
    assert.throws(() => validate(asClient, [], [root]), refused('wrong-usage', /a CA certificate cannot authenticate a client/));
  });

  it('refuses a certificate that is not yet valid', async () => {
    const root = await makeCa('Root');
    const early = await makeLeaf(root, { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 2 * DAY) });
    assert.throws(() => validate(early, [], [root]), refused('not-yet-valid', /is not valid before .*check the clocks/));
  });
});
