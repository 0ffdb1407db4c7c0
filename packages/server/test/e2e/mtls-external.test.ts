// Mutual TLS at the token endpoint with certificates Tessera did not issue: tls_client_auth with
// a configured external CA (mapped to principals by the certLogin.mappings that name it), and
// self_signed_tls_client_auth with a registered key (RFC 8705 §2.1, §2.2). Every token from a
// certificate is bound to it (`cnf.x5t#S256`, §3); every refusal is 401 invalid_client AUTH_101.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { x509 } from '../../src/ca/x509.ts';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { assertRejected, claimsOf, makeCa, makeLeaf, newKeys, postForm, publicKeyPem, sendMtls, type ClientCertificate, type TestCa } from './mtls-support.ts';

const TOKEN = { grant_type: 'client_credentials', scope: 'beta:domain' };

function assertBound(res: TestResponse, principal: string, client: ClientCertificate): void {
  assert.equal(res.status, 200, res.text);
  const claims = claimsOf(res);
  assert.equal(claims.sub, principal);
  assert.deepEqual(claims.cnf, { 'x5t#S256': client.thumbprint });
}

describe('mutual TLS with external CAs and self-signed certificates', () => {
  let t: TestServer;
  let dir: string;
  let root: TestCa;
  let intermediate: TestCa;
  let rogue: TestCa;
  const certs = {} as Record<
    | 'bySubject'
    | 'bySubjectReversed'
    | 'bySan'
    | 'byFingerprint'
    | 'viaIntermediate'
    | 'unmapped'
    | 'loginRuleSan'
    | 'serverOnly'
    | 'noEku'
    | 'expired'
    | 'rogue'
    | 'selfSigned'
    | 'selfUnregistered'
    | 'selfExpired'
    | 'proxied',
    ClientCertificate
  >;
  let secretOfMixed: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-mtls-'));
    root = await makeCa('Example Root');
    intermediate = await makeCa('Example Issuing', { issuer: root });
    rogue = await makeCa('Rogue CA');
    await writeFile(join(dir, 'external.pem'), root.certPem);
    // Trusted for certificate login only (which is off here): its mappings must not reach the token endpoint.
    await writeFile(join(dir, 'login-only.pem'), (await makeCa('Login Partner Root')).certPem);
    const selfKeys = await newKeys();
    const day = 86_400_000;
    Object.assign(certs, {
      bySubject: await makeLeaf(root, { subject: 'CN=billing, O=Example Corp, C=US' }),
      bySubjectReversed: await makeLeaf(root, { subject: 'CN=ledger, O=Example Corp, C=US' }),
      bySan: await makeLeaf(root, { dns: ['reports.example.com'] }),
      byFingerprint: await makeLeaf(root),
      viaIntermediate: await makeLeaf(intermediate, { dns: ['inter.example.com'], chain: [intermediate] }),
      unmapped: await makeLeaf(root, { dns: ['nobody.example.com'] }),
      loginRuleSan: await makeLeaf(root, { dns: ['partner-login.example.com'] }),
      serverOnly: await makeLeaf(root, { dns: ['reports.example.com'], eku: [x509.ExtendedKeyUsage.serverAuth] }),
      noEku: await makeLeaf(root, { dns: ['reports.example.com'], eku: null }),
      expired: await makeLeaf(root, { dns: ['reports.example.com'], notBefore: new Date(Date.now() - 2 * day), notAfter: new Date(Date.now() - day) }),
      rogue: await makeLeaf(rogue, { dns: ['reports.example.com'] }),
      selfSigned: await makeLeaf(null, { subject: 'CN=alpha.selfie', keys: selfKeys }),
      selfUnregistered: await makeLeaf(null, { subject: 'CN=alpha.selfie' }),
      selfExpired: await makeLeaf(null, {
        subject: 'CN=alpha.selfie',
        keys: selfKeys,
        notBefore: new Date(Date.now() - 2 * day),
        notAfter: new Date(Date.now() - day),
      }),
      proxied: await makeLeaf(root, { dns: ['reports.example.com'] }),
    });

    t = await startTestServer({
      edit: (config) => {
        const cas = [join(dir, 'external.pem')];
        config.mtls.externalCas = cas;
        config.certLogin.trustedCas = [join(dir, 'login-only.pem')];
        config.certLogin.mappings = [
          { san: 'partner-login.example.com', principal: 'alpha.billing', cas: [join(dir, 'login-only.pem')] },
          { subject: 'C=US,O=Example Corp,CN=billing', principal: 'alpha.billing', cas },
          { subject: 'CN=ledger,O=Example Corp,C=US', principal: 'alpha.ledger', cas },
          { san: 'reports.example.com', principal: 'alpha.reports', cas },
          { fingerprint: certs.byFingerprint.fingerprintHex.toUpperCase().match(/../g)!.join(':'), principal: 'alpha.fp', cas },
          { san: 'inter.example.com', principal: 'alpha.inter', cas },
        ];
        // 127.0.0.2 plays the TLS-terminating proxy; the tests connect from 127.0.0.1 otherwise.
        config.trustedProxies = ['127.0.0.2/32'];
        config.mtls.proxyCertHeader = 'X-Client-Cert';
      },
    });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const names = ['billing', 'ledger', 'reports', 'fp', 'inter', 'selfie', 'mixed'];
    for (const name of names) {
      const body =
        name === 'selfie' ? { name, publicKeys: [{ kid: 'self1', pem: await publicKeyPem(selfKeys) }] } : name === 'mixed' ? { name, secret: true } : { name };
      const res = await t.admin$('POST', '/domains/alpha/services', body);
      assert.equal(res.status, 201, res.text);
      if (name === 'mixed') secretOfMixed = res.json.clientSecret;
    }
    const members = names.map((name) => ({ principal: `alpha.${name}` }));
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members })).status, 201);
  });
  after(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe('tls_client_auth with an external CA', () => {
    const mapped: [string, () => ClientCertificate, string][] = [
      ['maps by subject DN written in RFC 4514 order', () => certs.bySubject, 'alpha.billing'],
      ['maps by subject DN written in certificate order', () => certs.bySubjectReversed, 'alpha.ledger'],
      ['maps by a DNS SAN', () => certs.bySan, 'alpha.reports'],
      ['maps by SHA-256 fingerprint (hex with colons, any case)', () => certs.byFingerprint, 'alpha.fp'],
      ['accepts a certificate from an intermediate the client sends along', () => certs.viaIntermediate, 'alpha.inter'],
    ];
    for (const [name, client, principal] of mapped) {
      it(`${name} and binds the token to the certificate`, async () => {
        const res = await postForm(t, TOKEN, { client: client() });
        assertBound(res, principal, client());
        assert.deepEqual(claimsOf(res).scp, ['readers']);
      });
    }

    it('accepts a matching client_id and refuses another one', async () => {
      assert.equal((await postForm(t, { ...TOKEN, client_id: 'alpha.reports' }, { client: certs.bySan })).status, 200);
      assertRejected(
        await postForm(t, { ...TOKEN, client_id: 'alpha.billing' }, { client: certs.bySan }),
        /client_id 'alpha.billing' is not the client the certificate names \(alpha.reports\)/,
      );
    });

    it('refuses a trusted certificate that no mapping rule names', async () => {
      assertRejected(
        await postForm(t, TOKEN, { client: certs.unmapped }),
        /no certLogin.mappings rule maps this certificate \(subject 'O=Example Corp,CN=client-[0-9a-f]+'\)/,
      );
    });

    it('does not apply a mapping of a CA trusted for certificate login only (which is off) to a certificate of an external CA', async () => {
      assertRejected(await postForm(t, TOKEN, { client: certs.loginRuleSan }), /no certLogin.mappings rule maps this certificate/);
    });

    it('refuses a certificate from an unknown CA even when a mapping would match it', async () => {
      assertRejected(await postForm(t, TOKEN, { client: certs.rogue }), /does not chain to a CA Tessera trusts/);
    });

    it('refuses an expired certificate', async () => {
      assertRejected(await postForm(t, TOKEN, { client: certs.expired }), /client certificate rejected: the client certificate expired at /);
    });

    it('refuses a certificate whose extended key usage excludes clientAuth', async () => {
      assertRejected(await postForm(t, TOKEN, { client: certs.serverOnly }), /extended key usage does not include clientAuth/);
    });

    it('refuses a mapped certificate without an extended key usage extension (certLogin.requireClientAuthEku holds here too)', async () => {
      assertRejected(await postForm(t, TOKEN, { client: certs.noEku }), /has no extended key usage extension; it must allow clientAuth/);
    });

    it('refuses a certificate whose intermediate was not sent', async () => {
      const leafOnly = { ...certs.viaIntermediate, chainPem: '' };
      assertRejected(await postForm(t, TOKEN, { client: leafOnly }), /does not chain to a CA Tessera trusts; .*send any intermediate certificates/);
    });
  });

  describe('self_signed_tls_client_auth', () => {
    it('accepts a self-signed certificate whose key is registered on the service and binds the token', async () => {
      assertBound(await postForm(t, { ...TOKEN, client_id: 'alpha.selfie' }, { client: certs.selfSigned }), 'alpha.selfie', certs.selfSigned);
    });

    it('refuses a self-signed certificate whose key is not registered', async () => {
      assertRejected(await postForm(t, { ...TOKEN, client_id: 'alpha.selfie' }, { client: certs.selfUnregistered }), /public key is not registered on it/);
    });

    it('answers an unknown client exactly like an unregistered key', async () => {
      assertRejected(
        await postForm(t, { ...TOKEN, client_id: 'alpha.nobody' }, { client: certs.selfSigned }),
        /unknown client, or the certificate's public key is not registered on it/,
      );
    });

    it('refuses an expired self-signed certificate', async () => {
      assertRejected(await postForm(t, { ...TOKEN, client_id: 'alpha.selfie' }, { client: certs.selfExpired }), /the client certificate expired at /);
    });

    it('requires client_id', async () => {
      const res = await postForm(t, TOKEN, { client: certs.selfSigned });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.error, 'invalid_request');
      assert.match(res.json.error_description, /self_signed_tls_client_auth needs client_id in the body/);
    });
  });

  describe('a certificate together with other credentials', () => {
    it("lets a client secret decide: the token is for the secret's client and not bound", async () => {
      const res = await postForm(t, TOKEN, { client: certs.bySubject, headers: { authorization: basic('alpha.mixed', secretOfMixed) } });
      assert.equal(res.status, 200, res.text);
      assert.equal(claimsOf(res).sub, 'alpha.mixed');
      assert.equal(claimsOf(res).cnf, undefined);
    });

    it('does not fall back to the certificate when the secret is wrong', async () => {
      const res = await postForm(t, { ...TOKEN, client_id: 'alpha.mixed', client_secret: 'wrong' }, { client: certs.bySubject });
      assert.equal(res.status, 401, res.text);
      assert.equal(res.json.error_code, 'AUTH_101');
      assert.match(res.json.error_description, /client authentication failed: unknown client or wrong credentials/);
    });
  });

  it('without a certificate or credentials, names the certificate methods among the ones to use', async () => {
    const res = await postForm(t, TOKEN);
    assertRejected(res, /no client authentication: use one of .*tls_client_auth, self_signed_tls_client_auth/);
  });

  it('advertises both methods and certificate-bound tokens in the discovery document', async () => {
    const res = await sendMtls(t, '/.well-known/oauth-authorization-server');
    assert.equal(res.status, 200);
    for (const field of ['token_endpoint_auth_methods_supported', 'introspection_endpoint_auth_methods_supported']) {
      assert.ok(res.json[field].includes('tls_client_auth'), field);
      assert.ok(res.json[field].includes('self_signed_tls_client_auth'), field);
    }
    assert.equal(res.json.tls_client_certificate_bound_access_tokens, true);
  });

  it('authenticates introspection callers by certificate too', async () => {
    const issued = await postForm(t, TOKEN, { client: certs.bySan });
    const res = await postForm(t, { token: issued.json.access_token }, { client: certs.bySan, path: '/oauth2/introspect' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.active, true);
    assert.deepEqual(res.json.cnf, { 'x5t#S256': certs.bySan.thumbprint });
  });

  describe('behind a TLS-terminating proxy', () => {
    const header = (client: ClientCertificate): Record<string, string> => ({ 'x-client-cert': encodeURIComponent(client.certPem) });

    it('takes the client certificate from the header when a trusted proxy sends it', async () => {
      const res = await postForm(t, TOKEN, { headers: header(certs.proxied), localAddress: '127.0.0.2' });
      assertBound(res, 'alpha.reports', certs.proxied);
    });

    it('ignores the header from any other address', async () => {
      const res = await postForm(t, TOKEN, { headers: header(certs.proxied), localAddress: '127.0.0.1' });
      assertRejected(res, /no client authentication/);
    });

    it('checks a forwarded certificate like any other: an unknown CA is refused', async () => {
      assertRejected(await postForm(t, TOKEN, { headers: header(certs.rogue), localAddress: '127.0.0.2' }), /does not chain to a CA Tessera trusts/);
    });

    it("does not take the proxy's own TLS certificate for the client's", async () => {
      const res = await postForm(t, TOKEN, { client: certs.bySan, localAddress: '127.0.0.2' });
      assertRejected(res, /no client authentication/);
    });

    it('refuses a header that holds no certificate', async () => {
      const res = await postForm(t, TOKEN, { headers: { 'x-client-cert': 'not%20a%20certificate' }, localAddress: '127.0.0.2' });
      assertRejected(res, /the X-Client-Cert header holds no PEM certificate/);
    });

    it('refuses a header that is not URL-encoded', async () => {
      const res = await postForm(t, TOKEN, { headers: { 'x-client-cert': '%E0%A4%A' }, localAddress: '127.0.0.2' });
      assertRejected(res, /the X-Client-Cert header is not URL-encoded PEM/);
    });
  });
});
