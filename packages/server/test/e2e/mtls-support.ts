// What the mutual-TLS end-to-end tests share: certificates made on the spot (external CAs,
// their leaves, self-signed certificates), a Tessera service certificate obtained the way a
// service gets one (registered key → CSR + key assertion → POST /ca/v1/certificates), and an
// HTTPS client that presents a client certificate.

import assert from 'node:assert/strict';
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { SignJWT, decodeJwt, type JWTPayload } from 'jose';
import { exportPkcs8Pem, webcrypto, x509, type CryptoKeyPair } from '../../src/ca/x509.ts';
import { send, type TestResponse } from '@tessera/testkit/https';
import type { TestServer } from '@tessera/testkit/server';

const P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface TestCa {
  certPem: string;
  certificate: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export interface ClientCertificate {
  certPem: string;
  keyPem: string;
  /** base64url SHA-256 of the DER certificate: what `cnf.x5t#S256` must be. */
  thumbprint: string;
  /** Hex SHA-256 of the DER certificate, as `certLogin.mappings[].fingerprint` takes it. */
  fingerprintHex: string;
  serial: string;
  /** The intermediates a client sends after its certificate. */
  chainPem?: string;
}

export function newKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(P256, true, ['sign', 'verify']);
}

export async function publicKeyPem(keys: CryptoKeyPair): Promise<string> {
  const spki = await webcrypto.subtle.exportKey('spki', keys.publicKey);
  return x509.PemConverter.encode(spki, 'PUBLIC KEY');
}

export interface CaOptions {
  issuer?: TestCa;
  notBefore?: Date;
  notAfter?: Date;
  pathLength?: number;
  /** Added after the usual ones (e.g. name constraints, an unknown critical extension). */
  extensions?: x509.Extension[];
}

export async function makeCa(name: string, options: CaOptions = {}): Promise<TestCa> {
  const keys = await newKeys();
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: `CN=${name}, O=Test CAs`,
      issuer: options.issuer?.certificate.subject ?? `CN=${name}, O=Test CAs`,
      notBefore: options.notBefore ?? new Date(now - DAY),
      notAfter: options.notAfter ?? new Date(now + 365 * DAY),
      publicKey: keys.publicKey,
      signingKey: (options.issuer?.keys ?? keys).privateKey,
      signingAlgorithm: P256,
      extensions: [
        new x509.BasicConstraintsExtension(true, options.pathLength, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
        ...(options.issuer ? [await x509.AuthorityKeyIdentifierExtension.create(options.issuer.keys.publicKey, false, webcrypto)] : []),
        ...(options.extensions ?? []),
      ],
    },
    webcrypto,
  );
  return { certPem: `${certificate.toString('pem')}\n`, certificate, keys };
}

export interface LeafOptions {
  subject?: string;
  dns?: string[];
  uris?: string[];
  emails?: string[];
  ips?: string[];
  /** Extended key usage OIDs; null for no extension. Default: clientAuth. */
  eku?: string[] | null;
  notBefore?: Date;
  notAfter?: Date;
  keys?: CryptoKeyPair;
  /** Intermediates the client sends along. */
  chain?: TestCa[];
  /** Added after the usual ones. */
  extensions?: x509.Extension[];
}

/** A leaf signed by `issuer`, or self-signed when `issuer` is null. */
export async function makeLeaf(issuer: TestCa | null, options: LeafOptions = {}): Promise<ClientCertificate> {
  const keys = options.keys ?? (await newKeys());
  const now = Date.now();
  const subject = options.subject ?? `CN=client-${randomUUID().slice(0, 8)}, O=Example Corp`;
  const names: x509.JsonGeneralNames = [
    ...(options.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(options.emails ?? []).map((value) => ({ type: 'email' as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const eku = options.eku === undefined ? [x509.ExtendedKeyUsage.clientAuth] : options.eku;
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject,
      issuer: issuer?.certificate.subject ?? subject,
      notBefore: options.notBefore ?? new Date(now - 60_000),
      notAfter: options.notAfter ?? new Date(now + DAY),
      publicKey: keys.publicKey,
      signingKey: (issuer?.keys ?? keys).privateKey,
      signingAlgorithm: P256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        ...(eku === null ? [] : [new x509.ExtendedKeyUsageExtension(eku, false)]),
        ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
        ...(issuer ? [await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey, false, webcrypto)] : []),
        ...(options.extensions ?? []),
      ],
    },
    webcrypto,
  );
  const certPem = `${certificate.toString('pem')}\n`;
  return {
    ...describe(certPem),
    keyPem: await exportPkcs8Pem(keys.privateKey),
    ...(options.chain && { chainPem: options.chain.map((ca) => ca.certPem).join('') }),
  };
}

function describe(certPem: string): Omit<ClientCertificate, 'keyPem'> {
  const der = new X509Certificate(certPem).raw;
  return {
    certPem,
    thumbprint: createHash('sha256').update(der).digest('base64url'),
    fingerprintHex: createHash('sha256').update(der).digest('hex'),
    serial: new X509Certificate(certPem).serialNumber.toLowerCase(),
  };
}

/**
 * A Tessera service certificate for `principal`, the zts-svccert way: register a P-256 key on the
 * service, send a CSR for it with an assertion signed by it.
 */
export async function tesseraCertificate(t: TestServer, principal: string, keys?: CryptoKeyPair): Promise<ClientCertificate> {
  const pair = keys ?? (await newKeys());
  const dot = principal.lastIndexOf('.');
  const [domain, service] = [principal.slice(0, dot), principal.slice(dot + 1)];
  const kid = `k-${randomUUID().slice(0, 8)}`;
  const put = await t.admin$('PUT', `/domains/${domain}/services/${service}/keys/${kid}`, { pem: await publicKeyPem(pair) });
  if (put.status !== 201 && put.status !== 200 && put.status !== 204) throw new Error(`register key: ${put.status} ${put.text}`);
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(principal)
    .setSubject(principal)
    .setAudience(`${t.url}/ca/v1/certificates`)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(pair.privateKey);
  const res = await t.send('/ca/v1/certificates', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ csr: await csr(pair, principal), proof: { type: 'key-assertion', value: assertion } }),
  });
  if (res.status !== 201) throw new Error(`POST /ca/v1/certificates: ${res.status} ${res.text}`);
  return { ...describe(res.json.certificate as string), keyPem: await exportPkcs8Pem(pair.privateKey) };
}

/**
 * Renewal over mutual TLS (POST /ca/v1/certificates without a proof): presents `held` and asks
 * for a certificate for `keys` (new ones when absent). `renewed` is the new certificate on 201.
 */
export async function renewOverMtls(
  t: TestServer,
  held: ClientCertificate,
  principal: string,
  keys?: CryptoKeyPair,
): Promise<{ res: TestResponse; renewed?: ClientCertificate }> {
  const pair = keys ?? (await newKeys());
  const res = await sendMtls(t, '/ca/v1/certificates', {
    method: 'POST',
    client: held,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ csr: await csr(pair, principal) }),
  });
  if (res.status !== 201) return { res };
  return { res, renewed: { ...describe(res.json.certificate as string), keyPem: await exportPkcs8Pem(pair.privateKey) } };
}

/** A PKCS#10 request for `keys`, named for `principal`. */
export async function csr(keys: CryptoKeyPair, principal: string): Promise<string> {
  const request = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${principal}`, keys, signingAlgorithm: P256 }, webcrypto);
  return request.toString('pem');
}

export interface MtlsRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** The client certificate to present; none when absent. */
  client?: ClientCertificate;
  /** Source address, e.g. 127.0.0.2 (any 127/8 address works on loopback). */
  localAddress?: string;
}

/** One request on its own connection, so each test's certificate is the one the server sees. `t` may be a proxy in front of Tessera. */
export function sendMtls(t: Pick<TestServer, 'url' | 'ca'>, path: string, options: MtlsRequest = {}): Promise<TestResponse> {
  const { client, ...request } = options;
  return send(`${t.url}${path}`, {
    ...request,
    ca: t.ca,
    agent: false,
    ...(client && { cert: client.certPem + (client.chainPem ?? ''), key: client.keyPem }),
  });
}

/** POST a form to `path` (default the token endpoint) over mutual TLS. */
export function postForm(
  t: Pick<TestServer, 'url' | 'ca'>,
  params: Record<string, string>,
  options: Omit<MtlsRequest, 'body' | 'method'> & { path?: string } = {},
): Promise<TestResponse> {
  return sendMtls(t, options.path ?? '/oauth2/token', {
    ...options,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...options.headers },
    body: new URLSearchParams(params).toString(),
  });
}

/** The token endpoint's refusal of a client certificate: 401 invalid_client AUTH_101, never cached. */
export function assertRejected(res: TestResponse, description: RegExp): void {
  assert.equal(res.status, 401, res.text);
  assert.equal(res.json.error, 'invalid_client', res.text);
  assert.equal(res.json.error_code, 'AUTH_101', res.text);
  assert.match(res.json.error_description, description);
  assert.equal(res.headers['cache-control'], 'no-store');
}

export function claimsOf(res: TestResponse): JWTPayload & { cnf?: { 'x5t#S256'?: string } } {
  return decodeJwt(res.json.access_token as string);
}

/** nginx's `$ssl_client_escaped_cert`: the PEM, URL-encoded. */
export function escapedPem(pem: string): string {
  return encodeURIComponent(pem);
}

/** An extension no verifier knows (a private OID, DER NULL value). */
export function unknownExtension(critical: boolean): x509.Extension {
  return new x509.Extension('1.3.6.1.4.1.55555.7', critical, new Uint8Array([0x05, 0x00]));
}

/** RFC 5280 §4.2.1.10 nameConstraints permitting only dNSName `example.com`. */
export function nameConstraintsExtension(): x509.Extension {
  const der = [0x30, 0x11, 0xa0, 0x0f, 0x30, 0x0d, 0x82, 0x0b, ...Buffer.from('example.com')];
  return new x509.Extension('2.5.29.30', true, new Uint8Array(der));
}

/** RFC 5280 §4.2.1.11 policyConstraints with requireExplicitPolicy 0. */
export function policyConstraintsExtension(): x509.Extension {
  return new x509.Extension('2.5.29.36', true, new Uint8Array([0x30, 0x03, 0x80, 0x01, 0x00]));
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return Buffer.from(bytes).toString('hex');
}
