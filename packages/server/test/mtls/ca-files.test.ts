// readCaFiles: the external CA files of `mtls.externalCas` and `certLogin.trustedCas` are read
// at start, and a file that cannot serve as a trust anchor stops the server with its name.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCaFiles } from '../../src/mtls/index.ts';
import { makeCa, makeLeaf } from '../e2e/mtls-support.ts';

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
    assert.deepEqual(cas.map((ca) => ca.subject), ['CN=One\nO=Test CAs', 'CN=Two\nO=Test CAs']);
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
    await assert.rejects(readCaFiles([join(dir, 'broken.pem')], 'mtls.externalCas'), /broken.pem holds a PEM certificate \(number 1\) that does not parse as X.509/);
    await assert.rejects(readCaFiles([join(dir, 'leaf.pem')], 'mtls.externalCas'), /leaf.pem holds a certificate that is not a CA .*; list CA certificates only/);
  });
});
