// The one path every certificate request takes, whatever door it came in by (the JSON API or
// EST): pass the gates the token endpoint's callers pass before they authenticate (the
// per-address rate limit), read the CSR, run the proof it names (renewal over mTLS when it names
// none) with the caller's address, then ask the CA to issue for the proven principal. The gates
// and the CSR come before the proof, so neither a flood nor a malformed CSR spends a one-time
// join token or assertion. What the CSR may ask for is
// the CA's rule (ca/service-identity.ts): a CSR naming anyone but the proven principal is refused.

import type { FastifyRequest } from 'fastify';
import type { TokenGate } from '../../oauth2/client-guard.ts';
import { OAuthError } from '../../oauth2/errors.ts';
import { parseCsr } from '../csr.ts';
import { CaRequestError } from './errors.ts';
import { ProofError, type CertificateProofs, type PeerCertificate, type ProofType } from '../proofs/index.ts';
import type { IssuedServiceCertificate, ServiceCertificateRequest } from '../service-certificate.ts';

/** What the endpoints need of the CA (ca/authority.ts). */
export interface EnrollingCa {
  /** The generation that signs now. */
  readonly id: string;
  /** The roots clients trust. */
  readonly bundlePem: string;
  /** The issuing intermediate then the root. */
  readonly chainPem: string;
  /** Issues the certificate and records it in the store before returning it. */
  issueServiceCertificate(request: ServiceCertificateRequest): Promise<IssuedServiceCertificate>;
}

export interface EnrollDeps {
  ca: EnrollingCa;
  proofs: CertificateProofs;
  /**
   * The request's client certificate, verified by the TLS layer (src/mtls): null when none was
   * presented; throws (code CLIENT_CERTIFICATE_REJECTED) when one was presented and refused.
   */
  peerCertificate(request: FastifyRequest): Promise<PeerCertificate | null>;
  /** The token endpoint's gates (guards/): their checks before authentication hold back a flood from one address. */
  gates: readonly TokenGate[];
  now(): number;
}

export interface EnrollRequest {
  /** PEM, or bare base64 DER (EST). */
  csrPem: string;
  /** Absent: renewal over mutual TLS. */
  proof?: { type: Exclude<ProofType, 'renewal'>; value: string };
  /** When the caller also named the principal it expects (EST's Basic user name), it must be the proven one. */
  expectedPrincipal?: string;
}

export async function enroll(deps: EnrollDeps, request: FastifyRequest, body: EnrollRequest): Promise<IssuedServiceCertificate> {
  const now = deps.now();
  const clientIp = request.ip;
  passGates(deps.gates, clientIp, now);
  const csr = parseCsr(body.csrPem);
  const type: ProofType = body.proof?.type ?? 'renewal';
  const proof = deps.proofs.get(type);
  if (!proof) throw new ProofError(401, `proof type "${type}" is not enabled on this server`);
  const peer = type === 'renewal' ? ((await deps.peerCertificate(request)) ?? undefined) : undefined;
  const { principal, renewedFrom, provedBy } = await proof.prove({ value: body.proof?.value, csrPublicKey: csr.publicKey, peer, clientIp, now });

  if (body.expectedPrincipal !== undefined && body.expectedPrincipal !== principal) {
    throw new ProofError(403, `the request names ${body.expectedPrincipal.slice(0, 200)}, but the join token is for ${principal}`);
  }
  const issued = await deps.ca.issueServiceCertificate({ csr, principal, now, renewedFrom, provedBy });
  request.log.info({ principal, serial: issued.serial, proof: type, notAfter: new Date(issued.expiresAt).toISOString() }, 'service certificate issued');
  return issued;
}

/** The gates speak OAuth (429 rate_limited, Retry-After); the CA answers in its own shape with the same headers. */
function passGates(gates: readonly TokenGate[], clientIp: string, now: number): void {
  try {
    for (const gate of gates) gate.beforeAuthentication?.({ clientIp, claimedClientId: undefined, now });
  } catch (error) {
    if (error instanceof OAuthError) throw new CaRequestError(error.status, error.error, error.message, error.headers);
    throw error;
  }
}
