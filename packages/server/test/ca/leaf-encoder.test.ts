// The template encoder (service certificates) must write exactly what @peculiar/x509's generator
// writes (the server-certificate path): same issuer, subject, validity, key, signature algorithm
// and extensions byte for byte, for every kind of issuing key a CA may have.
import assert from 'node:assert/strict';
import { KeyObject, X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { encodeLeafCertificate, issueLeafCertificate, leafTemplate } from '../../src/ca/issue-certificate.ts';
import type { Issuer, LeafProfile } from '../../src/ca/issue-certificate.ts';
import { webcrypto, x509 } from '../../src/ca/x509.ts';

const ISSUERS = {
  'ECDSA P-256': { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' },
  'ECDSA P-384': { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' },
  'RSA 2048': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
} as const;

async function newIssuer(algorithm: (typeof ISSUERS)[keyof typeof ISSUERS]): Promise<Issuer> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: 'O=Tessera, CN=Test Intermediate CA',
      keys,
      signingAlgorithm: algorithm,
      notBefore: new Date(Date.now() - 3600_000),
      notAfter: new Date(Date.now() + 86_400_000 * 30),
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto)],
    },
    webcrypto,
  );
  return { certificate, privateKey: keys.privateKey, signingKey: KeyObject.from(keys.privateKey), signingAlgorithm: algorithm };
}

void describe('encodeLeafCertificate', () => {
  for (const [kind, algorithm] of Object.entries(ISSUERS)) {
    void test(`with a ${kind} issuer, writes the same certificate as the generator path but for the serial and signature`, async () => {
      const issuer = await newIssuer(algorithm);
      const subject = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
      const spki = new Uint8Array(await webcrypto.subtle.exportKey('spki', subject.publicKey));
      const profile: LeafProfile = {
        commonName: 'alpha.api',
        uris: ['spiffe://tessera.test/alpha/api'],
        dnsNames: ['api.alpha.svc.tessera.test'],
        extendedKeyUsages: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
        lifetimeSeconds: 86_400,
        now: Date.now(),
      };
      const old = await issueLeafCertificate(issuer, new x509.PublicKey(spki), profile);
      const template = await leafTemplate(issuer, profile.extendedKeyUsages);
      const fresh = encodeLeafCertificate(template, AsnConvert.parse(spki, SubjectPublicKeyInfo), profile);

      const [a, b] = [old.rawData, fresh.der].map((der) => AsnConvert.parse(der, Certificate).tbsCertificate);
      const parts = (tbs: NonNullable<typeof a>): Record<string, string> => ({
        version: String(tbs.version),
        signature: Buffer.from(AsnConvert.serialize(tbs.signature)).toString('hex'),
        issuer: Buffer.from(AsnConvert.serialize(tbs.issuer)).toString('hex'),
        validity: Buffer.from(AsnConvert.serialize(tbs.validity)).toString('hex'),
        subject: Buffer.from(AsnConvert.serialize(tbs.subject)).toString('hex'),
        spki: Buffer.from(AsnConvert.serialize(tbs.subjectPublicKeyInfo)).toString('hex'),
        extensions: Buffer.from(AsnConvert.serialize(tbs.extensions!)).toString('hex'),
      });
      assert.deepEqual(parts(b!), parts(a!));
      assert.equal(fresh.serial.length, 32);
      assert.equal(new X509Certificate(fresh.der).serialNumber.toLowerCase(), fresh.serial);
      assert.ok(new X509Certificate(fresh.der).verify(new X509Certificate(Buffer.from(issuer.certificate.rawData)).publicKey), 'signed by the issuer');
    });
  }

  void test('refuses a profile with no names, an over-long lifetime sign, or an expired issuer, as the generator path does', async () => {
    const issuer = await newIssuer(ISSUERS['ECDSA P-256']);
    const template = await leafTemplate(issuer, [x509.ExtendedKeyUsage.clientAuth]);
    const subject = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const spki = AsnConvert.parse(await webcrypto.subtle.exportKey('spki', subject.publicKey), SubjectPublicKeyInfo);
    const base: LeafProfile = { commonName: 'alpha.api', dnsNames: ['a.test'], extendedKeyUsages: [], lifetimeSeconds: 60, now: Date.now() };
    assert.throws(() => encodeLeafCertificate(template, spki, { ...base, dnsNames: [] }), /at least one DNS name, IP address or URI/);
    assert.throws(() => encodeLeafCertificate(template, spki, { ...base, lifetimeSeconds: 0 }), /positive whole number of seconds/);
    assert.throws(() => encodeLeafCertificate(template, spki, { ...base, now: Date.now() + 86_400_000 * 31 }), /issuing CA certificate expired/);
  });
});
