// The one interface every way of proving an identity for a certificate implements (step-ca's
// provisioners: JWK, OIDC, X5C …). A proof answers one question — which principal does this
// request speak for? — and knows nothing of HTTP or of how the certificate is then made. The CA
// endpoints pick the proof by the request's `proof.type` (no proof: renewal over mTLS) and issue
// the certificate for the principal it returns, with the CSR's key.

import type { KeyObject } from 'node:crypto';
import { HttpError } from '../../http/errors.ts';
import { callerStanding } from '../../policy/service-standing.ts';
import type { ProvingKey, Service } from '../../storage/records.ts';
import type { Store } from '../../storage/store.ts';

export type ProofType = 'key-assertion' | 'join-token' | 'oidc-token' | 'renewal';

/** The proof types a request may name in `proof.type`; renewal is the absence of a proof. */
export const REQUEST_PROOF_TYPES = ['key-assertion', 'join-token', 'oidc-token'] as const;

/**
 * The client certificate the TLS layer (src/mtls) verified for this request, as DER. Both
 * `tls.PeerCertificate` and `crypto.X509Certificate` have this shape.
 */
export interface PeerCertificate {
  raw: Uint8Array;
}

export interface ProofInput {
  /** `proof.value` of the request: an assertion, join token or OIDC token. */
  value?: string;
  /** The CSR's public key: the key the certificate will certify. */
  csrPublicKey: KeyObject;
  peer?: PeerCertificate;
  /** The caller's address (fastify's request.ip, which believes X-Forwarded-For only from trustedProxies). */
  clientIp: string;
  /** Milliseconds since the epoch. */
  now: number;
}

export interface ProvenIdentity {
  principal: string;
  renewedFrom?: string;
  provedBy?: ProvingKey;
}

export interface CertificateProof {
  readonly type: ProofType;
  /**
   * The principal the request proved, or a ProofError saying what failed. A renewal also names
   * the serial it renews, recorded as the new certificate's lineage; a key assertion names the
   * registered key that proved it, whose removal revokes the certificate.
   */
  prove(input: ProofInput): Promise<ProvenIdentity>;
}

/**
 * 401 `invalid_proof`: the proof does not prove anything (bad signature, unknown, used or expired
 * token, no certificate). 403 `forbidden`: it proves a principal that may not have this
 * certificate (a CSR key the proof does not vouch for, a disabled service, an unmapped identity).
 * 503 `temporarily_unavailable`: the proof could not be checked now (an OIDC issuer's keys could
 * not be fetched); the same request may work on a retry.
 */
export class ProofError extends HttpError {
  declare readonly status: 401 | 403 | 503;
  declare readonly error: 'invalid_proof' | 'forbidden' | 'temporarily_unavailable';
  constructor(status: 401 | 403 | 503, message: string, options?: ErrorOptions) {
    const error = status === 401 ? 'invalid_proof' : status === 403 ? 'forbidden' : 'temporarily_unavailable';
    super(status, error, message, options === undefined || !('cause' in options) ? {} : { cause: options.cause });
  }
}

export const notProven = (message: string, options?: ErrorOptions): ProofError => new ProofError(401, message, options);
export const forbidden = (message: string): ProofError => new ProofError(403, message);

/**
 * Every proof ends here: a certificate is an identity for the service, so a disabled or expired
 * service gets none, however the request proved who it is; nor does a caller outside the
 * service's allowedIps, the rule the token endpoint applies (policy/service-standing.ts), or a
 * stolen key or certificate would go on minting identities from anywhere.
 */
export async function requireActiveService(
  store: Pick<Store, 'getService'>,
  principal: string,
  caller: Pick<ProofInput, 'clientIp' | 'now'>,
): Promise<Service> {
  const { clientIp, now } = caller;
  const service = await store.getService(principal);
  const standing = callerStanding(service, clientIp, now);
  if (service === null || standing === 'missing') {
    throw forbidden(`service ${principal} does not exist; an administrator must register it first`);
  }
  if (standing === 'disabled') throw forbidden(`service ${principal} is disabled; it gets no certificates until an administrator enables it`);
  if (standing === 'expired') {
    throw forbidden(`service ${principal} expired at ${new Date(service.expiresAt ?? now).toISOString()}; it gets no certificates`);
  }
  if (standing === 'outside-ranges') {
    throw forbidden(
      // The ranges are not named, as at the token endpoint: they map the service's network for whoever holds its credential.
      `${clientIp} is not in the allowed IP ranges of ${principal}; ` +
        'request certificates from an allowed address, or ask an administrator to change allowedIps',
    );
  }
  return service;
}
