// PKCS#10 certificate signing requests (RFC 2986), checked before the CA looks at them: one
// well-formed request, a key type every TLS stack verifies, a signature that proves the requester
// holds the private key. What the request *asks for* (names) is returned for the caller to hold
// against the identity it proved; the CA never copies anything else from a CSR into a certificate.

import { createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraints, Extensions, SubjectAlternativeName, id_ce_basicConstraints, id_ce_subjectAltName } from '@peculiar/asn1-x509';
import type { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { KEY_TYPES, isKeyType, keyTypeOf } from '../policy/key-types.ts';
import { InvalidCertificateRequestError } from './errors.ts';
import { x509 } from './x509.ts';

/** Larger than any honest CSR (an RSA-8192 request is under 3 KiB), small enough to parse blindly. */
export const MAX_CSR_BYTES = 16 * 1024;

export interface RequestedNames {
  /** Subject attributes in order, e.g. `{ type: 'CN', value: 'alpha.api' }` (unknown types as OIDs). */
  subject: { type: string; value: string }[];
  dnsNames: string[];
  uris: string[];
  /** Every other SAN (IP address, e-mail, UPN, …) as `<type>:<value>`: never allowed in a service certificate. */
  otherNames: string[];
}

export interface CertificateRequest {
  publicKey: KeyObject;
  /** The SubjectPublicKeyInfo, for the certificate to carry byte for byte. */
  subjectPublicKeyInfo: SubjectPublicKeyInfo;
  /** For messages and the audit trail, e.g. `ECDSA P-256`. */
  keyType: string;
  requestedNames: RequestedNames;
}

interface SignatureAlgorithm {
  hash: 'sha256' | 'sha384' | 'sha512' | null;
  keyType: 'ec' | 'rsa' | 'ed25519';
}

const SIGNATURE_ALGORITHMS: Record<string, SignatureAlgorithm> = {
  '1.2.840.10045.4.3.2': { hash: 'sha256', keyType: 'ec' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', keyType: 'ec' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', keyType: 'ec' },
  '1.2.840.113549.1.1.11': { hash: 'sha256', keyType: 'rsa' },
  '1.2.840.113549.1.1.12': { hash: 'sha384', keyType: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', keyType: 'rsa' },
  '1.3.101.112': { hash: null, keyType: 'ed25519' },
};
const SHA1_SIGNATURES = new Set(['1.2.840.113549.1.1.5', '1.2.840.10045.4.1']);

const EXTENSION_REQUEST_OID = '1.2.840.113549.1.9.14';
const NOT_A_CSR =
  'the CSR is not a PKCS#10 certificate request (DER inside "-----BEGIN CERTIFICATE REQUEST-----"); make one with `openssl req -new` or `tessera cert`';
const CSR_BLOCK = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([^-]*)-----END (?:NEW )?CERTIFICATE REQUEST-----/g;
const ANY_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----/g;
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

function refuse(message: string): never {
  throw new InvalidCertificateRequestError(message);
}

/**
 * Parses and checks a CSR given as PEM, as bare base64 DER (the EST body) or as DER bytes.
 * @throws {InvalidCertificateRequestError} with a sentence that says what to fix.
 */
export function parseCsr(input: string | Uint8Array): CertificateRequest {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > MAX_CSR_BYTES) refuse(`the CSR is ${size} bytes; at most ${MAX_CSR_BYTES} are accepted (send one PKCS#10 request, nothing else)`);
  const der = typeof input === 'string' ? decodeText(input) : Buffer.from(input);

  // Parsed once, with the ASN.1 layer alone: the rest reads fields of this one structure, and
  // the key and signature are checked by node:crypto on the raw bytes.
  let csr: CertificationRequest;
  let layout: CsrLayout;
  try {
    layout = csrLayout(der);
    csr = AsnConvert.parse(der, CertificationRequest);
  } catch (cause) {
    if (cause instanceof InvalidCertificateRequestError) throw cause;
    refuse(NOT_A_CSR);
  }

  const { publicKey, keyType } = checkKey(layout.subjectPublicKeyInfo);
  checkSignature(csr, publicKey, layout);
  return { publicKey, subjectPublicKeyInfo: csr.certificationRequestInfo.subjectPKInfo, keyType, requestedNames: requestedNames(csr) };
}

function decodeText(text: string): Buffer {
  const blocks = [...text.matchAll(CSR_BLOCK)];
  const others = [...text.matchAll(ANY_BLOCK)].map((match) => match[1] ?? '').filter((label) => !/^(NEW )?CERTIFICATE REQUEST$/.test(label));
  if (others.includes('PRIVATE KEY') || others.some((label) => label.endsWith(' PRIVATE KEY'))) {
    refuse('the CSR text holds a private key; send only the certificate request (the private key never leaves the service)');
  }
  if (others.length > 0) refuse(`the CSR text holds a ${others[0]} block; send exactly one "CERTIFICATE REQUEST" block`);
  if (blocks.length > 1) refuse(`the CSR text holds ${blocks.length} certificate requests; send exactly one`);
  const body = blocks[0]?.[1] ?? (text.includes('-----') ? undefined : text);
  if (body === undefined || !BASE64.test(body) || body.trim() === '') {
    refuse('the CSR is neither PEM ("-----BEGIN CERTIFICATE REQUEST-----") nor base64 DER; send a PKCS#10 request');
  }
  return Buffer.from(body.replace(/\s+/g, ''), 'base64');
}

interface DerElement {
  /** Offset of the value's first byte. */
  start: number;
  /** Offset just past the value. */
  end: number;
}

/** The tag-length header of the DER element at `offset`; the CA reads only the outer layout of a CSR this way. */
function derElement(der: Uint8Array, offset: number, tag: number): DerElement {
  if (der[offset] !== tag) refuse(NOT_A_CSR);
  const first = der[offset + 1] ?? 0;
  let length = first;
  let start = offset + 2;
  if (first & 0x80) {
    const octets = first & 0x7f;
    if (octets === 0 || octets > 3) refuse(NOT_A_CSR);
    length = 0;
    for (let i = 0; i < octets; i += 1) length = length * 256 + (der[start + i] ?? 0);
    start += octets;
  }
  if (start + length > der.length) refuse('the CSR is truncated; send the whole request');
  return { start, end: start + length };
}

interface CsrLayout {
  /** The DER of CertificationRequestInfo: the bytes the signature covers. */
  signed: Uint8Array;
  /** The DER of the requester's SubjectPublicKeyInfo. */
  subjectPublicKeyInfo: Uint8Array;
}

/** The DER must be exactly one CertificationRequest: the parser would otherwise ignore bytes appended to it. */
function csrLayout(der: Uint8Array): CsrLayout {
  const outer = derElement(der, 0, 0x30);
  if (outer.end !== der.length) {
    refuse(`the CSR is not one DER certificate request: ${der.length - outer.end} bytes follow it; remove anything appended to the request`);
  }
  const info = derElement(der, outer.start, 0x30);
  // CertificationRequestInfo ::= SEQUENCE { version INTEGER, subject Name, subjectPKInfo, … }
  const version = derElement(der, info.start, 0x02);
  const subject = derElement(der, version.end, 0x30);
  const spki = derElement(der, subject.end, 0x30);
  return { signed: der.subarray(outer.start, info.end), subjectPublicKeyInfo: der.subarray(subject.end, spki.end) };
}

function checkKey(spki: Uint8Array): { publicKey: KeyObject; keyType: string } {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
  } catch {
    refuse(`the CSR's public key is of a type Tessera does not certify; use ${KEY_TYPES}`);
  }
  const type = keyTypeOf(publicKey);
  if (!isKeyType(type)) refuse(`the CSR's key is ${type.problem}`);
  return { publicKey, keyType: type.label };
}

function checkSignature(csr: CertificationRequest, publicKey: KeyObject, layout: CsrLayout): void {
  const oid = csr.signatureAlgorithm.algorithm;
  if (SHA1_SIGNATURES.has(oid)) refuse('the CSR is signed with SHA-1, which is broken; sign it with SHA-256 or stronger');
  const algorithm = SIGNATURE_ALGORITHMS[oid];
  if (algorithm === undefined) {
    refuse(`the CSR's signature algorithm (${oid}) is not supported; sign it with ECDSA, Ed25519 or RSA PKCS#1 v1.5 and SHA-256 or stronger`);
  }
  if (algorithm.keyType !== publicKey.asymmetricKeyType) {
    refuse(`the CSR's signature algorithm does not fit its ${publicKey.asymmetricKeyType ?? ''} key; the CSR must be signed by the key it carries`);
  }
  let valid = false;
  try {
    valid = verify(algorithm.hash, layout.signed, { key: publicKey, dsaEncoding: 'der' }, Buffer.from(csr.signature));
  } catch {
    valid = false;
  }
  if (!valid) refuse('the CSR signature does not verify with the key it carries; sign the CSR with the private key of that public key, and send it unmodified');
}

function requestedNames(csr: CertificationRequest): RequestedNames {
  const subject = new x509.Name(csr.certificationRequestInfo.subject)
    .toJSON()
    .flatMap((rdn) => Object.entries(rdn).flatMap(([type, values]) => values.map((value) => ({ type, value }))));
  const names: RequestedNames = { subject, dnsNames: [], uris: [], otherNames: [] };

  const extensions = requestedExtensions(csr);
  const sans = extensions.filter((extension) => extension.extnID === id_ce_subjectAltName);
  if (sans.length > 1) refuse('the CSR requests subjectAltName twice; request it at most once');
  const basic = extensions.find((extension) => extension.extnID === id_ce_basicConstraints);
  if (basic !== undefined && parseExtension(basic.extnValue.buffer, BasicConstraints).cA) {
    refuse('the CSR asks for a CA certificate (basicConstraints cA=true); service certificates are end-entity certificates, remove that extension');
  }
  const [san] = sans;
  if (san === undefined) return names;
  for (const name of parseExtension(san.extnValue.buffer, SubjectAlternativeName)) {
    if (name.dNSName !== undefined) names.dnsNames.push(name.dNSName);
    else if (name.uniformResourceIdentifier !== undefined) names.uris.push(name.uniformResourceIdentifier);
    else {
      // Rare and always refused: @peculiar/x509 words it as the messages always have.
      const [other] = new x509.GeneralNames([name]).items;
      if (other !== undefined) names.otherNames.push(`${SAN_LABELS[other.type] ?? other.type}:${other.value}`);
    }
  }
  return names;
}

/** The extensions of the first extensionRequest attribute (PKCS#9), as @peculiar/x509 reads them. */
function requestedExtensions(csr: CertificationRequest): Extensions {
  const attribute = csr.certificationRequestInfo.attributes.find((item) => item.type === EXTENSION_REQUEST_OID);
  const [value] = attribute?.values ?? [];
  return value === undefined ? new Extensions() : parseExtension(value, Extensions);
}

function parseExtension<T>(der: ArrayBuffer, type: new () => T): T {
  try {
    return AsnConvert.parse(der, type);
  } catch {
    return refuse('the CSR carries a malformed extension request; make the CSR again with `openssl req -new` or `tessera cert`');
  }
}

const SAN_LABELS: Record<string, string> = { ip: 'IP', email: 'email', upn: 'UPN', guid: 'GUID', id: 'registeredID' };
