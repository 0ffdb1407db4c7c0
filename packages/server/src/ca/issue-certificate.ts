// The machinery every end-entity certificate goes through: Tessera's own TLS server certificate
// and the service (SPIFFE) certificates issued from CSRs. A caller describes the names and purposes; the
// invariants (cA=false, keyUsage digitalSignature, SKI/AKI, random serial, backdating, never
// outliving the issuer) are enforced here once.

import { createHash, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import type { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { DER, DerError, childrenOf, derElement, expectElement, readBitString } from './der.ts';
import { InvalidCaRecordError, InvalidCertificateRequestError } from './errors.ts';
import { MAX_COMMON_NAME } from './names.ts';
import { randomSerialNumber, webcrypto, wholeSeconds, x509 } from './x509.ts';
import type { CryptoKey, SigningKeyMaterial } from './x509.ts';

/** The issuing CA: its certificate and the private key that matches it. */
export interface Issuer {
  certificate: x509.X509Certificate;
  privateKey: CryptoKey;
  /** The same key as a KeyObject (see importSigningKey); required by leafTemplate. */
  signingKey?: KeyObject;
  /** Defaults to ECDSA with SHA-256, right for the generated P-256 CA. */
  signingAlgorithm?: SigningKeyMaterial['signingAlgorithm'];
}

/** What a leaf certificate says. Names must already be canonical (see names.ts). */
export interface LeafProfile {
  commonName: string;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  uris?: readonly string[];
  /** Extended key usage OIDs, e.g. x509.ExtendedKeyUsage.serverAuth. */
  extendedKeyUsages: readonly string[];
  lifetimeSeconds: number;
  /** Milliseconds since the epoch. */
  now: number;
}

/**
 * notBefore is set this far in the past so a peer whose clock runs a little behind ours does
 * not reject a certificate issued a moment ago (the same allowance step-ca makes).
 */
export const BACKDATE_SECONDS = 60;

/** version [0] EXPLICIT INTEGER v3(2). */
const V3 = Buffer.of(0xa0, 0x03, 0x02, 0x01, 0x02);

export async function issueLeafCertificate(issuer: Issuer, subjectPublicKey: CryptoKey | x509.PublicKey, profile: LeafProfile): Promise<x509.X509Certificate> {
  // URIs first: a service certificate's SPIFFE ID is its identity, the DNS name a convenience.
  const names: x509.JsonGeneralNames = [
    ...(profile.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(profile.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(profile.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length === 0) {
    // Modern verifiers match names against SANs only and ignore the CN.
    throw new InvalidCertificateRequestError('a certificate needs at least one DNS name, IP address or URI');
  }

  const { notBefore, notAfter } = leafValidity(issuer.certificate.notAfter.getTime(), profile);

  return x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialNumber(),
      subject: [{ CN: [profile.commonName] }],
      issuer: issuer.certificate.subjectName,
      notBefore,
      notAfter,
      publicKey: subjectPublicKey,
      signingKey: issuer.privateKey,
      signingAlgorithm: issuer.signingAlgorithm ?? { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([...profile.extendedKeyUsages], false),
        new x509.SubjectAlternativeNameExtension(names, false),
        await x509.SubjectKeyIdentifierExtension.create(subjectPublicKey, false, webcrypto),
        await authorityKeyIdentifier(issuer.certificate),
      ],
    },
    webcrypto,
  );
}

/**
 * RFC 5280 §4.2.1.1: the AKI must equal the issuer's SKI, so it is copied rather than
 * recomputed (an imported CA may have derived its SKI another way). Only a CA certificate
 * without an SKI falls back to hashing its key.
 */
async function authorityKeyIdentifier(issuerCertificate: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = issuerCertificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return new x509.AuthorityKeyIdentifierExtension(ski.keyId, false);
  return x509.AuthorityKeyIdentifierExtension.create(issuerCertificate.publicKey, false, webcrypto);
}

/** The checks and validity every leaf gets, whichever encoder builds it. */
function leafValidity(issuerNotAfter: number, profile: LeafProfile): { notBefore: Date; notAfter: Date } {
  const { commonName, lifetimeSeconds, now } = profile;
  if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds <= 0) {
    throw new InvalidCertificateRequestError(`certificate lifetime must be a positive whole number of seconds, got ${lifetimeSeconds}`);
  }
  if (commonName.length === 0 || commonName.length > MAX_COMMON_NAME) {
    throw new InvalidCertificateRequestError(`common name must be 1 to ${MAX_COMMON_NAME} characters: ${JSON.stringify(commonName)}`);
  }
  if (now >= issuerNotAfter) {
    throw new InvalidCaRecordError(`the issuing CA certificate expired at ${new Date(issuerNotAfter).toISOString()}`);
  }
  const notBefore = wholeSeconds(now - BACKDATE_SECONDS * 1000);
  // A certificate that outlives its issuer stops validating when the issuer expires anyway;
  // capping it makes its notAfter tell the truth to whoever schedules its renewal.
  const notAfter = wholeSeconds(Math.min(now + lifetimeSeconds * 1000, issuerNotAfter));
  return { notBefore, notAfter };
}

/**
 * What every certificate of one profile from one issuer shares, encoded once: issuing a
 * service certificate then only serialises the parts that differ (serial, validity, subject,
 * SAN, SKI) and signs with node:crypto: about 0.25 ms against 2.8 ms for @peculiar/x509's generator.
 */
export interface LeafTemplate {
  /** DER, as are the other shared parts: encoded once, copied into every certificate. */
  issuerName: Buffer;
  signatureAlgorithm: Buffer;
  signingKey: KeyObject;
  hash: 'sha256' | 'sha384';
  /** Milliseconds since the epoch. */
  issuerNotAfter: number;
  /** basicConstraints, keyUsage and extendedKeyUsage, in the order the generator path writes them, DER. */
  leading: Buffer;
  authorityKeyIdentifier: Buffer;
}

export interface EncodedLeaf {
  der: Buffer;
  /** Hex, lower-case, as the certificate carries it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** The signature AlgorithmIdentifier for each key a CA may sign with (see importSigningKey). */
function signatureAlgorithmOf(key: KeyObject, hash: 'sha256' | 'sha384'): AlgorithmIdentifier {
  if (key.asymmetricKeyType === 'ec') return new AlgorithmIdentifier({ algorithm: hash === 'sha256' ? '1.2.840.10045.4.3.2' : '1.2.840.10045.4.3.3' });
  if (key.asymmetricKeyType === 'rsa' && hash === 'sha256') {
    return new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: new Uint8Array([0x05, 0x00]).buffer });
  }
  throw new InvalidCaRecordError(`the issuing key (${key.asymmetricKeyType ?? 'unknown'} with ${hash}) is not one a CA signs with`);
}

export async function leafTemplate(issuer: Issuer, extendedKeyUsages: readonly string[]): Promise<LeafTemplate> {
  // KeyObject.from() on a non-extractable CryptoKey is deprecated (DEP0204), so the KeyObject
  // comes from where the key was opened.
  const { signingKey } = issuer;
  if (signingKey === undefined) throw new InvalidCaRecordError('the issuing key was opened without a KeyObject to sign service certificates with');
  const algorithm = issuer.signingAlgorithm as { hash?: string | { name: string } } | undefined;
  const hashName = typeof algorithm?.hash === 'string' ? algorithm.hash : (algorithm?.hash?.name ?? 'SHA-256');
  const hash = hashName === 'SHA-384' ? 'sha384' : 'sha256';
  const asExtension = (extension: x509.Extension): Buffer => Buffer.from(extension.rawData);
  return {
    issuerName: Buffer.from(issuer.certificate.subjectName.toArrayBuffer()),
    signatureAlgorithm: Buffer.from(AsnConvert.serialize(signatureAlgorithmOf(signingKey, hash))),
    signingKey,
    hash,
    issuerNotAfter: issuer.certificate.notAfter.getTime(),
    leading: Buffer.concat([
      asExtension(new x509.BasicConstraintsExtension(false, undefined, true)),
      asExtension(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)),
      asExtension(new x509.ExtendedKeyUsageExtension([...extendedKeyUsages], false)),
    ]),
    authorityKeyIdentifier: asExtension(await authorityKeyIdentifier(issuer.certificate)),
  };
}

/** Encoded OBJECT IDENTIFIERs (tag, length, value) of the parts written per certificate. */
const OIDS = {
  commonName: Buffer.of(0x06, 0x03, 0x55, 0x04, 0x03),
  subjectAltName: Buffer.of(0x06, 0x03, 0x55, 0x1d, 0x11),
  subjectKeyIdentifier: Buffer.of(0x06, 0x03, 0x55, 0x1d, 0x0e),
};
/** GeneralName's dNSName [2] and uniformResourceIdentifier [6], IA5String IMPLICIT. */
const DNS_NAME_TAG = 0x82;
const URI_TAG = 0x86;

/**
 * The same certificate issueLeafCertificate builds (names: URIs then DNS names; no IP
 * addresses), from a template and the subject's SubjectPublicKeyInfo (DER, or as parsed).
 */
export function encodeLeafCertificate(template: LeafTemplate, spki: SubjectPublicKeyInfo | Uint8Array, profile: LeafProfile): EncodedLeaf {
  const { uris = [], dnsNames = [] } = profile;
  if ((profile.ipAddresses ?? []).length > 0) throw new InvalidCertificateRequestError('IP address SANs are not issued through a leaf template');
  if (uris.length + dnsNames.length === 0) {
    throw new InvalidCertificateRequestError('a certificate needs at least one DNS name, IP address or URI');
  }
  const { notBefore, notAfter } = leafValidity(template.issuerNotAfter, profile);
  const serial = randomSerialNumber();
  const spkiDer = spki instanceof Uint8Array ? spki : new Uint8Array(AsnConvert.serialize(spki));

  // TBSCertificate (RFC 5280 §4.1) assembled from DER parts, each written here in a few lines of
  // DER: no ASN.1 serialiser on the path. The encoder tests hold it byte-equal to the generator's.
  const names = derElement(DER.SEQUENCE, ...uris.map((uri) => derElement(URI_TAG, ia5(uri))), ...dnsNames.map((dns) => derElement(DNS_NAME_TAG, ia5(dns))));
  // RFC 5280 §4.2.1.2 method (1): the SHA-1 of the subjectPublicKey BIT STRING's bits.
  const keyId = createHash('sha1').update(subjectPublicKeyOf(spkiDer)).digest();
  const extensions = Buffer.concat([
    template.leading,
    derElement(DER.SEQUENCE, OIDS.subjectAltName, derElement(DER.OCTET_STRING, names)),
    derElement(DER.SEQUENCE, OIDS.subjectKeyIdentifier, derElement(DER.OCTET_STRING, derElement(DER.OCTET_STRING, keyId))),
    template.authorityKeyIdentifier,
  ]);
  const extensionsSequence = derElement(DER.SEQUENCE, extensions);
  const serialBytes = Buffer.from(serial, 'hex');
  const tbsDer = derElement(
    DER.SEQUENCE,
    V3,
    derElement(DER.INTEGER, serialBytes),
    template.signatureAlgorithm,
    template.issuerName,
    derElement(DER.SEQUENCE, derTime(notBefore), derTime(notAfter)),
    commonNameOnly(profile.commonName),
    spkiDer,
    derElement(0xa3, extensionsSequence),
  );
  const signature = sign(template.hash, tbsDer, { key: template.signingKey, dsaEncoding: 'der' });
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }:
  // assembled from the parts already encoded rather than serialising the TBS a second time.
  const der = derElement(DER.SEQUENCE, tbsDer, template.signatureAlgorithm, derElement(DER.BIT_STRING, Buffer.of(0), signature));
  return { der, serial, notBefore, notAfter };
}

/** SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }: the key's bits. */
function subjectPublicKeyOf(spki: Uint8Array): Uint8Array {
  try {
    const [algorithm, key, ...rest] = childrenOf(spki, expectElement(spki, 0, DER.SEQUENCE));
    if (algorithm?.tag !== DER.SEQUENCE || key === undefined || rest.length > 0) throw new DerError('not a SubjectPublicKeyInfo');
    return readBitString(spki, key);
  } catch (cause) {
    if (!(cause instanceof DerError)) throw cause;
    throw new InvalidCertificateRequestError('the subject public key is not a DER SubjectPublicKeyInfo');
  }
}

/** RFC 5280 §4.1.2.5: UTCTime for 1950 to 2049, GeneralizedTime otherwise; whole seconds, in UTC. */
function derTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const iso = date.toISOString();
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return year >= 1950 && year < 2050
    ? derElement(DER.UTC_TIME, Buffer.from(digits.slice(2), 'latin1'))
    : derElement(DER.GENERALIZED_TIME, Buffer.from(digits, 'latin1'));
}

/** IA5String octets (names are canonical ASCII by now; see names.ts). */
function ia5(value: string): Buffer {
  if (!/^[\x00-\x7f]*$/.test(value)) throw new InvalidCertificateRequestError(`a certificate name must be ASCII: ${JSON.stringify(value)}`);
  return Buffer.from(value, 'latin1');
}

/** As @peculiar/x509's Name does it: PrintableString when the value allows, else UTF8String. */
function commonNameOnly(commonName: string): Buffer {
  const value = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(commonName)
    ? derElement(DER.PRINTABLE_STRING, Buffer.from(commonName, 'latin1'))
    : derElement(DER.UTF8_STRING, Buffer.from(commonName, 'utf8'));
  return derElement(DER.SEQUENCE, derElement(DER.SET, derElement(DER.SEQUENCE, OIDS.commonName, value)));
}
