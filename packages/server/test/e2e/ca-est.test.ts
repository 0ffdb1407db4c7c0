// EST (RFC 7030) as a real client does it: openssl makes the key and CSR, curl talks to the
// server, openssl unpacks the base64 PKCS#7 answers and verifies what came back. Nothing here
// uses Tessera's own code to build requests or read answers.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { command, scratchDir } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

interface CurlResult {
  status: number;
  headers: string;
  body: string;
}

describe('EST enrollment with curl and openssl', () => {
  let t: TestServer;
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  let caFile: string;
  const path = (name: string): string => join(scratch.dir, name);
  const sh = (script: string): Promise<string> => command('sh', ['-c', script], { cwd: scratch.dir });

  /** curl as an EST client would call it; the body lands in `out`. */
  const curl = async (endpoint: string, args: string[], out = 'answer.txt'): Promise<CurlResult> => {
    const status = await command('curl', [
      '-sS',
      '--cacert',
      caFile,
      '-o',
      path(out),
      '-D',
      path('headers.txt'),
      '-w',
      '%{http_code}',
      ...args,
      `${t.url}/.well-known/est/${endpoint}`,
    ]);
    return { status: Number(status), headers: await readFile(path('headers.txt'), 'utf8'), body: await readFile(path(out), 'utf8') };
  };
  /** A fresh P-256 key `<name>.key` and its CSR as base64 DER `<name>.b64`, made by openssl req. */
  const opensslCsr = async (name: string, subject = '/CN=alpha.api'): Promise<string> => {
    await command('openssl', [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      path(`${name}.key`),
      '-subj',
      subject,
      '-outform',
      'DER',
      '-out',
      path(`${name}.der`),
    ]);
    await command('openssl', ['base64', '-in', path(`${name}.der`), '-out', path(`${name}.b64`)]);
    return `@${path(`${name}.b64`)}`;
  };
  const joinToken = async (principal = 'alpha.api'): Promise<string> => {
    const res = await t.admin$('POST', '/join-tokens', { principal });
    assert.equal(res.status, 201, res.text);
    return res.json.token as string;
  };
  const pkcs10 = ['-H', 'Content-Type: application/pkcs10'];
  const json = (result: CurlResult): { error: string; message: string } => JSON.parse(result.body) as { error: string; message: string };

  before(async () => {
    t = await startTestServer();
    scratch = await scratchDir();
    caFile = await scratch.file('ca.pem', t.ca);
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
    for (const name of ['api', 'worker']) assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
  });
  after(async () => {
    await t.stop();
    await scratch.remove();
  });

  it('serves /cacerts as a base64 certs-only PKCS#7 holding the intermediate and the root', async () => {
    const result = await curl('cacerts', [], 'cacerts.b64');
    assert.equal(result.status, 200, result.body);
    assert.match(result.headers, /content-type: application\/pkcs7-mime; smime-type=certs-only/i);
    assert.match(result.headers, /content-transfer-encoding: base64/i);
    const printed = await sh('openssl base64 -d -in cacerts.b64 | openssl pkcs7 -inform DER -print_certs -out cacerts.pem && cat cacerts.pem');
    assert.match(printed, /subject=O = Tessera, CN = Tessera Intermediate CA/);
    assert.match(printed, /subject=O = Tessera, CN = Tessera Root CA/);
  });

  it('enrolls with HTTP Basic (principal and join token), and the certificate verifies against /cacerts', async () => {
    await curl('cacerts', [], 'cacerts.b64');
    await sh('openssl base64 -d -in cacerts.b64 | openssl pkcs7 -inform DER -print_certs -out cacerts.pem');
    const csr = await opensslCsr('basic');
    const result = await curl('simpleenroll', ['-u', `alpha.api:${await joinToken()}`, '--data-binary', csr, ...pkcs10], 'basic.p7.b64');
    assert.equal(result.status, 200, result.body);
    assert.match(result.headers, /content-type: application\/pkcs7-mime; smime-type=certs-only/i);
    const printed = await sh('openssl base64 -d -in basic.p7.b64 | openssl pkcs7 -inform DER -print_certs -out basic.pem && cat basic.pem');
    assert.match(printed, /subject=CN = alpha\.api/);
    assert.match(await command('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', path('cacerts.pem'), path('basic.pem')]), /basic\.pem: OK/);
    const text = await command('openssl', ['x509', '-in', path('basic.pem'), '-noout', '-text']);
    assert.match(text, /URI:spiffe:\/\/tessera\.local\/alpha\/api/);
    // The certificate is for the key openssl made, which never left this directory.
    const certKey = await command('openssl', ['x509', '-in', path('basic.pem'), '-noout', '-pubkey']);
    const ownKey = await command('openssl', ['pkey', '-in', path('basic.key'), '-pubout']);
    assert.equal(certKey, ownKey);
  });

  it('enrolls with the join token as a Bearer token', async () => {
    const csr = await opensslCsr('bearer');
    const result = await curl('simpleenroll', ['-H', `Authorization: Bearer ${await joinToken()}`, '--data-binary', csr, ...pkcs10], 'bearer.p7.b64');
    assert.equal(result.status, 200, result.body);
    assert.match(await sh('openssl base64 -d -in bearer.p7.b64 | openssl pkcs7 -inform DER -print_certs'), /subject=CN = alpha\.api/);
  });

  it('re-enrolls over mutual TLS with the current certificate, keeping the identity', async () => {
    const first = await opensslCsr('first');
    assert.equal((await curl('simpleenroll', ['-u', `alpha.api:${await joinToken()}`, '--data-binary', first, ...pkcs10], 'first.p7.b64')).status, 200);
    await sh('openssl base64 -d -in first.p7.b64 | openssl pkcs7 -inform DER -print_certs -out first.pem');
    const next = await opensslCsr('next');
    const result = await curl('simplereenroll', ['--cert', path('first.pem'), '--key', path('first.key'), '--data-binary', next, ...pkcs10], 'next.p7.b64');
    assert.equal(result.status, 200, result.body);
    await sh('openssl base64 -d -in next.p7.b64 | openssl pkcs7 -inform DER -print_certs -out next.pem');
    const serial = async (file: string) => command('openssl', ['x509', '-in', path(file), '-noout', '-serial', '-subject']);
    const [before, after] = [await serial('first.pem'), await serial('next.pem')];
    assert.equal(after.split('\n')[1], before.split('\n')[1], 'same subject');
    assert.notEqual(after.split('\n')[0], before.split('\n')[0], 'new serial');
  });

  it('uses a join token once: the second enrollment with it is refused (401)', async () => {
    const token = await joinToken();
    const csr = await opensslCsr('once');
    assert.equal((await curl('simpleenroll', ['-u', `alpha.api:${token}`, '--data-binary', csr, ...pkcs10])).status, 200);
    const again = await curl('simpleenroll', ['-u', `alpha.api:${token}`, '--data-binary', csr, ...pkcs10]);
    assert.equal(again.status, 401, again.body);
    assert.equal(json(again).error, 'invalid_proof');
    assert.match(json(again).message, /already used/);
  });

  it('challenges a request without credentials (401 with WWW-Authenticate)', async () => {
    const result = await curl('simpleenroll', ['--data-binary', await opensslCsr('anonymous'), ...pkcs10]);
    assert.equal(result.status, 401, result.body);
    assert.match(result.headers, /www-authenticate: Basic realm="tessera-est", Bearer realm="tessera-est"/i);
    assert.equal(json(result).error, 'invalid_proof');
    assert.match(json(result).message, /no proof was sent and no client certificate/);
  });

  it('refuses Basic credentials whose user name is not the token principal (403)', async () => {
    const result = await curl('simpleenroll', [
      '-u',
      `alpha.api:${await joinToken('alpha.worker')}`,
      '--data-binary',
      await opensslCsr('other', '/CN=alpha.worker'),
      ...pkcs10,
    ]);
    assert.equal(result.status, 403, result.body);
    assert.equal(json(result).error, 'forbidden');
    assert.match(json(result).message, /the request names alpha\.api, but the join token is for alpha\.worker/);
  });

  it('refuses an Authorization scheme it does not know (401)', async () => {
    const result = await curl('simpleenroll', ['-H', 'Authorization: Digest abc', '--data-binary', await opensslCsr('digest'), ...pkcs10]);
    assert.equal(result.status, 401, result.body);
    assert.match(json(result).message, /send the join token as "Authorization: Bearer <token>"/);
  });

  it('refuses re-enrollment without a client certificate (401)', async () => {
    const result = await curl('simplereenroll', ['--data-binary', await opensslCsr('nocert'), ...pkcs10]);
    assert.equal(result.status, 401, result.body);
    assert.equal(json(result).error, 'invalid_proof');
  });

  it('answers 400 for a body that is not a base64 CSR, without spending the token', async () => {
    const token = await joinToken();
    const result = await curl('simpleenroll', ['-u', `alpha.api:${token}`, '--data-binary', 'not base64 at all!', ...pkcs10]);
    assert.equal(result.status, 400, result.body);
    assert.equal(json(result).error, 'invalid_request');
    assert.match(json(result).message, /CSR/);
    assert.equal((await curl('simpleenroll', ['-u', `alpha.api:${token}`, '--data-binary', await opensslCsr('after'), ...pkcs10])).status, 200);
  });

  it('answers 400 for an empty body and 415 for another media type', async () => {
    const empty = await curl('simpleenroll', ['-u', `alpha.api:${await joinToken()}`, '--data-binary', '', ...pkcs10]);
    assert.equal(empty.status, 400, empty.body);
    assert.match(json(empty).message, /send the CSR as base64 DER PKCS#10 with Content-Type: application\/pkcs10/);
    const wrongType = await curl('simpleenroll', ['--data-binary', await opensslCsr('text'), '-H', 'Content-Type: text/plain']);
    assert.equal(wrongType.status, 415, wrongType.body);
    assert.equal(json(wrongType).error, 'invalid_request');
    assert.match(json(wrongType).message, /send the CSR with Content-Type: application\/pkcs10/);
  });
});
