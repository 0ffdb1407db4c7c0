// `void`: node:test's describe/test return promises the runner itself awaits.
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { before, describe, test } from 'node:test';
import type { CertificateAuthority } from '../../src/ca/authority.ts';
import { parseCsr } from '../../src/ca/csr.ts';
import type { ServiceCertificateRequest } from '../../src/ca/service-certificate.ts';
import { OWN_SANS, makeCsr } from './csr-fixtures.ts';
import type { KeyKind } from './csr-fixtures.ts';
import { buildGoVerifier } from './go-verify.ts';
import { firstPem, newAuthority, opensslExtension, opensslText, opensslVerify, tempDir } from './helpers.ts';
import type { MemoryCaStore } from './helpers.ts';

const HOUR = 3600_000;

async function refused(ca: CertificateAuthority, request: ServiceCertificateRequest, message: RegExp): Promise<void> {
  await assert.rejects(ca.issueServiceCertificate(request), (error: Error & { code?: string; statusCode?: number }) => {
    assert.equal(error.code, 'CA_INVALID_REQUEST', error.message);
    assert.equal(error.statusCode, 400);
    assert.match(error.message, message);
    return true;
  });
}

void describe('CertificateAuthority.issueServiceCertificate', () => {
  let ca: CertificateAuthority;
  let store: MemoryCaStore;
  let csrPem: string;
  before(async () => {
    ({ ca, store } = await newAuthority());
    csrPem = (await makeCsr({ subject: 'CN=alpha.api', sans: OWN_SANS })).pem;
  });

  void test('profile: CN, exactly one SPIFFE URI and one DNS SAN, digitalSignature (critical), serverAuth + clientAuth, cA=false, SKI/AKI', async (t) => {
    const issued = await ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now: Date.now() });
    const dir = await tempDir(t);
    const text = await opensslText(dir, issued.certificatePem);
    assert.match(text, /Subject: CN\s*=\s*alpha\.api\n/);
    assert.deepEqual(opensslExtension(text, 'X509v3 Subject Alternative Name'), {
      critical: false,
      value: 'URI:spiffe://tessera.test/alpha/api, DNS:api.alpha.svc.tessera.test',
    });
    assert.deepEqual(opensslExtension(text, 'X509v3 Key Usage'), { critical: true, value: 'Digital Signature' });
    assert.deepEqual(opensslExtension(text, 'X509v3 Extended Key Usage'), {
      critical: false,
      value: 'TLS Web Server Authentication, TLS Web Client Authentication',
    });
    assert.deepEqual(opensslExtension(text, 'X509v3 Basic Constraints'), { critical: true, value: 'CA:FALSE' });
    const issuerSki = opensslExtension(await opensslText(dir, firstPem(issued.chainPem)), 'X509v3 Subject Key Identifier')?.value;
    assert.ok(issuerSki);
    assert.equal(opensslExtension(text, 'X509v3 Authority Key Identifier')?.value.replace(/^keyid:/, ''), issuerSki);
    assert.ok(opensslExtension(text, 'X509v3 Subject Key Identifier')?.value);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  });

  void test('returns the serial, the x5t#S256 thumbprint, notBefore backdated 60 s and the default 24 h lifetime', async () => {
    const now = Date.UTC(2030, 0, 2, 3, 4, 5, 600);
    const issued = await ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now });
    const certificate = new X509Certificate(issued.certificatePem);
    assert.equal(issued.serial, certificate.serialNumber.toLowerCase());
    assert.ok(BigInt(`0x${issued.serial}`) >= 2n ** 64n, 'a positive serial of at least 64 bits');
    assert.equal(issued.thumbprint, createHash('sha256').update(certificate.raw).digest('base64url'));
    assert.equal(issued.notBefore, Date.UTC(2030, 0, 2, 3, 3, 5));
    assert.equal(issued.expiresAt, Date.UTC(2030, 0, 3, 3, 4, 5));
    assert.equal(certificate.validToDate.getTime(), issued.expiresAt);
    assert.equal(issued.chainPem, ca.chainPem);
    assert.equal(issued.caId, ca.id);
    assert.equal(issued.principal, 'alpha.api');
  });

  void test('every certificate is recorded before it is returned, with the principal or the admin who asked as actor, and its lineage', async () => {
    const mine = await ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now: Date.now() });
    const byAdmin = await ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now: Date.now(), actor: 'sys.auth.admin' });
    const renewal = await ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now: Date.now(), renewedFrom: mine.serial });
    const record = store.certificates.find((certificate) => certificate.serial === mine.serial);
    assert.deepEqual(record, {
      serial: mine.serial,
      principal: 'alpha.api',
      thumbprint: mine.thumbprint,
      caId: ca.id,
      notBefore: mine.notBefore,
      notAfter: mine.expiresAt,
      issuedAt: record?.issuedAt,
      renewedFrom: null,
      provedBy: null,
    });
    assert.equal(store.certificates.find((certificate) => certificate.serial === renewal.serial)?.renewedFrom, mine.serial);
    assert.deepEqual(
      store.audit.filter((event) => [mine.serial, byAdmin.serial].includes(event.target)).map((event) => event.actor),
      ['alpha.api', 'sys.auth.admin'],
    );
  });

  void test('a failed record means no certificate', async () => {
    const { ca: failing, store: broken } = await newAuthority();
    broken.recordCertificate = async () => {
      throw new Error('database is down');
    };
    await assert.rejects(failing.issueServiceCertificate({ csrPem, principal: 'alpha.api', now: Date.now() }), /database is down/);
  });

  void test('lifetime: as requested, capped at ca.maxCertLifetime and at the issuing CA’s notAfter; a non-positive one is refused', async () => {
    const now = Date.now();
    const twoHours = await ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now, lifetimeSeconds: 7200 });
    assert.equal(twoHours.expiresAt, Math.floor(now / 1000) * 1000 + 2 * HOUR);
    const capped = await ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now, lifetimeSeconds: 30 * 86_400 });
    assert.equal(capped.expiresAt, Math.floor(now / 1000) * 1000 + 7 * 24 * HOUR);
    const issuerEnd = new X509Certificate(firstPem(ca.chainPem)).validToDate.getTime();
    const late = await ca.issueServiceCertificate({ csrPem, principal: 'alpha.api', now: issuerEnd - HOUR });
    assert.equal(late.expiresAt, issuerEnd);
    await refused(ca, { csrPem, principal: 'alpha.api', now, lifetimeSeconds: 0 }, /lifetime must be a positive whole number of seconds/);
  });

  void test('names: a domain with dots keeps them in the SPIFFE ID and turns them into dashes in the DNS name', async () => {
    const issued = await ca.issueServiceCertificate({ csrPem: (await makeCsr()).pem, principal: 'sys.auth.admin', now: Date.now() });
    const certificate = new X509Certificate(issued.certificatePem);
    assert.equal(certificate.subject, 'CN=sys.auth.admin');
    assert.equal(certificate.subjectAltName, 'URI:spiffe://tessera.test/sys.auth/admin, DNS:admin.sys-auth.svc.tessera.test');
  });

  void test('a CSR may ask for no names, some or all of the identity’s own (DNS in any case), or come parsed', async () => {
    for (const csr of [
      await makeCsr(),
      await makeCsr({ subject: 'CN=alpha.api' }),
      await makeCsr({ sans: [{ type: 'url', value: 'spiffe://tessera.test/alpha/api' }] }),
      await makeCsr({ sans: [{ type: 'dns', value: 'API.Alpha.SVC.tessera.test' }] }),
    ]) {
      const issued = await ca.issueServiceCertificate({ csrPem: csr.pem, principal: 'alpha.api', now: Date.now() });
      assert.equal(new X509Certificate(issued.certificatePem).subjectAltName, 'URI:spiffe://tessera.test/alpha/api, DNS:api.alpha.svc.tessera.test');
    }
    const parsed = parseCsr(csrPem);
    const issued = await ca.issueServiceCertificate({ csr: parsed, principal: 'alpha.api', now: Date.now() });
    assert.equal(new X509Certificate(issued.certificatePem).subject, 'CN=alpha.api');
  });

  void test('refuses names that are not the identity’s: another CN, an extra or foreign SAN, an IP or e-mail SAN, other subject attributes', async () => {
    const cases: [Parameters<typeof makeCsr>[0], RegExp][] = [
      [
        { subject: 'CN=beta.api' },
        /asks for CN=beta\.api, but the identity proven is alpha\.api; it may ask for CN=alpha\.api, URI:spiffe:\/\/tessera\.test\/alpha\/api and DNS:api\.alpha\.svc\.tessera\.test, or for no names at all/,
      ],
      [{ subject: 'CN=alpha.api, CN=alpha.api' }, /subject holds 2 CNs/],
      [{ subject: 'CN=alpha.api, O=Example' }, /subject holds O=Example; a service certificate's subject is only CN=alpha\.api/],
      [{ sans: [...OWN_SANS, { type: 'dns', value: 'www.example.com' }] }, /asks for DNS:www\.example\.com, which is not alpha\.api's name/],
      [{ sans: [{ type: 'dns', value: 'api.beta.svc.tessera.test' }] }, /asks for DNS:api\.beta\.svc\.tessera\.test/],
      [
        { sans: [{ type: 'url', value: 'spiffe://tessera.test/beta/api' }] },
        /asks for URI:spiffe:\/\/tessera\.test\/beta\/api, which is not alpha\.api's SPIFFE ID/,
      ],
      [{ sans: [{ type: 'url', value: 'spiffe://other.test/alpha/api' }] }, /asks for URI:spiffe:\/\/other\.test\/alpha\/api/],
      [{ sans: [...OWN_SANS, { type: 'ip', value: '10.0.0.1' }] }, /asks for IP:10\.0\.0\.1; service certificates carry no IP addresses/],
      [{ sans: [{ type: 'email', value: 'api@alpha.example' }] }, /asks for email:api@alpha\.example/],
    ];
    for (const [options, message] of cases) {
      await refused(ca, { csrPem: (await makeCsr(options)).pem, principal: 'alpha.api', now: Date.now() }, message);
    }
  });

  void test('refuses a principal that cannot be named in a certificate', async () => {
    const pem = (await makeCsr()).pem;
    await refused(
      ca,
      { csrPem: pem, principal: 'alpha.my_api', now: Date.now() },
      /its DNS name my_api\.alpha\.svc\.tessera\.test is not a valid host name .*'_' is not allowed/,
    );
    await refused(ca, { csrPem: pem, principal: `${'d'.repeat(61)}.api`, now: Date.now() }, /a certificate CN holds at most 64/);
    await refused(ca, { csrPem: pem, principal: 'no-dot', now: Date.now() }, /not a principal name: "no-dot"/);
    await refused(ca, { principal: 'alpha.api', now: Date.now() }, /needs a CSR/);
  });

  void test('refuses a service whose DNS name is one of Tessera’s own host names, asked for or not', async () => {
    const { ca: own, store: ownStore } = await newAuthority({ settings: { reservedDnsNames: ['localhost', 'tessera.platform.svc.tessera.test'] } });
    for (const csr of [await makeCsr(), await makeCsr({ sans: [{ type: 'dns', value: 'Tessera.Platform.svc.tessera.test' }] })]) {
      await refused(
        own,
        { csrPem: csr.pem, principal: 'platform.tessera', now: Date.now() },
        /platform\.tessera cannot get a certificate: its DNS name tessera\.platform\.svc\.tessera\.test is one of Tessera's own host names, .*answer as Tessera.*rename the service or its domain, or set ca\.dnsSuffix/,
      );
    }
    assert.equal(ownStore.certificates.length, 0);
    // Another service of the same domain is not affected.
    await own.issueServiceCertificate({ csrPem: (await makeCsr()).pem, principal: 'platform.api', now: Date.now() });
  });
});

void describe('service certificates pass strict external verifiers', () => {
  for (const kind of ['p256', 'p384', 'ed25519', 'rsa2048'] as const satisfies readonly KeyKind[]) {
    void test(`a ${kind} certificate verifies with openssl -x509_strict and Go's crypto/x509 for sslclient and sslserver against the bundle`, async (t) => {
      const { ca } = await newAuthority();
      const now = Date.now();
      const issued = await ca.issueServiceCertificate({
        csrPem: (await makeCsr({ kind, subject: 'CN=alpha.api', sans: OWN_SANS })).pem,
        principal: 'alpha.api',
        now,
      });
      const dir = await tempDir(t);
      for (const purpose of ['sslclient', 'sslserver'] as const) {
        const result = await opensslVerify(dir, { bundlePem: ca.bundlePem, chainPem: issued.chainPem, leafPem: issued.certificatePem, purpose });
        assert.ok(result.ok, `${purpose}: ${result.output}`);
        assert.match(result.output, /verify-leaf\.pem: OK/);
      }

      const go = await buildGoVerifier(t);
      if (go === null) return;
      const result = await go(dir, {
        bundlePem: ca.bundlePem,
        intermediatesPem: issued.chainPem,
        leafPem: issued.certificatePem,
        at: now,
        dnsName: 'api.alpha.svc.tessera.test',
      });
      assert.equal(result.parseError, undefined);
      assert.deepEqual(
        {
          parsed: result.parsed,
          subject: result.subject,
          uris: result.uris,
          dnsNames: result.dnsNames,
          ips: result.ipAddresses,
          emails: result.emails,
          isCA: result.isCA,
        },
        {
          parsed: true,
          subject: 'CN=alpha.api',
          uris: ['spiffe://tessera.test/alpha/api'],
          dnsNames: ['api.alpha.svc.tessera.test'],
          ips: null,
          emails: null,
          isCA: false,
        },
      );
      assert.equal(result.keyUsage, 1, 'Go: x509.KeyUsageDigitalSignature only');
      assert.ok(result.serialBits >= 64);
      assert.equal(result.serverAuth, 'ok');
      assert.equal(result.clientAuth, 'ok');
    });
  }

  void test('Go refuses the certificate against another CA’s bundle and after it expires', async (t) => {
    const go = await buildGoVerifier(t);
    if (go === null) return;
    const { ca } = await newAuthority();
    const { ca: stranger } = await newAuthority();
    const now = Date.now();
    const issued = await ca.issueServiceCertificate({ csrPem: (await makeCsr()).pem, principal: 'alpha.api', now });
    const dir = await tempDir(t);
    const foreign = await go(dir, { bundlePem: stranger.bundlePem, intermediatesPem: issued.chainPem, leafPem: issued.certificatePem, at: now });
    assert.match(foreign.clientAuth, /certificate signed by unknown authority/);
    const expired = await go(dir, { bundlePem: ca.bundlePem, intermediatesPem: issued.chainPem, leafPem: issued.certificatePem, at: issued.expiresAt + 1000 });
    assert.match(expired.clientAuth, /expired/);
  });
});
