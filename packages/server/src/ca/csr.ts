// PKCS#10 certificate signing requests (RFC 2986), checked before the CA looks at them: one
// well-formed request, a key type every TLS stack verifies, a signature that proves the requester
// holds the private key. What the request *asks for* (names) is returned for the caller to hold
// against the identity it proved; the CA never copies anything else from a CSR into a certificate.

import { createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName } from '@peculiar/asn1-x509';
import { EC_PUBLIC_KEY_OID, KEY_TYPES, isKeyType, keyTypeOf, spkiProblem } from '../policy/key-types.ts';
import { DER, DerError, childrenOf, elementBytes, expectElement, readBitString, readElement, readOid, valueOf } from './der.ts';
import type { DerElement } from './der.ts';
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
  /** The SubjectPublicKeyInfo's DER, for the certificate to carry byte for byte. */
  subjectPublicKeyInfo: Uint8Array;
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
/** id-ecPublicKey (RFC 5480 §2.1.1). */
const COMMON_NAME_OID = '2.5.4.3';
const SUBJECT_ALT_NAME_OID = '2.5.29.17';
const BASIC_CONSTRAINTS_OID = '2.5.29.19';
/** GeneralName's dNSName [2] and uniformResourceIdentifier [6], IA5String IMPLICIT. */
const DNS_NAME_TAG = 0x82;
const URI_TAG = 0x86;
/** CertificationRequestInfo's attributes, [0] IMPLICIT SET OF Attribute. */
const ATTRIBUTES_TAG = 0xa0;
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

  // Read once with the strict DER reader (der.ts): the outline here, the names and the extension
  // request only once the signature has proved the requester holds the key. The key and the
  // signature are checked by node:crypto on the raw bytes.
  let layout: CsrLayout;
  try {
    layout = csrLayout(der);
  } catch (cause) {
    if (cause instanceof DerError) refuse(cause.truncated ? 'the CSR is truncated; send the whole request' : NOT_A_CSR);
    throw cause;
  }

  const { publicKey, keyType } = checkKey(layout.subjectPublicKeyInfo);
  checkSignature(layout, publicKey);
  return { publicKey, subjectPublicKeyInfo: layout.subjectPublicKeyInfo, keyType, requestedNames: requestedNames(der, layout) };
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

interface CsrLayout {
  /** The DER of CertificationRequestInfo: the bytes the signature covers. */
  signed: Uint8Array;
  /** The DER of the requester's SubjectPublicKeyInfo. */
  subjectPublicKeyInfo: Uint8Array;
  /** The subject Name, and its attributes (type and value element) in order. */
  subject: DerElement;
  subjectAttributes: { type: string; value: DerElement }[];
  /** The value of the first extensionRequest attribute (PKCS#9), if any. */
  extensionRequest: DerElement | undefined;
  signatureAlgorithm: string;
  signature: Uint8Array;
}

/**
 * RFC 2986 §4: CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm,
 * signature BIT STRING }, and nothing after it: a lax parser would ignore bytes appended to it.
 */
function csrLayout(der: Uint8Array): CsrLayout {
  // The tag first: something that is not a SEQUENCE is no CSR, rather than a truncated one.
  if (der[0] !== DER.SEQUENCE) throw new DerError('not a SEQUENCE');
  const outer = readElement(der, 0);
  if (outer.end !== der.length) {
    refuse(`the CSR is not one DER certificate request: ${der.length - outer.end} bytes follow it; remove anything appended to the request`);
  }
  const [info, algorithm, signature, ...extra] = childrenOf(der, outer);
  if (info?.tag !== DER.SEQUENCE || algorithm?.tag !== DER.SEQUENCE || signature === undefined || extra.length > 0) {
    throw new DerError('not a CertificationRequest');
  }
  // CertificationRequestInfo ::= SEQUENCE { version INTEGER, subject Name, subjectPKInfo, attributes [0] OPTIONAL }
  const [version, subject, spki, attributes, ...rest] = childrenOf(der, info);
  if (version?.tag !== DER.INTEGER || subject?.tag !== DER.SEQUENCE || spki?.tag !== DER.SEQUENCE || rest.length > 0) {
    throw new DerError('not a CertificationRequestInfo');
  }
  if (attributes !== undefined && attributes.tag !== ATTRIBUTES_TAG) throw new DerError('not a CertificationRequestInfo');

  // AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }
  // The OID alone picks how the signature is checked (SIGNATURE_ALGORITHMS); parameters are not read.
  const [oid, , ...more] = childrenOf(der, algorithm);
  if (oid === undefined || more.length > 0) throw new DerError('not an AlgorithmIdentifier');

  return {
    signed: elementBytes(der, info),
    subjectPublicKeyInfo: elementBytes(der, spki),
    subject,
    subjectAttributes: nameAttributes(der, subject),
    extensionRequest: attributes === undefined ? undefined : extensionRequestOf(der, attributes),
    signatureAlgorithm: readOid(der, oid),
    signature: readBitString(der, signature),
  };
}

/** Name ::= SEQUENCE OF SET OF AttributeTypeAndValue ::= SEQUENCE { type OID, value ANY }. */
function nameAttributes(der: Uint8Array, name: DerElement): CsrLayout['subjectAttributes'] {
  const attributes: CsrLayout['subjectAttributes'] = [];
  for (const rdn of childrenOf(der, name)) {
    if (rdn.tag !== DER.SET) throw new DerError('not a RelativeDistinguishedName');
    const members = childrenOf(der, rdn);
    if (members.length === 0) throw new DerError('an empty RelativeDistinguishedName');
    for (const member of members) {
      const [type, value, ...rest] = member.tag === DER.SEQUENCE ? childrenOf(der, member) : [];
      if (type === undefined || value === undefined || rest.length > 0) throw new DerError('not an AttributeTypeAndValue');
      attributes.push({ type: readOid(der, type), value });
    }
  }
  return attributes;
}

/** Attribute ::= SEQUENCE { type OID, values SET OF ANY }: the first value of the first extensionRequest. */
function extensionRequestOf(der: Uint8Array, attributes: DerElement): DerElement | undefined {
  let seen = false;
  let found: DerElement | undefined;
  for (const attribute of childrenOf(der, attributes)) {
    const [type, values, ...rest] = attribute.tag === DER.SEQUENCE ? childrenOf(der, attribute) : [];
    if (type === undefined || values?.tag !== DER.SET || rest.length > 0) throw new DerError('not an Attribute');
    const [first] = childrenOf(der, values);
    // The first extensionRequest counts, even with no value (then no extensions are requested).
    if (!seen && readOid(der, type) === EXTENSION_REQUEST_OID) [seen, found] = [true, first];
  }
  return found;
}

function checkKey(spki: Uint8Array): { publicKey: KeyObject; keyType: string } {
  // Before node:crypto reads it (policy/key-types.ts spkiProblem): BER, the point at infinity.
  const problem = spkiProblem(spki);
  if (problem?.kind === 'point') refuse(`the CSR's key is ${problem.text}`);
  if (problem) refuse(`the CSR's public key is not encoded as a certificate must carry it: ${encodingProblem(spki)}`);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
  } catch {
    refuse(`the CSR's public key is of a type Tessera does not certify; use ${KEY_TYPES}`);
  }
  const type = keyTypeOf(publicKey);
  if (!isKeyType(type)) refuse(`the CSR's key is ${type.problem}`);
  // The certificate carries these bytes as sent (the CSR's signature covers them), so they must be
  // the key's one DER encoding: node:crypto reads BER inside them (a long-form length), explicit EC
  // parameters and compressed points, all of which Go, rustls/webpki and Python cryptography
  // refuse in a certificate (RFC 5480 §2.1.1: namedCurve only; RFC 5280 §4.1: DER).
  if (!isDerEncoding(spki, publicKey, type.label)) refuse(`the CSR's public key is not encoded as a certificate must carry it: ${encodingProblem(spki)}`);
  return { publicKey, keyType: type.label };
}

// The DER encoding of a P-256, P-384 or Ed25519 key: these bytes, then the key's own of a fixed
// length (an uncompressed point, 0x04 || x || y, or the 32 bytes of an Ed25519 key). Nothing else
// in it can vary, so an SPKI node:crypto read as such a key is its DER when it is that long and
// starts so.
const FIXED_SPKI: Readonly<Record<string, { prefix: Buffer; length: number }>> = {
  'ECDSA P-256': { prefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex'), length: 91 },
  'ECDSA P-384': { prefix: Buffer.from('3076301006072a8648ce3d020106052b8104002203620004', 'hex'), length: 120 },
  Ed25519: { prefix: Buffer.from('302a300506032b6570032100', 'hex'), length: 44 },
};

/** Whether `spki` is the DER encoding of `publicKey` (read from it, of type `label`). */
function isDerEncoding(spki: Uint8Array, publicKey: KeyObject, label: string): boolean {
  const fixed = FIXED_SPKI[label];
  const bytes = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength);
  if (fixed) return bytes.length === fixed.length && bytes.subarray(0, fixed.prefix.length).equals(fixed.prefix);
  // Other keys (RSA) are encoded again from their numbers alone (JWK), which yields exactly that encoding.
  return createPublicKey({ key: publicKey.export({ format: 'jwk' }), format: 'jwk' })
    .export({ type: 'spki', format: 'der' })
    .equals(bytes);
}

/** Why an SPKI node:crypto reads is not the key's DER encoding, as the end of a sentence saying what to fix. */
function encodingProblem(spki: Uint8Array): string {
  const DER_ONLY = 'its SubjectPublicKeyInfo is not DER; make the CSR again with `openssl req -new` or `tessera cert`';
  try {
    const [algorithm, key] = childrenOf(spki, expectElement(spki, 0, DER.SEQUENCE));
    if (algorithm === undefined || key === undefined) return DER_ONLY;
    const [oid, parameters] = childrenOf(spki, algorithm);
    if (oid === undefined || readOid(spki, oid) !== EC_PUBLIC_KEY_OID) return DER_ONLY;
    if (parameters?.tag !== DER.OID) {
      return 'its EC key gives the curve as explicit parameters, which RFC 5480 forbids; use a named curve (P-256 or P-384), e.g. `openssl ecparam -name prime256v1 -genkey`';
    }
    const point = readBitString(spki, key);
    if (point[0] === 0x02 || point[0] === 0x03)
      return 'its EC point is compressed; send the key with its point uncompressed (`openssl ec -conv_form uncompressed`)';
  } catch (cause) {
    if (!(cause instanceof DerError)) throw cause;
  }
  return DER_ONLY;
}

function checkSignature(layout: CsrLayout, publicKey: KeyObject): void {
  const oid = layout.signatureAlgorithm;
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
    valid = verify(algorithm.hash, layout.signed, { key: publicKey, dsaEncoding: 'der' }, layout.signature);
  } catch {
    valid = false;
  }
  if (!valid) refuse('the CSR signature does not verify with the key it carries; sign the CSR with the private key of that public key, and send it unmodified');
}

function requestedNames(der: Uint8Array, layout: CsrLayout): RequestedNames {
  const names: RequestedNames = { subject: subjectOf(der, layout), dnsNames: [], uris: [], otherNames: [] };
  const MALFORMED = 'the CSR carries a malformed extension request; make the CSR again with `openssl req -new` or `tessera cert`';
  try {
    const extensions = layout.extensionRequest === undefined ? [] : extensionsOf(der, layout.extensionRequest);
    const sans = extensions.filter((extension) => extension.id === SUBJECT_ALT_NAME_OID);
    if (sans.length > 1) refuse('the CSR requests subjectAltName twice; request it at most once');
    const basic = extensions.find((extension) => extension.id === BASIC_CONSTRAINTS_OID);
    if (basic !== undefined && isCa(der, basic.value)) {
      refuse('the CSR asks for a CA certificate (basicConstraints cA=true); service certificates are end-entity certificates, remove that extension');
    }
    const [san] = sans;
    if (san !== undefined) addAltNames(der, san.value, names);
  } catch (cause) {
    if (cause instanceof InvalidCertificateRequestError) throw cause;
    refuse(MALFORMED);
  }
  return names;
}

/**
 * The subject's attributes as `{ type, value }`. A subject of CNs in ASCII PrintableString or
 * UTF8String (all a service's CSR may hold) is read here; anything else is refused by the caller,
 * and @peculiar/x509 words it (short names, other string types) as the messages always have.
 */
function subjectOf(der: Uint8Array, layout: CsrLayout): RequestedNames['subject'] {
  const plain = layout.subjectAttributes.every(
    ({ type, value }) => type === COMMON_NAME_OID && (value.tag === DER.PRINTABLE_STRING || value.tag === DER.UTF8_STRING) && isAscii(valueOf(der, value)),
  );
  if (plain) return layout.subjectAttributes.map(({ value }) => ({ type: 'CN', value: Buffer.from(valueOf(der, value)).toString('latin1') }));
  try {
    return new x509.Name(elementBytes(der, layout.subject))
      .toJSON()
      .flatMap((rdn) => Object.entries(rdn).flatMap(([type, values]) => values.map((value) => ({ type, value }))));
  } catch {
    return refuse(NOT_A_CSR);
  }
}

function isAscii(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte >= 0x80) return false;
  return true;
}

/** Extensions ::= SEQUENCE OF Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
function extensionsOf(der: Uint8Array, request: DerElement): { id: string; value: DerElement }[] {
  if (request.tag !== DER.SEQUENCE) throw new DerError('not Extensions');
  return childrenOf(der, request).map((extension) => {
    const parts = extension.tag === DER.SEQUENCE ? childrenOf(der, extension) : [];
    const [id, critical, value] = parts.length === 2 ? [parts[0], undefined, parts[1]] : parts;
    if (id === undefined || value?.tag !== DER.OCTET_STRING || parts.length > 3 || (critical !== undefined && critical.tag !== DER.BOOLEAN)) {
      throw new DerError('not an Extension');
    }
    return { id: readOid(der, id), value };
  });
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }. */
function isCa(der: Uint8Array, extnValue: DerElement): boolean {
  const constraints = expectElement(der, extnValue.start, DER.SEQUENCE, extnValue.end);
  if (constraints.end !== extnValue.end) throw new DerError('bytes after BasicConstraints');
  const [first, second, ...rest] = childrenOf(der, constraints);
  if (rest.length > 0 || (second !== undefined && second.tag !== DER.INTEGER)) throw new DerError('not BasicConstraints');
  if (first === undefined || first.tag === DER.INTEGER) return false;
  if (first.tag !== DER.BOOLEAN || first.end - first.start !== 1) throw new DerError('not BasicConstraints');
  // Any non-zero octet is read as true: the stricter reading would let a CA request through.
  return der[first.start] !== 0;
}

/** GeneralNames ::= SEQUENCE OF GeneralName: DNS names and URIs read here, any other kind worded by @peculiar/x509. */
function addAltNames(der: Uint8Array, extnValue: DerElement, names: RequestedNames): void {
  const generalNames = expectElement(der, extnValue.start, DER.SEQUENCE, extnValue.end);
  if (generalNames.end !== extnValue.end) throw new DerError('bytes after GeneralNames');
  for (const name of childrenOf(der, generalNames)) {
    // IA5String, read octet for octet as asn1js reads it.
    if (name.tag === DNS_NAME_TAG) names.dnsNames.push(Buffer.from(valueOf(der, name)).toString('latin1'));
    else if (name.tag === URI_TAG) names.uris.push(Buffer.from(valueOf(der, name)).toString('latin1'));
    else {
      // Rare and always refused: @peculiar/x509 words it as the messages always have.
      const [other] = new x509.GeneralNames([AsnConvert.parse(elementBytes(der, name), GeneralName)]).items;
      if (other !== undefined) names.otherNames.push(`${SAN_LABELS[other.type] ?? other.type}:${other.value}`);
    }
  }
}

const SAN_LABELS: Record<string, string> = { ip: 'IP', email: 'email', upn: 'UPN', guid: 'GUID', id: 'registeredID' };
