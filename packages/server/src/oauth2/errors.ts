// Token endpoint errors: RFC 6749 §5.2 bodies (`error`, `error_description`) plus the
// `error_code` of SPEC §4.2 where one applies. These codes are a public contract.

export type OAuthErrorName =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'rate_limited'
  | 'temporarily_unavailable'
  | 'server_error';

export type AuthErrorCode = 'AUTH_101' | 'AUTH_103' | 'AUTH_104' | 'AUTH_106';

export class OAuthError extends Error {
  readonly status: number;
  readonly error: OAuthErrorName;
  readonly errorCode: AuthErrorCode | undefined;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    error: OAuthErrorName,
    description: string,
    options: { errorCode?: AuthErrorCode; headers?: Record<string, string> } = {},
  ) {
    super(description);
    this.status = status;
    this.error = error;
    this.errorCode = options.errorCode;
    this.headers = options.headers ?? {};
  }

  toBody(): { error: string; error_description: string; error_code?: string } {
    return this.errorCode
      ? { error: this.error, error_description: this.message, error_code: this.errorCode }
      : { error: this.error, error_description: this.message };
  }
}

export const invalidRequest = (description: string): OAuthError => new OAuthError(400, 'invalid_request', description);

/**
 * One answer for an unknown client and a wrong secret alike, so the endpoint does not reveal
 * which client ids exist. RFC 6749 §5.2: a client that used HTTP Basic gets WWW-Authenticate.
 */
export function invalidClient(usedBasic: boolean): OAuthError {
  return new OAuthError(401, 'invalid_client', 'client authentication failed: unknown client or wrong credentials', {
    errorCode: 'AUTH_101',
    headers: usedBasic ? { 'www-authenticate': 'Basic realm="tessera", charset="UTF-8"' } : {},
  });
}
