// certLogin.mappings: how certificates from external CAs become principals, and the rules that
// are refused at start because they could never mean what the operator wrote.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { certificateFacts } from '../../src/mtls/identity.ts';
import { compileMappings } from '../../src/mtls/mapping.ts';
import { makeCa, makeLeaf, type ClientCertificate } from '../e2e/mtls-support.ts';

function mapWith(rules: Parameters<typeof compileMappings>[0], client: ClientCertificate): string | undefined {
  const certificate = new X509Certificate(client.certPem);
  return compileMappings(rules)(certificate, certificateFacts(certificate).names);
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

  it('refuses rules that could never mean what was written', () => {
    const cases: [Parameters<typeof compileMappings>[0][number], RegExp][] = [
      [{ principal: 'alpha.any' }, /certLogin.mappings\[0\] matches every certificate; give at least one of subject, san or fingerprint/],
      [{ san: 'x', principal: 'Alpha' }, /certLogin.mappings\[0\].principal "Alpha" is not a principal/],
      [{ fingerprint: 'abc', principal: 'alpha.fp' }, /fingerprint must be the SHA-256 of the DER certificate in hex \(64 digits, colons optional\)/],
      [{ subject: 'cn=lower', principal: 'alpha.dn' }, /subject "cn=lower" is not a distinguished name .*upper-case attribute names/],
      [{ subject: 'garbage', principal: 'alpha.dn' }, /subject is empty; write a distinguished name/],
    ];
    for (const [rule, message] of cases) assert.throws(() => compileMappings([rule]), message);
  });
});
