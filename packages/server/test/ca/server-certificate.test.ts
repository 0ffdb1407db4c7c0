// `void`: node:test's describe/test return promises the runner itself awaits.
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import { createServer, get } from 'node:https';
import type { RequestOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import type { CertificateAuthority } from '../../src/ca/authority.ts';
import type { IssuedCertificate, ServerCertificateRequest } from '../../src/ca/server-certificate.ts';
import { MAX_SERVER_CERTIFICATE_LIFETIME_SECONDS } from '../../src/ca/settings.ts';
import { newAuthority, openssl, opensslExtension, opensslText, tempDir, writeFiles } from './helpers.ts';

const HOUR = 3600;

async function newCa(): Promise<CertificateAuthority> {
  return (await newAuthority()).ca;
}

function request(overrides: Partial<ServerCertificateRequest> = {}): ServerCertificateRequest {
  return { dnsNames: ['localhost'], ipAddresses: [], lifetimeSeconds: HOUR, now: Date.now(), ...overrides };
}

function intermediatePem(chainPem: string): string {
  return chainPem.slice(0, chainPem.indexOf('-----END CERTIFICATE-----') + '-----END CERTIFICATE-----\n'.length);
}

/** An HTTPS server presenting `issued` (leaf + chain) on 127.0.0.1, or `host` if given. */
async function serve(t: TestContext, issued: IssuedCertificate, host = '127.0.0.1'): Promise<number> {
  const server = createServer({ key: issued.keyPem, cert: issued.certPem + issued.chainPem }, (_request, response) => {
    response.end('hello over tls');
  });
  server.listen(0, host);
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

async function fetchText(options: RequestOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get({ path: '/', agent: false, ...options }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(body));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

async function ipv6LoopbackAvailable(): Promise<boolean> {
  const { createServer: createTcpServer } = await import('node:net');
  const probe = createTcpServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
}

void describe('CertificateAuthority.issueServerCertificate', () => {
  let ca: CertificateAuthority;
  let issued: IssuedCertificate;
  let leaf: X509Certificate;
  before(async () => {
    ca = await newCa();
    issued = await ca.issueServerCertificate({
      dnsNames: ['localhost', 'tessera.internal'],
      ipAddresses: ['127.0.0.1', '::1'],
      lifetimeSeconds: 24 * HOUR,
      now: Date.now(),
    });
    leaf = new X509Certificate(issued.certPem);
  });

  void test('the chain validates with openssl for the sslserver purpose, and not for sslclient', async (t) => {
    const dir = await tempDir(t);
    const paths = await writeFiles(dir, {
      'root.pem': ca.bundlePem,
      'intermediate.pem': intermediatePem(issued.chainPem),
      'leaf.pem': issued.certPem,
    });
    const verify = (purpose: string) =>
      openssl([
        'verify',
        '-x509_strict',
        '-purpose',
        purpose,
        '-CAfile',
        paths['root.pem'] ?? '',
        '-untrusted',
        paths['intermediate.pem'] ?? '',
        paths['leaf.pem'] ?? '',
      ]);

    const asServer = await verify('sslserver');
    assert.ok(asServer.ok, asServer.output);
    assert.match(asServer.output, /leaf\.pem: OK/);
    const asClient = await verify('sslclient');
    assert.equal(asClient.ok, false, 'a server certificate is not a client certificate');
    assert.match(asClient.output, /unsuitable certificate purpose/);
  });

  void test('the chain is the intermediate then the root, and so is the bundle', () => {
    assert.equal(issued.chainPem, ca.chainPem);
    const intermediate = new X509Certificate(intermediatePem(issued.chainPem));
    const root = new X509Certificate(ca.bundlePem.slice(ca.bundlePem.indexOf('-----END CERTIFICATE-----') + 26));
    assert.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey));
    assert.ok(intermediate.checkIssued(root));
    assert.equal(ca.bundlePem, ca.chainPem);
  });

  void test('names: CN is the first DNS name, SANs hold every DNS name and IPv4 and IPv6 address', async (t) => {
    assert.equal(leaf.subject, 'CN=localhost');
    assert.equal(leaf.subjectAltName, 'DNS:localhost, DNS:tessera.internal, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.equal(leaf.checkHost('localhost'), 'localhost');
    assert.equal(leaf.checkHost('tessera.internal'), 'tessera.internal');
    assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(leaf.checkIP('::1'), '::1');
    assert.equal(leaf.checkHost('example.com'), undefined);

    const text = await opensslText(await tempDir(t), issued.certPem);
    assert.equal(opensslExtension(text, 'X509v3 Subject Alternative Name')?.critical, false);
  });

  void test('profile: digitalSignature (critical), serverAuth only, cA=false, SKI/AKI, P-256, ECDSA-SHA256', async (t) => {
    const text = await opensslText(await tempDir(t), issued.certPem);
    assert.deepEqual(opensslExtension(text, 'X509v3 Key Usage'), { critical: true, value: 'Digital Signature' });
    assert.deepEqual(opensslExtension(text, 'X509v3 Extended Key Usage'), {
      critical: false,
      value: 'TLS Web Server Authentication',
    });
    assert.deepEqual(opensslExtension(text, 'X509v3 Basic Constraints'), { critical: true, value: 'CA:FALSE' });
    assert.equal(leaf.ca, false);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'node reports the EKU OIDs as keyUsage');
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(text, /NIST CURVE: P-256/);

    const intermediateText = await opensslText(await tempDir(t), intermediatePem(issued.chainPem));
    const intermediateSki = opensslExtension(intermediateText, 'X509v3 Subject Key Identifier')?.value;
    assert.ok(intermediateSki);
    assert.equal(opensslExtension(text, 'X509v3 Authority Key Identifier')?.value.replace(/^keyid:/, ''), intermediateSki);
    assert.ok(opensslExtension(text, 'X509v3 Subject Key Identifier')?.value);
    assert.notEqual(opensslExtension(text, 'X509v3 Subject Key Identifier')?.value, intermediateSki);
  });

  void test('serial: random, positive, at least 64 bits, different for every certificate', async () => {
    const again = new X509Certificate((await ca.issueServerCertificate(request())).certPem);
    for (const certificate of [leaf, again]) {
      assert.ok(BigInt(`0x${certificate.serialNumber}`) >= 2n ** 64n);
      assert.match(certificate.serialNumber, /^[4-7][0-9A-F]{31}$/i);
    }
    assert.notEqual(leaf.serialNumber, again.serialNumber);
  });

  void test('every certificate gets its own fresh P-256 key, returned as PKCS#8 PEM', async () => {
    const again = await ca.issueServerCertificate(request());
    assert.match(issued.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const key = createPrivateKey(issued.keyPem);
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(leaf.checkPrivateKey(key));
    assert.notEqual(again.keyPem, issued.keyPem);
    assert.equal(new X509Certificate(again.certPem).checkPrivateKey(key), false);
  });

  void test('validity: backdated 60 s, lasts the requested lifetime, reported in notAfter', async () => {
    const now = Date.UTC(2030, 5, 1, 8, 0, 0, 250);
    const certificate = await ca.issueServerCertificate(request({ lifetimeSeconds: 2 * HOUR, now }));
    const parsed = new X509Certificate(certificate.certPem);
    assert.equal(parsed.validFromDate.getTime(), Date.UTC(2030, 5, 1, 7, 59, 0));
    assert.equal(parsed.validToDate.getTime(), Date.UTC(2030, 5, 1, 10, 0, 0));
    assert.equal(certificate.notAfter, parsed.validToDate.getTime());
  });

  void test('validity: at most 30 days, so an old CA generation’s retention covers it', async () => {
    const now = Date.UTC(2030, 5, 1, 8, 0, 0);
    const long = await ca.issueServerCertificate(request({ lifetimeSeconds: 365 * 24 * HOUR, now }));
    assert.equal(long.notAfter, now + MAX_SERVER_CERTIFICATE_LIFETIME_SECONDS * 1000);
  });

  void test('validity: never outlives the issuing intermediate; an expired intermediate issues nothing', async () => {
    const intermediate = new X509Certificate(intermediatePem(ca.chainPem));
    const nearTheEnd = intermediate.validToDate.getTime() - 24 * HOUR * 1000;
    const long = await ca.issueServerCertificate(request({ lifetimeSeconds: 20 * 24 * HOUR, now: nearTheEnd }));
    assert.equal(long.notAfter, intermediate.validToDate.getTime());

    const afterExpiry = intermediate.validToDate.getTime() + 1;
    await assert.rejects(ca.issueServerCertificate(request({ now: afterExpiry })), {
      code: 'CA_RECORD_INVALID',
      message: /expired/,
    });
  });

  void test('names are canonicalised: lower-cased, de-duplicated, IPv4-mapped IPv6 encoded correctly', async () => {
    const certificate = await ca.issueServerCertificate({
      dnsNames: ['API.Example.COM', 'api.example.com'],
      ipAddresses: ['::FFFF:192.0.2.1', '2001:DB8::1', '2001:db8::1'],
      lifetimeSeconds: HOUR,
      now: Date.now(),
    });
    const parsed = new X509Certificate(certificate.certPem);
    assert.equal(parsed.subject, 'CN=api.example.com');
    assert.equal(parsed.subjectAltName, 'DNS:api.example.com, IP Address:0:0:0:0:0:FFFF:C000:201, IP Address:2001:DB8:0:0:0:0:0:1');
  });

  void test('an IP-only certificate takes its CN from the first address', async () => {
    const certificate = await ca.issueServerCertificate(request({ dnsNames: [], ipAddresses: ['10.1.2.3'] }));
    assert.equal(new X509Certificate(certificate.certPem).subject, 'CN=10.1.2.3');
  });

  void test('refuses malformed names, an empty name set and a non-positive lifetime', async () => {
    const refused = [
      request({ dnsNames: ['*.example.com'] }),
      request({ dnsNames: ['under_score.example'] }),
      request({ dnsNames: ['trailing.dot.'] }),
      request({ dnsNames: ['-leading.example'] }),
      request({ dnsNames: [`${'a'.repeat(64)}.example`] }),
      // A valid host name, but longer than the 64 characters a CN may hold.
      request({ dnsNames: [`${'a'.repeat(60)}.example.com`] }),
      request({ ipAddresses: ['10.0.0.0/8'] }),
      request({ ipAddresses: ['fe80::1%eth0'] }),
      request({ ipAddresses: ['010.0.0.1'] }),
      request({ dnsNames: [], ipAddresses: [] }),
      request({ lifetimeSeconds: 0 }),
      request({ lifetimeSeconds: 1.5 }),
    ];
    for (const bad of refused) {
      await assert.rejects(ca.issueServerCertificate(bad), { code: 'CA_INVALID_REQUEST' }, JSON.stringify(bad));
    }
  });

  void describe('over real TLS, trusting only the bundle', () => {
    void test('answers https://127.0.0.1', async (t) => {
      const port = await serve(t, issued);
      assert.equal(await fetchText({ host: '127.0.0.1', port, ca: ca.bundlePem }), 'hello over tls');
    });

    void test('answers https://localhost', async (t) => {
      const port = await serve(t, issued);
      // The server listens on IPv4 only; pin the lookup so `localhost` cannot resolve to ::1.
      assert.equal(await fetchText({ host: 'localhost', family: 4, port, ca: ca.bundlePem }), 'hello over tls');
    });

    void test('answers https://[::1]', async (t) => {
      if (!(await ipv6LoopbackAvailable())) return t.skip('no IPv6 loopback on this machine');
      const port = await serve(t, issued, '::1');
      assert.equal(await fetchText({ host: '::1', port, ca: ca.bundlePem }), 'hello over tls');
    });

    void test('is rejected for a host name the certificate does not carry', async (t) => {
      const port = await serve(t, issued);
      await assert.rejects(fetchText({ host: '127.0.0.1', servername: 'example.com', port, ca: ca.bundlePem }), {
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      });
    });

    void test('is rejected by a client trusting another Tessera CA', async (t) => {
      const port = await serve(t, issued);
      const stranger = await newCa();
      // The server sends its root along with the intermediate; a client that does not trust it
      // sees a self-signed certificate it has no anchor for.
      await assert.rejects(fetchText({ host: '127.0.0.1', port, ca: stranger.bundlePem }), {
        code: 'SELF_SIGNED_CERT_IN_CHAIN',
      });
    });
  });
});
