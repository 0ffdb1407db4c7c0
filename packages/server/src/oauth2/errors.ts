// Token endpoint errors: RFC 6749 §5.2 bodies (`error`, `error_description`) plus the
// Tessera `error_code` (AUTH_1xx, docs/errors.md) where one applies. These codes are a public contract.
//
// RFC 6749 §5.2 allows only %x20-21 / %x23-5B / %x5D-7E in error_description (printable ASCII
// without '"' and '\'), and descriptions echo what the caller sent. errorDescription() is that
// rule's one home: every writer of an OAuth-style error text calls it (toBody() below, the JSON
// /auth/token dialect), so no message needs to be written with the grammar in mind. The SDK's
// RFC 6750 middleware keeps its own copy, as it cannot depend on the server.

import { BASIC_CHALLENGE } from '../http/authorization.ts';
import { HttpError } from '../http/errors.ts';

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

export class OAuthError extends HttpError {
  declare readonly error: OAuthErrorName;
  declare readonly code: AuthErrorCode | undefined;

  constructor(
    status: number,
    error: OAuthErrorName,
    description: string,
    options: { errorCode?: AuthErrorCode; headers?: Record<string, string> } = {},
  ) {
    super(status, error, description, { code: options.errorCode, headers: options.headers ?? {} });
  }

  get errorCode(): AuthErrorCode | undefined {
    return this.code;
  }

  toBody(): { error: string; error_description: string; error_code?: string } {
    const description = errorDescription(this.message);
    return this.errorCode
      ? { error: this.error, error_description: description, error_code: this.errorCode }
      : { error: this.error, error_description: description };
  }
}

/** Readable stand-ins for the excluded characters Tessera's own messages hold on purpose. */
const SPELLED_OUT: Readonly<Record<string, string>> = {
  '"': "'",
  '\\': '/',
  '§': 'section ',
  '…': '...',
  '—': '-',
  '–': '-',
  '‘': "'",
  '’': "'",
  '“': "'",
  '”': "'",
};

/** `text` within RFC 6749 §5.2's error_description grammar; any other character becomes '?'. */
export function errorDescription(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/gu, (character) => SPELLED_OUT[character] ?? '?');
}

export const invalidRequest = (description: string): OAuthError => new OAuthError(400, 'invalid_request', description);

/**
 * One answer for an unknown client and a wrong secret alike, so the endpoint does not reveal
 * which client ids exist. RFC 6749 §5.2: a client that used HTTP Basic gets WWW-Authenticate.
 */
export function invalidClient(usedBasic: boolean): OAuthError {
  return new OAuthError(401, 'invalid_client', 'client authentication failed: unknown client or wrong credentials', {
    errorCode: 'AUTH_101',
    headers: usedBasic ? { 'www-authenticate': BASIC_CHALLENGE } : {},
  });
}
