// The CA's published material over real HTTPS: the PEM trust bundle, and the DER CRL that lists
// revoked serials, parsed and checked with OpenSSL as a relying party would.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { command, csrFor, scratchDir, sendMtls, serviceKey } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

describe('CA bundle and CRL', () => {
  let t: TestServer;
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  let offset = 0;

  const issue = async (): Promise<{ certificate: string; chain: string; serial: string }> => {
    const token = await t.admin$('POST', '/join-tokens', { principal: 'alpha.api' });
    const res = await t.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(await serviceKey('ec')), proof: { type: 'join-token', value: token.json.token } }),
    });
    assert.equal(res.status, 201, res.text);
    return res.json;
  };
  /** The CRL as DER in `crl.der`, and what `openssl crl -text` says of it. */
  const fetchCrl = async (): Promise<string> => {
    const res = await sendMtls(`${t.url}/ca/v1/crl`, { ca: t.ca });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['content-type'], 'application/pkix-crl');
    await scratch.file('crl.der', res.body);
    return command('openssl', ['crl', '-inform', 'DER', '-in', `${scratch.dir}/crl.der`, '-noout', '-text']);
  };

  before(async () => {
    t = await startTestServer({ now: () => Date.now() + offset });
    scratch = await scratchDir();
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'api' })).status, 201);
  });
  after(async () => {
    await t.stop();
    await scratch.remove();
  });

  it('serves the trust bundle as PEM, the issuing CA then its root, the same as the data dir ca.pem', async () => {
    const res = await t.send('/ca/v1/bundle');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['content-type'], 'application/pem-certificate-chain');
    assert.equal(res.text, t.ca);
    const bundle = await scratch.file('bundle.pem', res.text);
    const pkcs7 = await scratch.file('bundle.p7b', await command('openssl', ['crl2pkcs7', '-nocrl', '-certfile', bundle]));
    const subjects = await command('openssl', ['pkcs7', '-print_certs', '-noout', '-in', pkcs7]);
    assert.deepEqual(
      [...subjects.matchAll(/^subject=.*CN ?= ?(.+)$/gm)].map((match) => match[1]),
      ['Tessera Intermediate CA', 'Tessera Root CA'],
    );
  });

  it('publishes an empty CRL signed by the issuing CA, with nextUpdate, CRL number and AKI', async () => {
    const text = await fetchCrl();
    assert.match(text, /Issuer: O = Tessera, CN = Tessera Intermediate CA/);
    assert.match(text, /Next Update: /);
    assert.match(text, /X509v3 CRL Number/);
    assert.match(text, /X509v3 Authority Key Identifier/);
    assert.match(text, /No Revoked Certificates/);
    const { chain } = await issue();
    const chainFile = await scratch.file('chain.pem', chain);
    // OpenSSL reports the verdict on stderr.
    const verified = await command('sh', ['-c', `openssl crl -inform DER -in crl.der -CAfile '${chainFile}' -noout -verify 2>&1`], { cwd: scratch.dir });
    assert.match(verified, /verify OK/);
  });

  it('lists a revoked serial with its reason, and OpenSSL then refuses that certificate but not others', async () => {
    const revoked = await issue();
    const kept = await issue();
    await t.server.store.revokeCertificate(revoked.serial, 'keyCompromise', { actor: 'test' });
    const text = await fetchCrl();
    assert.match(
      text,
      new RegExp(`Serial Number: ${revoked.serial.toUpperCase()}\\s+Revocation Date: .+\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Key Compromise`),
    );
    assert.doesNotMatch(text, new RegExp(kept.serial, 'i'));

    // A relying party checking with the CRL (PEM, the form -CRLfile takes).
    await command('openssl', ['crl', '-inform', 'DER', '-in', `${scratch.dir}/crl.der`, '-out', `${scratch.dir}/crl.pem`]);
    const bundle = await scratch.file('bundle.pem', t.ca);
    const check = (leaf: { certificate: string; chain: string }, name: string) =>
      scratch
        .file(`${name}.pem`, leaf.certificate)
        .then(async (file) =>
          command('openssl', [
            'verify',
            '-crl_check',
            '-CAfile',
            bundle,
            '-untrusted',
            await scratch.file(`${name}-chain.pem`, leaf.chain),
            '-CRLfile',
            `${scratch.dir}/crl.pem`,
            file,
          ]),
        );
    assert.match(await check(kept, 'kept'), /kept\.pem: OK/);
    await assert.rejects(check(revoked, 'revoked'), /certificate revoked/);
  });

  it('drops a revoked certificate once it has expired anyway', async () => {
    const revoked = await issue();
    await t.server.store.revokeCertificate(revoked.serial, 'superseded', { actor: 'test' });
    assert.match(await fetchCrl(), new RegExp(revoked.serial, 'i'));
    offset += 25 * 3600_000;
    try {
      assert.doesNotMatch(await fetchCrl(), new RegExp(revoked.serial, 'i'));
    } finally {
      offset -= 25 * 3600_000;
    }
  });

  it('describes every CA route in the OpenAPI document', async () => {
    const res = await t.send('/openapi.json');
    assert.equal(res.status, 200);
    for (const [path, method] of [
      ['/ca/v1/certificates', 'post'],
      ['/ca/v1/bundle', 'get'],
      ['/ca/v1/crl', 'get'],
      ['/.well-known/est/cacerts', 'get'],
      ['/.well-known/est/simpleenroll', 'post'],
      ['/.well-known/est/simplereenroll', 'post'],
      ['/admin/v1/join-tokens', 'post'],
    ] as const) {
      assert.ok(res.json.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
    }
    assert.ok(res.json.paths['/.well-known/est/simpleenroll'].post.requestBody.content['application/pkcs10']);
    assert.ok(res.json.paths['/ca/v1/crl'].get.responses['200'].content['application/pkix-crl']);
  });
});
