// What the SDK trusts of Tessera's CA when the CA is imported (`ca.import`: the operator's issuing
// CA under the operator's root, which also signs other intermediates). Tessera's ca.pem and
// /ca/v1/bundle hold the root (for curl and openssl) and the issuing CA; the SDK anchors on the
// issuing CA alone, so a certificate from a sibling intermediate under the same root is refused:
// by the verifier's discovery and JWKS fetch, by the token client, and by services whose TLS
// comes from the certificate refresher (server and client side). The real Tessera and the
// certificates it issued keep working.

import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request, type Agent, type RequestOptions, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportJWK } from 'jose';
import { makeCa, operatorPki, type IssuedCa } from '../../server/test/ca/operator-pki.ts';
import { makeLeaf, type ClientCertificate, type TestCa } from '../../server/test/e2e/mtls-support.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { x509 } from '../../server/src/ca/x509.ts';
import {
  createCertificateRefresher,
  createTokenClient,
  createVerifier,
  TokenClientError,
  VerifierUnavailableError,
  type CertificateRefresher,
} from '../src/index.ts';

const asTestCa = (ca: IssuedCa): TestCa => ({ certPem: ca.pem, certificate: ca.certificate, keys: ca.keys });
const API = 'spiffe://tessera.local/alpha/api';
const WEB = 'spiffe://tessera.local/alpha/web';
const TLS_REFUSAL = /unable to get local issuer certificate|unable to verify|certificate/i;

function certificatesIn(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN (?:TRUSTED )?CERTIFICATE-----[\s\S]+?-----END (?:TRUSTED )?CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

/** A leaf signed by `issuer` for 127.0.0.1, usable by a TLS server and client alike. */
function leafFrom(issuer: TestCa, uris: string[] = []): Promise<ClientCertificate> {
  const names = [{ type: 'ip' as const, value: '127.0.0.1' }, ...uris.map((value) => ({ type: 'url' as const, value }))];
  const san = new x509.SubjectAlternativeNameExtension(names, false);
  const eku = [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  return makeLeaf(issuer, { subject: 'CN=127.0.0.1', eku, extensions: [san], chain: [issuer] });
}

interface Impostor {
  url: string;
  server: Server;
  /** Paths requested: none, when every client refused the certificate. */
  requests: string[];
}

/** An HTTPS server with `leaf` that answers discovery, a JWKS of its own key and any token request. */
async function startImpostor(leaf: ClientCertificate, jwk: object): Promise<Impostor> {
  const state: Impostor = { url: '', server: undefined as unknown as Server, requests: [] };
  state.server = createServer({ key: leaf.keyPem, cert: leaf.certPem + (leaf.chainPem ?? '') }, (req, res) => {
    state.requests.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      const { url } = state;
      res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/oauth2/keys`, token_endpoint: `${url}/oauth2/token` }));
    } else if (req.url === '/oauth2/keys') {
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.end(JSON.stringify({ access_token: 'stolen', token_type: 'Bearer', expires_in: 600 }));
    }
  });
  state.server.listen(0, '127.0.0.1');
  await once(state.server, 'listening');
  state.url = `https://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

/** Service certificates name services, not hosts: a client checks the peer's SPIFFE ID instead. */
function spiffe(id: string): (host: string, certificate: PeerCertificate) => Error | undefined {
  return (_host, certificate) => (certificate.subjectaltname?.split(', ').includes(`URI:${id}`) ? undefined : new Error(`not ${id}`));
}

/** GET `url`; resolves with the body or the TLS error's message. */
function get(url: string, options: RequestOptions): Promise<{ ok: true; body: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    request(url, options, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ ok: true, body }));
    })
      .on('error', (error) => resolve({ ok: false, error: error.message }))
      .end();
  });
}

describe("the SDK trusts Tessera's issuing CAs, not the imported root", () => {
  let t: TestServer;
  let dir: string;
  let sibling: TestCa;
  let impostor: Impostor;
  let forged: string;
  let secret: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-sdk-issuing-'));
    const pki = await operatorPki(dir);
    sibling = asTestCa(await makeCa('Operator Sibling CA', pki.root, { pathLength: 0 }));
    t = await startTestServer({ edit: (config) => void (config.ca.import = pki.files) });
    for (const name of ['alpha', 'payments']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const created = await t.admin$('POST', '/domains/alpha/services', { name: 'api' });
    assert.equal(created.status, 201, created.text);
    secret = created.json.clientSecret as string;
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'web' })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/payments/roles/readers', { members: [{ principal: 'alpha.api' }] })).status, 201);

    const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    impostor = await startImpostor(await leafFrom(sibling), { ...(await exportJWK(signer.publicKey)), kid: 'evil', alg: 'ES256', use: 'sig' });
    const now = Math.floor(Date.now() / 1000);
    forged = await new SignJWT({ ver: 1, client_id: 'sys.auth.admin', uid: 'sys.auth.admin', scp: ['admin'], scope: 'payments:role.admin' })
      .setProtectedHeader({ alg: 'ES256', kid: 'evil', typ: 'at+jwt' })
      .setIssuer(impostor.url)
      .setAudience('payments')
      .setSubject('sys.auth.admin')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .setJti('forged-1')
      .sign(signer.privateKey);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    impostor.server.close();
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes the imported issuing CA and the root in ca.pem and /ca/v1/bundle', async () => {
    const subjects = certificatesIn(t.ca).map((certificate) => certificate.subject);
    assert.deepEqual(subjects, ['CN=Operator Issuing CA\nO=Operator', 'CN=Operator Root\nO=Operator']);
    assert.equal(await readFile(join(t.dataDir, 'ca.pem'), 'utf8'), t.ca);
    assert.equal((await t.send('/ca/v1/bundle')).text, t.ca);
  });

  describe('the verifier', () => {
    it('refuses the JWKS of an impostor whose certificate comes from a sibling intermediate under the imported root', async () => {
      const verifier = createVerifier({ issuer: impostor.url, audience: 'payments', ca: t.ca });
      await assert.rejects(verifier.verify(forged, { scope: ['payments:role.admin'] }), (error: Error) => {
        assert.ok(error instanceof VerifierUnavailableError, String(error));
        assert.match(error.message, TLS_REFUSAL);
        return true;
      });
      assert.deepEqual(impostor.requests, [], 'no request got past the TLS handshake');
    });

    it("still verifies the real Tessera's tokens, also after refetching the bundle", async () => {
      const verifier = createVerifier({ issuer: t.url, audience: 'payments', ca: t.ca, bundleRefresh: 0.2, cacheSize: 0 });
      const token = async (): Promise<string> => {
        const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'payments:role.readers' });
        assert.equal(res.status, 200, res.text);
        return res.json.access_token as string;
      };
      assert.equal((await verifier.verify(await token())).principal, 'alpha.api');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal((await verifier.verify(await token())).principal, 'alpha.api', 'starts the bundle refetch');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.equal((await verifier.verify(await token())).principal, 'alpha.api', 'with the refetched bundle');
    });
  });

  describe('the token client', () => {
    it('refuses to send its secret to an impostor with a sibling-signed certificate, with a TLS error', async () => {
      const client = createTokenClient({
        issuer: impostor.url,
        ca: t.ca,
        credentials: { clientId: 'alpha.api', clientSecret: secret },
        retry: { maxAttempts: 1 },
      });
      cleanups.push(() => client.close());
      await assert.rejects(client.getAccessToken({ scope: 'payments:role.readers' }), (error: Error) => {
        assert.ok(error instanceof TokenClientError, String(error));
        assert.match(error.message, TLS_REFUSAL);
        return true;
      });
      assert.deepEqual(impostor.requests, [], 'neither discovery nor the secret reached it');
    });

    it('gets tokens from the real Tessera', async () => {
      const client = createTokenClient({ issuer: t.url, ca: t.ca, credentials: { clientId: 'alpha.api', clientSecret: secret } });
      cleanups.push(() => client.close());
      assert.match(await client.getAccessToken({ scope: 'payments:role.readers' }), /^ey/);
    });
  });

  describe("services on the certificate refresher's TLS material", () => {
    let api: CertificateRefresher;
    let web: CertificateRefresher;
    let service: Server;
    let serviceUrl: string;
    /** The sibling's certificate for the admin's SPIFFE ID: anyone under the operator's root could mint it. */
    let forgedPeer: ClientCertificate;

    const refresher = async (principal: string): Promise<CertificateRefresher> => {
      const res = await t.admin$('POST', '/join-tokens', { principal });
      assert.equal(res.status, 201, res.text);
      const made = await createCertificateRefresher({ server: t.url, ca: t.ca, principal, bootstrap: { joinToken: res.json.token as string } });
      cleanups.push(() => made.close());
      return made;
    };

    before(async () => {
      api = await refresher('alpha.api');
      web = await refresher('alpha.web');
      forgedPeer = await leafFrom(sibling, [WEB]);
      service = createServer({ ...api.tlsOptions(), requestCert: true, rejectUnauthorized: true }, (req, res) => {
        const names = (req.socket as TLSSocket).getPeerX509Certificate()?.subjectAltName?.split(', ') ?? [];
        res.end(names.find((name) => name.startsWith('URI:')) ?? '');
      });
      api.attach(service);
      service.listen(0, '127.0.0.1');
      await once(service, 'listening');
      serviceUrl = `https://127.0.0.1:${(service.address() as AddressInfo).port}/`;
      cleanups.push(() => new Promise((resolve) => service.close(resolve)));
    });

    it('anchors on the issuing CA alone: tlsOptions() holds no root and allows a partial chain', () => {
      const material = api.tlsOptions();
      assert.deepEqual(
        certificatesIn(material.ca).map((certificate) => certificate.subject),
        ['CN=Operator Issuing CA\nO=Operator'],
      );
      assert.equal(material.allowPartialTrustChain, true);
    });

    it('a server refuses a client certificate from the sibling intermediate that carries a Tessera SPIFFE ID', async () => {
      // The server ends the handshake; why is on the socket (Node's error only says "socket hang up").
      const refusals: string[] = [];
      const onError = (_error: Error, socket: TLSSocket): number => refusals.push(String(socket.authorizationError));
      service.on('tlsClientError', onError);
      try {
        const cert = forgedPeer.certPem + (forgedPeer.chainPem ?? '');
        const result = await get(serviceUrl, { ca: t.ca, checkServerIdentity: spiffe(API), cert, key: forgedPeer.keyPem, agent: false });
        assert.equal(result.ok, false, 'the handshake must fail');
      } finally {
        service.off('tlsClientError', onError);
      }
      assert.deepEqual(refusals, ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY'], 'the server refused the client certificate');
    });

    it('a server accepts a Tessera-issued peer', async () => {
      const agent: Agent = web.createAgent({ checkServerIdentity: spiffe(API) });
      const result = await get(serviceUrl, { agent });
      assert.deepEqual(result, { ok: true, body: `URI:${WEB}` });
    });

    it('a client refuses a server certificate from the sibling intermediate, and accepts a Tessera-issued server', async () => {
      const agent: Agent = web.createAgent({ checkServerIdentity: spiffe(WEB) });
      const forgedServer = createServer({ key: forgedPeer.keyPem, cert: forgedPeer.certPem + (forgedPeer.chainPem ?? '') }, (_req, res) => res.end('forged'));
      forgedServer.listen(0, '127.0.0.1');
      await once(forgedServer, 'listening');
      cleanups.push(() => new Promise((resolve) => forgedServer.close(resolve)));
      const refused = await get(`https://127.0.0.1:${(forgedServer.address() as AddressInfo).port}/`, { agent });
      assert.equal(refused.ok, false);
      assert.match((refused as { error: string }).error, TLS_REFUSAL);
      const plain = await get(`https://127.0.0.1:${(forgedServer.address() as AddressInfo).port}/`, {
        ...web.tlsOptions(),
        checkServerIdentity: spiffe(WEB),
        agent: false,
      });
      assert.equal(plain.ok, false, 'tlsOptions() spread into a request refuses it too');
      assert.match((plain as { error: string }).error, TLS_REFUSAL);
      const real = web.createAgent({ checkServerIdentity: spiffe(API) });
      assert.deepEqual(await get(serviceUrl, { agent: real }), { ok: true, body: `URI:${WEB}` });
    });
  });
});
