// The certificate refresher's one error class. Callers (and `failed` listeners) branch on `code`;
// when Tessera answered, its `error` and message are kept as it sent them.

/**
 * Why a certificate could not be obtained or kept:
 * - `ERR_CA_REFUSED`: the CA refused the request (4xx other than 408 and 429): a spent or
 *   unknown join token, a key that is not registered, a revoked certificate, a disabled service.
 * - `ERR_CA_UNAVAILABLE`: no answer, or 5xx, 408 or 429; worth another attempt later.
 * - `ERR_CA_ANSWER_INVALID`: a 201 whose certificate is not usable (not for our key or
 *   principal, no issuer in the chain, already expired).
 * - `ERR_PROOF_UNAVAILABLE`: the bootstrap proof could not be made (e.g. `oidcToken()` threw).
 * - `ERR_CERTIFICATE_EXPIRED`: the certificate expired before it could be renewed and the
 *   bootstrap proof cannot be used again (a join token works once); nothing more is tried.
 * - `ERR_FILES`: `outDir` could not be prepared, read or written.
 * - `ERR_REFRESHER_CLOSED`: `close()` was called.
 */
export type CertificateRefresherErrorCode =
  | 'ERR_CA_REFUSED'
  | 'ERR_CA_UNAVAILABLE'
  | 'ERR_CA_ANSWER_INVALID'
  | 'ERR_PROOF_UNAVAILABLE'
  | 'ERR_CERTIFICATE_EXPIRED'
  | 'ERR_FILES'
  | 'ERR_REFRESHER_CLOSED';

/** Details of a {@link CertificateRefresherError}; every field but `code` is optional. */
export interface CertificateRefresherErrorDetails {
  code: CertificateRefresherErrorCode;
  status?: number;
  error?: string;
  errorDescription?: string;
  retryAfter?: number;
  cause?: unknown;
}

/** A certificate request or renewal that failed; the message says what happened and what to do. */
export class CertificateRefresherError extends Error {
  override readonly name = 'CertificateRefresherError';
  /** Stable machine-readable reason. */
  readonly code: CertificateRefresherErrorCode;
  /** HTTP status of the CA's answer, when there was one. */
  readonly status: number | undefined;
  /** The CA's `error`, e.g. `invalid_proof` or `forbidden`. */
  readonly error: string | undefined;
  /** The CA's `message`: what it says to fix. */
  readonly errorDescription: string | undefined;
  /** Seconds the CA asked to wait (`Retry-After`), when it did. */
  readonly retryAfter: number | undefined;

  constructor(message: string, details: CertificateRefresherErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code;
    this.status = details.status;
    this.error = details.error;
    this.errorDescription = details.errorDescription;
    this.retryAfter = details.retryAfter;
  }

  /** True when the CA refused the request itself: the same request will be refused again. */
  get refused(): boolean {
    return this.code === 'ERR_CA_REFUSED';
  }
}
