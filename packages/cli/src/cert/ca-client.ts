// Talks to Tessera's CA: `GET /ca/v1/bundle` and `POST /ca/v1/certificates`. The
// answer is checked before anything is written: a certificate for another key, or a chain
// that does not hold its issuer, would leave the service with files that cannot work.

import { X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { resolveUnder } from '../connection.ts';
import { CliError } from '../errors.ts';
import type { HttpClient } from '../http-client.ts';
import type { CertificateProof, IssueAnswer } from '@tessera/sdk';
import { checkIssuedCertificate, splitCertificates } from '../sdk.ts';

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
  proof?: CertificateProof;
  /** The private key of the CSR: the certificate must be for its public half. */
  key: KeyObject;
  /** Milliseconds since the epoch. */
  now: number;
}

/** Trust bundle first: if it cannot be had, nothing is spent (a join token works only once). */
export async function obtainCertificate(http: HttpClient, request: CertificateRequest): Promise<IssuedCertificate> {
  const bundle = await fetchBundle(http, request.server);
  const url = certificateEndpoint(request.server);
  const answer = await postCertificateRequest(http, url, request.csr, request.proof);
  const checked = checkIssuedCertificate(answer, bundle, request.key, request.now);
  if ('problem' in checked) throw answerError(url, checked.problem);
  return { leaf: checked.leaf, certificatePem: checked.certificate, chainPem: checked.chain, caPem: checked.ca };
}

/** `POST /ca/v1/certificates`: the answer's certificate and chain, not yet checked. */
export async function postCertificateRequest(http: HttpClient, url: URL, csr: string, proof: CertificateProof | undefined): Promise<IssueAnswer> {
  const response = await http.send({
    method: 'POST',
    url,
    json: { csr, ...(proof === undefined ? {} : { proof }) },
    label: `certificate request to ${url.href}`,
  });
  const fields = response.body !== null && typeof response.body === 'object' ? (response.body as Record<string, unknown>) : {};
  if (typeof fields.certificate !== 'string' || typeof fields.chain !== 'string') {
    throw answerError(url, 'the answer lacks "certificate" or "chain" (is --server a Tessera server?)');
  }
  return { certificate: fields.certificate, chain: fields.chain };
}

/** What is wrong with an answer (the SDK's checks, those of the certificate refresher), named after the request. */
export function answerError(url: URL, problem: string): CliError {
  return new CliError(`certificate request to ${url.href}: ${problem}`);
}

/** The PEM trust bundle, each certificate of it parsed. */
export async function fetchBundle(http: HttpClient, server: URL): Promise<string> {
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
  if (!certificates.every(parses)) throw fail('the answer holds a certificate that does not parse');
  return certificates.join('\n');
}

function parses(pem: string): boolean {
  try {
    return new X509Certificate(pem).raw.length > 0;
  } catch {
    return false;
  }
}
