// Token endpoint errors: RFC 6749 §5.2 bodies (`error`, `error_description`) plus the
// Tessera `error_code` (AUTH_1xx, docs/errors.md) where one applies. These codes are a public contract.
//
// RFC 6749 §5.2 allows only %x20-21 / %x23-5B / %x5D-7E in error_description (printable ASCII
// without '"' and '\'), and descriptions echo what the caller sent. errorDescription() is that
// rule's one home: every writer of an OAuth-style error text calls it (oauthDialect() below, the
// JSON /auth/token dialect), so no message needs to be written with the grammar in mind. The SDK's
// RFC 6750 middleware keeps its own copy, as it cannot depend on the server.

import { BASIC_CHALLENGE, isBasic } from '../http/authorization.ts';
import { HttpError, type ErrorAnswer, type ErrorDialect } from '../http/errors.ts';

/** RFC 6749 §5.1 / §5.2: token and error answers are not cached. */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

export type OAuthErrorName =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'invalid_target'
  | 'rate_limited'
  | 'temporarily_unavailable'
  | 'server_error';

export type AuthErrorCode = 'AUTH_101' | 'AUTH_103' | 'AUTH_104' | 'AUTH_106';

export class OAuthError extends HttpError {
  declare readonly error: OAuthErrorName;
  declare readonly code: AuthErrorCode | undefined;

  constructor(status: number, error: OAuthErrorName, description: string, options: { errorCode?: AuthErrorCode; headers?: Record<string, string> } = {}) {
    super(status, error, description, { code: options.errorCode, headers: options.headers ?? {} });
  }

  get errorCode(): AuthErrorCode | undefined {
    return this.code;
  }

  toBody(): OAuthErrorBody {
    return oauthBody(this);
  }
}

export interface OAuthErrorBody {
  error: string;
  error_description: string;
  error_code?: string;
}

function oauthBody(answer: Pick<ErrorAnswer, 'error' | 'message' | 'code'>): OAuthErrorBody {
  const description = errorDescription(answer.message);
  return answer.code
    ? { error: answer.error, error_description: description, error_code: answer.code }
    : { error: answer.error, error_description: description };
}

/**
 * The OAuth endpoints' dialect: an RFC 6749 §5.2 body, never cached. An error the server
 * described (storage, Fastify) takes the OAuth name its status calls for, and Fastify's 415 for
 * an unknown media type is answered 400 invalid_request with `mediaTypeProblem`, as §5.2 does.
 * With `basicChallenge`, every 401 to a client that used HTTP Basic carries the Basic challenge.
 */
export function oauthDialect(options: { mediaTypeProblem: string; basicChallenge: boolean }): ErrorDialect {
  return (answer, request) => {
    const oauth = answer.generic ? describedAsOAuth(answer, options.mediaTypeProblem) : answer;
    const challenge: Record<string, string> =
      options.basicChallenge && oauth.status === 401 && isBasic(request.headers.authorization) ? { 'www-authenticate': BASIC_CHALLENGE } : {};
    return { status: oauth.status, headers: { ...NO_STORE, ...challenge, ...oauth.headers }, body: oauthBody(oauth) };
  };
}

function describedAsOAuth(answer: ErrorAnswer, mediaTypeProblem: string): ErrorAnswer {
  const error: OAuthErrorName = answer.status === 503 ? 'temporarily_unavailable' : answer.status >= 500 ? 'server_error' : 'invalid_request';
  if (answer.status === 415) return { ...answer, status: 400, error, message: mediaTypeProblem };
  return { ...answer, error };
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
