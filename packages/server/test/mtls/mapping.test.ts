// certLogin.mappings: how certificates from external CAs become principals (only those of the
// CAs a rule names, and only with the clientAuth EKU when that is required), and the rules that
// are refused at start because they could never mean what the operator wrote.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { certificateFacts } from '../../src/mtls/identity.ts';
import { ClientCertificateError } from '../../src/mtls/errors.ts';
import { compileMappings } from '../../src/mtls/mapping.ts';
import type { CertLoginMapping } from '../../src/config/config.ts';
import { x509 } from '../../src/ca/x509.ts';
import { makeCa, makeLeaf, type ClientCertificate } from '../e2e/mtls-support.ts';

const CA_FILE = '/etc/tessera/partner.pem';
type Rule = Omit<CertLoginMapping, 'cas'> & { cas?: string[] };

function mapWith(rules: Rule[], client: ClientCertificate, options: { caFile?: string; requireClientAuthEku?: boolean } = {}): string | undefined {
  const certificate = new X509Certificate(client.certPem);
  const { names, extendedKeyUsages } = certificateFacts(certificate);
  const mapper = compileMappings(
    rules.map((rule) => ({ cas: [CA_FILE], ...rule })),
    { requireClientAuthEku: options.requireClientAuthEku ?? true },
  );
  return mapper({ certificate, names, extendedKeyUsages, caFile: options.caFile ?? CA_FILE });
}

describe('certificate mappings', () => {
  it('takes the first rule that matches', async () => {
    const ca = await makeCa('Root');
    const client = await makeLeaf(ca, { subject: 'CN=jobs, O=Example', dns: ['jobs.example.com'] });
    const rules = [
      { san: 'other.example.com', principal: 'alpha.other' },
      { san: 'jobs.example.com', principal: 'alpha.first' },
      { subject: 'CN=jobs,O=Example', principal: 'alpha.second' },
    ];
    assert.equal(mapWith(rules, client), 'alpha.first');
  });

  it('needs every field of a rule to match', async () => {
    const ca = await makeCa('Root');
    const client = await makeLeaf(ca, { subject: 'CN=jobs, O=Example', dns: ['jobs.example.com'] });
    assert.equal(mapWith([{ subject: 'CN=jobs,O=Example', san: 'else.example.com', principal: 'alpha.x' }], client), undefined);
    assert.equal(mapWith([{ subject: 'CN=jobs,O=Example', san: 'jobs.example.com', principal: 'alpha.x' }], client), 'alpha.x');
  });

  it('compares DNS SANs without regard to case, URIs and e-mail addresses exactly', async () => {
    const ca = await makeCa('Root');
    const client = await makeLeaf(ca, { dns: ['Jobs.Example.com'], uris: ['spiffe://partner/jobs'], emails: ['Ops@example.com'] });
    assert.equal(mapWith([{ san: 'jobs.example.COM', principal: 'alpha.dns' }], client), 'alpha.dns');
    assert.equal(mapWith([{ san: 'spiffe://partner/jobs', principal: 'alpha.uri' }], client), 'alpha.uri');
    assert.equal(mapWith([{ san: 'spiffe://PARTNER/jobs', principal: 'alpha.uri' }], client), undefined);
    assert.equal(mapWith([{ san: 'ops@example.com', principal: 'alpha.mail' }], client), undefined);
  });

  it('matches a subject with a multi-valued RDN and escaped characters', async () => {
    const ca = await makeCa('Root');
    const client = await makeLeaf(ca, { subject: 'CN=jobs+OU=batch, O=Example\\, Inc' });
    assert.equal(mapWith([{ subject: 'O=Example\\, Inc,OU=batch+CN=jobs', principal: 'alpha.jobs' }], client), 'alpha.jobs');
    assert.equal(mapWith([{ subject: 'CN=jobs,O=Example\\, Inc', principal: 'alpha.jobs' }], client), undefined);
  });

  it('applies a rule only to certificates of a CA file it names', async () => {
    const client = await makeLeaf(await makeCa('Root'), { dns: ['jobs.example.com'] });
    const rules = [{ san: 'jobs.example.com', principal: 'alpha.jobs', cas: [CA_FILE, '/etc/tessera/other.pem'] }];
    assert.equal(mapWith(rules, client), 'alpha.jobs');
    assert.equal(mapWith(rules, client, { caFile: '/etc/tessera/other.pem' }), 'alpha.jobs');
    assert.equal(mapWith(rules, client, { caFile: '/etc/tessera/corporate.pem' }), undefined, 'the same SAN from another trusted CA maps nothing');
  });

  it('holds a mapped certificate to the clientAuth extended key usage when that is required', async () => {
    const ca = await makeCa('Root');
    const rules = [{ san: 'jobs.example.com', principal: 'alpha.jobs' }];
    const noEku = await makeLeaf(ca, { dns: ['jobs.example.com'], eku: null });
    const serverOnly = await makeLeaf(ca, { dns: ['jobs.example.com'], eku: [x509.ExtendedKeyUsage.serverAuth] });
    const refused = (message: RegExp) => (error: unknown) =>
      error instanceof ClientCertificateError && error.problem === 'wrong-usage' && message.test(error.message);
    assert.throws(() => mapWith(rules, noEku), refused(/has no extended key usage extension; it must allow clientAuth/));
    assert.equal(mapWith(rules, noEku, { requireClientAuthEku: false }), 'alpha.jobs');
    assert.throws(() => mapWith(rules, serverOnly, { requireClientAuthEku: false }), refused(/does not include clientAuth/));
  });

  it('refuses rules that could never mean what was written', () => {
    const cases: [CertLoginMapping, RegExp][] = [
      [
        { cas: [], san: 'x', principal: 'alpha.any' },
        /certLogin.mappings\[0\] names no CA; add "cas": \[\.\.\.\] with the files of mtls.externalCas or certLogin.trustedCas/,
      ],
      [
        { cas: [CA_FILE], principal: 'alpha.any' },
        /certLogin.mappings\[0\] matches every certificate of its CAs; give at least one of subject, san or fingerprint/,
      ],
      [{ cas: [CA_FILE], san: 'x', principal: 'Alpha' }, /certLogin.mappings\[0\].principal "Alpha" is not a principal/],
      [
        { cas: [CA_FILE], fingerprint: 'abc', principal: 'alpha.fp' },
        /fingerprint must be the SHA-256 of the DER certificate in hex \(64 digits, colons optional\)/,
      ],
      [{ cas: [CA_FILE], subject: 'cn=lower', principal: 'alpha.dn' }, /subject "cn=lower" is not a distinguished name .*upper-case attribute names/],
      [{ cas: [CA_FILE], subject: 'garbage', principal: 'alpha.dn' }, /subject is empty; write a distinguished name/],
    ];
    for (const [rule, message] of cases) assert.throws(() => compileMappings([rule], { requireClientAuthEku: true }), message);
  });
});
