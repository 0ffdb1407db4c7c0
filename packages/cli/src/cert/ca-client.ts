// Talks to Tessera's CA: `GET /ca/v1/bundle` and `POST /ca/v1/certificates`. The
// answer is checked before anything is written: a certificate for another key, or a chain
// that does not hold its issuer, would leave the service with files that cannot work.

import { X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { resolveUnder } from '../connection.ts';
import { CliError } from '../errors.ts';
import type { HttpClient } from '../http-client.ts';
import type { Proof } from './proofs.ts';
import { splitCertificates } from './out-dir.ts';

export const CERTIFICATES_PATH = '/ca/v1/certificates';
export const BUNDLE_PATH = '/ca/v1/bundle';

export function certificateEndpoint(server: URL): URL {
  return resolveUnder(server, CERTIFICATES_PATH);
}

export interface IssuedCertificate {
  leaf: X509Certificate;
  /** The leaf, then the intermediates of the chain: cert.pem. */
  certificatePem: string;
  /** The chain as the server returned it: chain.pem. */
  chainPem: string;
  /** The trust bundle, plus any root of the chain it lacks: ca.pem. */
  caPem: string;
}

export interface CertificateRequest {
  server: URL;
  csr: string;
  /** Absent for renewal: the client certificate on the connection proves the identity. */
  proof?: Proof;
  /** The private key of the CSR: the certificate must be for its public half. */
  key: KeyObject;
  /** Milliseconds since the epoch. */
  now: number;
}

/** Trust bundle first: if it cannot be had, nothing is spent (a join token works only once). */
export async function obtainCertificate(http: HttpClient, request: CertificateRequest): Promise<IssuedCertificate> {
  const bundle = await fetchBundle(http, request.server);
  const url = certificateEndpoint(request.server);
  const response = await http.send({
    method: 'POST',
    url,
    json: { csr: request.csr, ...(request.proof === undefined ? {} : { proof: request.proof }) },
    label: `certificate request to ${url.href}`,
  });
  return checkAnswer(response.body, bundle, request, url);
}

async function fetchBundle(http: HttpClient, server: URL): Promise<ParsedCertificate[]> {
  const url = resolveUnder(server, BUNDLE_PATH);
  const response = await http.send({
    method: 'GET',
    url,
    headers: { accept: 'application/pem-certificate-chain, text/plain;q=0.9, */*;q=0.1' },
    label: `trust bundle request to ${url.href}`,
  });
  const certificates = typeof response.body === 'string' ? splitCertificates(response.body) : [];
  const fail = (reason: string): CliError => new CliError(`trust bundle request to ${url.href}: ${reason}`);
  if (certificates.length === 0) throw fail('the answer holds no PEM certificate');
  return certificates.map((pem) => ({ pem, certificate: parseCertificate(pem, () => fail('the answer holds a certificate that does not parse')) }));
}

interface ParsedCertificate {
  pem: string;
  certificate: X509Certificate;
}

function checkAnswer(body: unknown, bundle: readonly ParsedCertificate[], request: CertificateRequest, url: URL): IssuedCertificate {
  const fail = (reason: string): CliError => new CliError(`certificate request to ${url.href}: ${reason}`);
  const fields = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  if (typeof fields.certificate !== 'string' || typeof fields.chain !== 'string') {
    throw fail('the answer lacks "certificate" or "chain" (is --server a Tessera server?)');
  }
  const leaf = parseCertificate(splitCertificates(fields.certificate)[0], () => fail('"certificate" holds no PEM certificate'));
  const chain: ParsedCertificate[] = splitCertificates(fields.chain).map((pem) => ({
    pem,
    certificate: parseCertificate(pem, () => fail('"chain" holds a certificate that does not parse')),
  }));
  if (!leaf.checkPrivateKey(request.key)) throw fail('the certificate is not for the key of the CSR');
  if (!chain.some(({ certificate }) => isIssuedBy(leaf, certificate))) {
    throw fail('the chain holds no certificate that issued the leaf');
  }
  if (leaf.validToDate.getTime() <= request.now) throw fail(`the certificate expired at ${leaf.validToDate.toISOString()}`);

  const intermediates = chain.filter(({ certificate }) => !isSelfSigned(certificate)).map(({ pem }) => pem);
  const bundleFingerprints = new Set(bundle.map(({ certificate }) => certificate.fingerprint256));
  const missingRoots = chain
    .filter(({ certificate }) => isSelfSigned(certificate) && !bundleFingerprints.has(certificate.fingerprint256))
    .map(({ pem }) => pem);
  return {
    leaf,
    certificatePem: pemFile([leaf.toString(), ...intermediates]),
    chainPem: pemFile(chain.map(({ pem }) => pem)),
    caPem: pemFile([...bundle.map(({ pem }) => pem), ...missingRoots]),
  };
}

function parseCertificate(pem: string | undefined, failure: () => CliError): X509Certificate {
  try {
    return new X509Certificate(pem ?? '');
  } catch {
    throw failure();
  }
}

function isIssuedBy(certificate: X509Certificate, issuer: X509Certificate): boolean {
  return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

function isSelfSigned(certificate: X509Certificate): boolean {
  return isIssuedBy(certificate, certificate);
}

function pemFile(pems: readonly string[]): string {
  return `${pems.map((pem) => pem.trim()).join('\n')}\n`;
}
