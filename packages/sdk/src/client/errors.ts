// The token client's one error class. Callers branch on `code` (stable, documented) and, when the
// server answered, on its OAuth `error` and Tessera `errorCode` (docs/errors.md).

/**
 * Why a token could not be obtained:
 * - `ERR_TOKEN_REJECTED`: the server refused the request (4xx except 408/429), or answered with a
 *   redirect (3xx, never followed: the request carries credentials); not retried, and the entry is
 *   no longer refreshed.
 * - `ERR_TOKEN_RATE_LIMITED`: 429 until the retries ran out; see `retryAfter`.
 * - `ERR_TOKEN_SERVER`: 5xx or 408 until the retries ran out.
 * - `ERR_TOKEN_NETWORK`: no answer (refused, reset, TLS failure, timeout) until the retries ran out.
 * - `ERR_TOKEN_RESPONSE_INVALID`: a 200 answer that is not a usable token response.
 * - `ERR_CREDENTIALS_UNUSABLE`: the credentials could not make a proof (e.g. a certificate source
 *   threw); not retried.
 * - `ERR_DISCOVERY_FAILED`: the issuer's metadata could not be read or names no token endpoint.
 * - `ERR_CLIENT_CLOSED`: `close()` was called.
 */
export type TokenClientErrorCode =
  | 'ERR_TOKEN_REJECTED'
  | 'ERR_TOKEN_RATE_LIMITED'
  | 'ERR_TOKEN_SERVER'
  | 'ERR_TOKEN_NETWORK'
  | 'ERR_TOKEN_RESPONSE_INVALID'
  | 'ERR_CREDENTIALS_UNUSABLE'
  | 'ERR_DISCOVERY_FAILED'
  | 'ERR_CLIENT_CLOSED';

/** Details of a {@link TokenClientError}; every field but `code` is optional. */
export interface TokenClientErrorDetails {
  code: TokenClientErrorCode;
  status?: number;
  error?: string;
  errorDescription?: string;
  errorCode?: string;
  retryAfter?: number;
  attempts?: number;
  cause?: unknown;
}

/** A token request that failed; the message says what happened and, where it can, what to fix. */
export class TokenClientError extends Error {
  override readonly name = 'TokenClientError';
  /** Stable machine-readable reason. */
  readonly code: TokenClientErrorCode;
  /** HTTP status of the last answer, when there was one. */
  readonly status: number | undefined;
  /** OAuth `error` of the last answer (RFC 6749 §5.2), e.g. `invalid_client`. */
  readonly error: string | undefined;
  /** `error_description` of the last answer. */
  readonly errorDescription: string | undefined;
  /** Tessera's `error_code` of the last answer, e.g. `AUTH_101`. */
  readonly errorCode: string | undefined;
  /** Seconds the server asked to wait (`Retry-After`), when it did. */
  readonly retryAfter: number | undefined;
  /** Requests sent before giving up. */
  readonly attempts: number;

  constructor(message: string, details: TokenClientErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code;
    this.status = details.status;
    this.error = details.error;
    this.errorDescription = details.errorDescription;
    this.errorCode = details.errorCode;
    this.retryAfter = details.retryAfter;
    this.attempts = details.attempts ?? 0;
  }

  /** True when the server refused the request itself, so asking again the same way cannot help. */
  get rejected(): boolean {
    return this.code === 'ERR_TOKEN_REJECTED';
  }
}
