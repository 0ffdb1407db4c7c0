// readCaFiles: the external CA files of `mtls.externalCas` and `certLogin.trustedCas` are read
// at start, and a file that cannot serve as a trust anchor stops the server with its name.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCaFiles } from '../../src/mtls/index.ts';
import { makeCa, makeLeaf, nameConstraintsExtension, policyConstraintsExtension, unknownExtension } from '../e2e/mtls-support.ts';

describe('external CA files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-cas-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads every certificate of every file', async () => {
    const [one, two] = [await makeCa('One'), await makeCa('Two')];
    await writeFile(join(dir, 'both.pem'), one.certPem + two.certPem);
    const cas = await readCaFiles([join(dir, 'both.pem')], 'mtls.externalCas');
    assert.deepEqual(
      cas.map((ca) => ca.certificate.subject),
      ['CN=One\nO=Test CAs', 'CN=Two\nO=Test CAs'],
    );
  });

  it('names the setting and the file that cannot be read', async () => {
    await assert.rejects(readCaFiles([join(dir, 'missing.pem')], 'certLogin.trustedCas'), /certLogin.trustedCas: cannot read .*missing.pem \(ENOENT\)/);
  });

  it('refuses a file without certificates, with a broken one, or with a certificate that is not a CA', async () => {
    const leaf = await makeLeaf(await makeCa('Root'));
    await writeFile(join(dir, 'empty.pem'), 'nothing here\n');
    await writeFile(join(dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await writeFile(join(dir, 'leaf.pem'), leaf.certPem);
    await assert.rejects(readCaFiles([join(dir, 'empty.pem')], 'mtls.externalCas'), /empty.pem holds no PEM certificate/);
    await assert.rejects(
      readCaFiles([join(dir, 'broken.pem')], 'mtls.externalCas'),
      /broken.pem holds a PEM certificate \(number 1\) that does not parse as X.509/,
    );
    await assert.rejects(
      readCaFiles([join(dir, 'leaf.pem')], 'mtls.externalCas'),
      /leaf.pem holds a certificate that is not a CA .*; list CA certificates only/,
    );
  });

  it('refuses at start a CA with name constraints or policy constraints, which Tessera does not enforce', async () => {
    const root = await makeCa('Corp Root');
    const cases = [
      [
        'names.pem',
        nameConstraintsExtension(),
        /names.pem: the CA "CN=Corp Names, O=Test CAs" carries name constraints, which Tessera does not enforce; use a CA without them/,
      ],
      [
        'policies.pem',
        policyConstraintsExtension(),
        /policies.pem: the CA "CN=Corp Policies, O=Test CAs" carries policy constraints, which Tessera does not enforce/,
      ],
    ] as const;
    for (const [file, extension, message] of cases) {
      const ca = await makeCa(file === 'names.pem' ? 'Corp Names' : 'Corp Policies', { issuer: root, extensions: [extension] });
      await writeFile(join(dir, file), ca.certPem);
      await assert.rejects(readCaFiles([join(dir, file)], 'mtls.externalCas'), (error: Error) => {
        assert.match(error.message, /^mtls.externalCas: /);
        assert.match(error.message, message);
        return true;
      });
    }
  });

  it('refuses at start a CA with a critical extension it does not understand, and keeps a non-critical one', async () => {
    await writeFile(join(dir, 'critical.pem'), (await makeCa('Odd', { extensions: [unknownExtension(true)] })).certPem);
    await writeFile(join(dir, 'benign.pem'), (await makeCa('Plain', { extensions: [unknownExtension(false)] })).certPem);
    await assert.rejects(
      readCaFiles([join(dir, 'critical.pem')], 'certLogin.trustedCas'),
      /certLogin.trustedCas: .*critical.pem: the CA "CN=Odd, O=Test CAs" carries the critical extension 1\.3\.6\.1\.4\.1\.55555\.7, which Tessera does not understand \(RFC 5280 §4.2\)/,
    );
    assert.equal((await readCaFiles([join(dir, 'benign.pem')], 'certLogin.trustedCas')).length, 1);
  });
});
