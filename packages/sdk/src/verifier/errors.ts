// The verifier's errors: classes with a stable `code` a caller branches on (docs/errors.md), and the
// RFC 6750 answer each one becomes (`status`, `error`). The mapping is a public contract:
//
// | class                     | code                 | status | error                    |
// | ------------------------- | -------------------- | ------ | ------------------------ |
// | MissingTokenError         | AUTH_105             | 401    | none (RFC 6750 §3.1)     |
// | InvalidRequestError       | AUTH_105             | 400    | invalid_request          |
// | InvalidTokenError         | AUTH_105             | 401    | invalid_token            |
// | InvalidAudienceError      | AUTH_107             | 401    | invalid_token            |
// | InsufficientScopeError    | AUTH_102             | 403    | insufficient_scope       |
// | VerifierUnavailableError  | VERIFIER_UNAVAILABLE | 503    | temporarily_unavailable  |
//
// Expired, not yet valid, issued in the future, wrong issuer, wrong `typ`, a refused algorithm,
// an unknown key, a bad signature, a malformed or oversized token and a certificate-binding
// mismatch are all AUTH_105: the token cannot be accepted as it is, and `reason` says why.

/** Why a token was refused, for logs and metrics; the message says the same in a sentence. */
export type InvalidTokenReason =
  | 'malformed'
  | 'too_large'
  | 'algorithm'
  | 'type'
  | 'key'
  | 'signature'
  | 'issuer'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'claims'
  | 'binding'
  | 'inactive'
  | 'delegation';

export type VerifierErrorCode = 'AUTH_102' | 'AUTH_105' | 'AUTH_107' | 'VERIFIER_UNAVAILABLE';

export abstract class VerifierError extends Error {
  abstract readonly code: VerifierErrorCode;
  /** The HTTP status a resource server answers with. */
  abstract readonly status: 400 | 401 | 403 | 503;
  /** The RFC 6750 `error` value, or null when the request carried no credential at all. */
  abstract readonly error: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'temporarily_unavailable' | null;
}

/** The request carried no credential this resource server accepts. */
export class MissingTokenError extends VerifierError {
  override readonly name = 'MissingTokenError';
  readonly code = 'AUTH_105';
  readonly status = 401;
  readonly error = null;
}

/** The Authorization header is malformed (RFC 6750 §3.1 invalid_request). */
export class InvalidRequestError extends VerifierError {
  override readonly name = 'InvalidRequestError';
  readonly code = 'AUTH_105';
  readonly status = 400;
  readonly error = 'invalid_request';
}

/** The token is not acceptable: format, algorithm, key, signature, time, issuer, type or binding. */
export class InvalidTokenError extends VerifierError {
  override readonly name = 'InvalidTokenError';
  readonly code = 'AUTH_105';
  readonly status = 401;
  readonly error = 'invalid_token';
  readonly reason: InvalidTokenReason;
  constructor(reason: InvalidTokenReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** The token was issued for another audience. */
export class InvalidAudienceError extends VerifierError {
  override readonly name = 'InvalidAudienceError';
  readonly code = 'AUTH_107';
  readonly status = 401;
  readonly error = 'invalid_token';
}

/** The token is valid but does not carry what the route requires. */
export class InsufficientScopeError extends VerifierError {
  override readonly name = 'InsufficientScopeError';
  readonly code = 'AUTH_102';
  readonly status = 403;
  readonly error = 'insufficient_scope';
  /** Scope items that would satisfy the route, for the challenge's `scope` attribute. */
  readonly requiredScope: readonly string[];
  constructor(message: string, requiredScope: readonly string[]) {
    super(message);
    this.requiredScope = requiredScope;
  }
}

/**
 * The verifier could not reach what it needs (discovery, JWKS or introspection): not the
 * caller's fault, and a retry later may succeed.
 */
export class VerifierUnavailableError extends VerifierError {
  override readonly name = 'VerifierUnavailableError';
  readonly code = 'VERIFIER_UNAVAILABLE';
  readonly status = 503;
  readonly error = 'temporarily_unavailable';
}
