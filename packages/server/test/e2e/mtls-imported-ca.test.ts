// Mutual TLS on a server whose CA is imported (`ca.import`: the operator's issuing CA under the
// operator's root). That root is the operator's, not Tessera's: a Tessera identity comes only
// from a certificate Tessera itself issued (recorded serial and thumbprint, not revoked, from an
// issuing generation), so a sibling intermediate under the same root cannot mint one. Also the
// RFC 5280 rules the chain validator enforces on the way: unknown critical extensions and
// constraints Tessera does not enforce are refused, never ignored.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { makeCa as makeOperatorCa, operatorPki, type IssuedCa } from '../ca/operator-pki.ts';
import {
  claimsOf,
  csr,
  escapedPem,
  makeCa,
  makeLeaf,
  nameConstraintsExtension,
  newKeys,
  policyConstraintsExtension,
  postForm,
  sendMtls,
  tesseraCertificate,
  unknownExtension,
  assertRejected,
  type ClientCertificate,
  type TestCa,
} from './mtls-support.ts';

const ADMIN_TOKEN = { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' };
const TOKEN = { grant_type: 'client_credentials', scope: 'beta:domain' };

/**
 * The certificate (and chain) as a trusted TLS-terminating proxy forwards it. Over a direct TLS
 * connection Node does not show the server a chain that OpenSSL could complete from the
 * server's own CA bundle, so the header is where a presented chain reaches the validator as sent.
 */
function viaProxy(client: ClientCertificate): { localAddress: string; headers: Record<string, string> } {
  return { localAddress: '127.0.0.2', headers: { 'x-client-cert': escapedPem(client.certPem + (client.chainPem ?? '')) } };
}

const asTestCa = (ca: IssuedCa): TestCa => ({ certPem: ca.pem, certificate: ca.certificate, keys: ca.keys });

describe('mutual TLS with an imported CA', () => {
  let t: TestServer;
  let dir: string;
  let root: TestCa;
  let issuing: TestCa;
  let sibling: TestCa;
  let service: ClientCertificate;
  /** Minted by the sibling intermediate: the bootstrap admin's SPIFFE ID. */
  let forged: ClientCertificate;
  /** Signed with the imported issuing key itself, but never issued (recorded) by Tessera. */
  let unrecorded: ClientCertificate;
  let partner: TestCa;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-imported-mtls-'));
    const pki = await operatorPki(dir);
    [root, issuing] = [asTestCa(pki.root), asTestCa(pki.issuing)];
    sibling = asTestCa(await makeOperatorCa('Operator Sibling CA', pki.root, { pathLength: 0 }));
    partner = await makeCa('Partner Root');
    await writeFile(join(dir, 'partner.pem'), partner.certPem);
    t = await startTestServer({
      edit: (config) => {
        config.ca.import = pki.files;
        config.certLogin.enabled = true;
        config.trustedProxies = ['127.0.0.2/32'];
        config.mtls.proxyCertHeader = 'X-Client-Cert';
        config.mtls.externalCas = [join(dir, 'partner.pem')];
        config.certLogin.mappings = [{ san: 'jobs.partner.example', principal: 'alpha.jobs', cas: [join(dir, 'partner.pem')] }];
      },
    });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const name of ['api', 'jobs']) assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'alpha.api' }, { principal: 'alpha.jobs' }] })).status, 201);
    service = await tesseraCertificate(t, 'alpha.api');
    const adminId = { subject: 'CN=sys.auth.admin', uris: [`spiffe://${t.server.ca.trustDomain}/sys.auth/admin`] };
    forged = await makeLeaf(sibling, { ...adminId, chain: [sibling] });
    unrecorded = await makeLeaf(issuing, adminId);
  });
  after(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('authenticates a certificate Tessera issued from the imported CA, sent with or without its chain', async () => {
    const alone = await postForm(t, TOKEN, { client: service });
    assert.equal(alone.status, 200, alone.text);
    assert.equal(claimsOf(alone).sub, 'alpha.api');
    const chained = await postForm(t, TOKEN, { client: { ...service, chainPem: issuing.certPem + root.certPem } });
    assert.equal(chained.status, 200, chained.text);
  });

  it('refuses a certificate from a sibling intermediate under the imported root at the token endpoint', async () => {
    const withRoot = { ...forged, chainPem: sibling.certPem + root.certPem };
    for (const client of [forged, withRoot]) {
      assertRejected(await postForm(t, ADMIN_TOKEN, { client }), /does not chain to a CA Tessera trusts/);
      assertRejected(await postForm(t, ADMIN_TOKEN, viaProxy(client)), /does not chain to a CA Tessera trusts/);
    }
  });

  it('refuses a certificate from a sibling intermediate under the imported root at certificate login', async () => {
    assertRejected(await sendMtls(t, '/auth/x509/login', { method: 'POST', client: forged }), /does not chain to a CA Tessera trusts/);
    assertRejected(await sendMtls(t, '/auth/x509/login', { method: 'POST', ...viaProxy(forged) }), /does not chain to a CA Tessera trusts/);
  });

  it('refuses a certificate from a sibling intermediate under the imported root for renewal', async () => {
    const body = JSON.stringify({ csr: await csr(await newKeys(), 'sys.auth.admin') });
    const proxied = viaProxy(forged);
    const res = await sendMtls(t, '/ca/v1/certificates', {
      ...proxied,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...proxied.headers },
      body,
    });
    assert.equal(res.status, 401, res.text);
    assert.match(res.json.message, /does not chain to a CA Tessera trusts/);
  });

  it("refuses a certificate signed with the issuing CA's key that Tessera has no record of issuing", async () => {
    const message = /was not issued by Tessera \(no record of serial [0-9a-f]+ with this thumbprint from that CA generation\)/;
    assertRejected(await postForm(t, ADMIN_TOKEN, { client: unrecorded }), message);
    assertRejected(await postForm(t, ADMIN_TOKEN, viaProxy(unrecorded)), message);
    assertRejected(await sendMtls(t, '/auth/x509/login', { method: 'POST', client: unrecorded }), message);
  });

  it('refuses a client certificate that carries an unknown critical extension', async () => {
    const leaf = await makeLeaf(partner, { dns: ['jobs.partner.example'], extensions: [unknownExtension(true)] });
    assertRejected(
      await postForm(t, TOKEN, { client: leaf }),
      /the client certificate carries the critical extension 1\.3\.6\.1\.4\.1\.55555\.7, which Tessera does not understand/,
    );
    const benign = await makeLeaf(partner, { dns: ['jobs.partner.example'], extensions: [unknownExtension(false)] });
    assert.equal((await postForm(t, TOKEN, { client: benign })).status, 200, 'a non-critical unknown extension is ignored');
  });

  it('refuses an intermediate that carries an unknown critical extension', async () => {
    const intermediate = await makeCa('Partner Issuing', { issuer: partner, extensions: [unknownExtension(true)] });
    const leaf = await makeLeaf(intermediate, { dns: ['jobs.partner.example'], chain: [intermediate] });
    assertRejected(
      await postForm(t, TOKEN, { client: leaf }),
      /the issuing CA 'CN=Partner Issuing, O=Test CAs' carries the critical extension 1\.3\.6\.1\.4\.1\.55555\.7/,
    );
  });

  it('refuses a presented intermediate with name constraints or policy constraints, which Tessera does not enforce', async () => {
    for (const [extension, name] of [
      [nameConstraintsExtension(), 'name constraints'],
      [policyConstraintsExtension(), 'policy constraints'],
    ] as const) {
      const intermediate = await makeCa('Partner Constrained', { issuer: partner, extensions: [extension] });
      const leaf = await makeLeaf(intermediate, { dns: ['jobs.partner.example'], chain: [intermediate] });
      assertRejected(
        await postForm(t, TOKEN, { client: leaf }),
        new RegExp(`'CN=Partner Constrained, O=Test CAs' carries ${name}, which Tessera does not enforce`),
      );
    }
  });
});
