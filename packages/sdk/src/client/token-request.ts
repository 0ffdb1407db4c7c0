// One token request as the caller sees it: attempts, backoff and Retry-After inside, a parsed
// token response or one TokenClientError out. Which answers are worth another attempt follows
// RFC 6749 and RFC 9110: network failures, 408, 429 and 5xx are; any other 4xx is the server
// refusing this client or this scope, which asking again cannot change.

import { decodeJwt } from 'jose';
import { createClientProver, type ClientProver, type RequestProof } from './credentials.ts';
import { TokenClientError, type TokenClientErrorCode } from './errors.ts';
import type { Credentials } from './options.ts';
import { backoffDelay, parseRetryAfter, sleep, type RetryPolicy } from './retry.ts';
import { nodeTransport, type Transport, type TransportResponse } from './transport.ts';

/** A successful token response as the token client caches it: checked, camelCase, lifetime always known. */
export interface IssuedToken {
  accessToken: string;
  /** Lifetime in seconds as granted. */
  expiresIn: number;
  scope: string | undefined;
  idToken: string | undefined;
}

/** What a token request needs from the client that sends it. */
export interface TokenRequestContext {
  transport: Transport;
  prover: Pick<ClientProver, 'prove'>;
  retry: RetryPolicy;
  clock: () => number;
  signal: AbortSignal;
}

/** A client_credentials token request, retried as the policy allows. */
export async function requestToken(ctx: TokenRequestContext, tokenEndpoint: string, scope: string, expiresIn: number | undefined): Promise<IssuedToken> {
  const res = await sendTokenRequest(ctx, tokenEndpoint, tokenRequestForm({ scope, expiresIn }), `token request to ${tokenEndpoint}`);
  return parseTokenResponse(res.response, tokenEndpoint, res.attempts);
}

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE_URN = 'urn:ietf:params:oauth:token-type:access_token';
export const ID_TOKEN_TYPE_URN = 'urn:ietf:params:oauth:token-type:id_token';

/** What a subject token is: the caller's access token, or an ID token Tessera issued for this service (where a role allows it). */
export type SubjectTokenType = 'access_token' | 'id_token';

/** What one token request asks for, besides the client's own proof (docs/tokens.md). */
export interface TokenGrant {
  /** Space-separated scope items, sent as given. */
  scope: string;
  expiresIn?: number | undefined;
  /** RFC 8693: the subject's access token; the request becomes a token exchange. */
  subjectToken?: string | undefined;
  /** With `subjectToken`: `id_token` when it is an ID token issued for this service (default `access_token`). */
  subjectTokenType?: SubjectTokenType | undefined;
  /** With `subjectToken`: ask for an impersonation token instead of a delegated one. */
  impersonation?: boolean | undefined;
  /** Athenz's `proxy_for_principal`: a client_credentials token for this principal. */
  proxyForPrincipal?: string | undefined;
}

/** The form parameters of a token request: client_credentials, with proxy_for_principal, or an RFC 8693 exchange. */
export function tokenRequestForm(grant: TokenGrant): Record<string, string> {
  const form: Record<string, string> =
    grant.subjectToken === undefined
      ? { grant_type: 'client_credentials', scope: grant.scope }
      : {
          grant_type: TOKEN_EXCHANGE_GRANT,
          subject_token: grant.subjectToken,
          subject_token_type: grant.subjectTokenType === 'id_token' ? ID_TOKEN_TYPE_URN : ACCESS_TOKEN_TYPE_URN,
          scope: grant.scope,
        };
  if (grant.impersonation === true) form['impersonation'] = 'true';
  if (grant.proxyForPrincipal !== undefined) form['proxy_for_principal'] = grant.proxyForPrincipal;
  if (grant.expiresIn !== undefined) form['expires_in'] = String(grant.expiresIn);
  return form;
}

/** Checks the subject of a grant; a TypeError saying what to fix. */
export function checkGrantSubject(grant: Pick<TokenGrant, 'subjectToken' | 'impersonation' | 'proxyForPrincipal'>, names = GRANT_NAMES): void {
  const { subjectToken, proxyForPrincipal, impersonation } = grant;
  if (subjectToken !== undefined && (typeof subjectToken !== 'string' || !/^\S+$/.test(subjectToken))) {
    throw new TypeError(`${names.subjectToken} must be the subject's access token (a non-empty string without spaces)`);
  }
  if (proxyForPrincipal !== undefined && (typeof proxyForPrincipal !== 'string' || !/^[^\s:]+$/.test(proxyForPrincipal))) {
    throw new TypeError(`${names.proxyForPrincipal} must be a principal name such as "alpha.api" (no spaces or colons)`);
  }
  if (subjectToken !== undefined && proxyForPrincipal !== undefined) {
    throw new TypeError(`give ${names.subjectToken} (token exchange) or ${names.proxyForPrincipal} (proxy_for_principal), not both`);
  }
  if (impersonation !== undefined && typeof impersonation !== 'boolean') throw new TypeError(`${names.impersonation} must be true or false`);
  if (impersonation === true && subjectToken === undefined) {
    throw new TypeError(`${names.impersonation} needs ${names.subjectToken}: only an exchanged token can impersonate`);
  }
}

const GRANT_NAMES = { subjectToken: 'subjectToken', proxyForPrincipal: 'proxyForPrincipal', impersonation: 'impersonation' };

/** The form of a token request, proven afresh for every attempt. */
export function sendTokenRequest(ctx: TokenRequestContext, tokenEndpoint: string, form: Record<string, string>, what: string): Promise<RetriedResponse> {
  return withRetries(ctx, what, async () => {
    let proof: RequestProof;
    try {
      proof = await ctx.prover.prove(tokenEndpoint, ctx.clock());
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new TokenClientError(`the credentials could not be used: ${reason}`, { code: 'ERR_CREDENTIALS_UNUSABLE', cause });
    }
    return ctx.transport.send(tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...proof.headers },
      body: new URLSearchParams({ ...form, ...proof.form }).toString(),
      tls: proof.tls,
      signal: ctx.signal,
    });
  });
}

/** How a request is named in errors. */
export function describeRequest(form: Record<string, string>, tokenEndpoint: string): string {
  if (form['grant_type'] === TOKEN_EXCHANGE_GRANT) return `token exchange at ${tokenEndpoint}`;
  if (form['proxy_for_principal'] !== undefined) return `token request for ${form['proxy_for_principal']} at ${tokenEndpoint}`;
  return `token request to ${tokenEndpoint}`;
}

/** A 2xx answer and how many attempts it took. */
export interface RetriedResponse {
  response: TransportResponse;
  attempts: number;
}

/** Sends until a 2xx or a final answer; throws TokenClientError for everything else. */
export async function withRetries(ctx: TokenRequestContext, what: string, send: () => Promise<TransportResponse>): Promise<RetriedResponse> {
  const started = ctx.clock();
  for (let attempt = 1; ; attempt++) {
    let failure: TokenClientError;
    let waitAtLeast = 0;
    try {
      const response = await send();
      if (response.status >= 200 && response.status < 300) return { response, attempts: attempt };
      failure = errorFromAnswer(response, what, attempt, ctx.clock());
      if (failure.code === 'ERR_TOKEN_REJECTED') throw failure;
      waitAtLeast = (failure.retryAfter ?? 0) * 1000;
    } catch (cause) {
      if (cause instanceof TokenClientError) throw cause;
      if (ctx.signal.aborted) throw closedError(cause);
      const reason = cause instanceof Error ? cause.message : String(cause);
      failure = new TokenClientError(`${what} failed after ${attempt} attempt(s): no answer (${reason})`, {
        code: 'ERR_TOKEN_NETWORK',
        attempts: attempt,
        cause,
      });
    }
    const delay = Math.max(waitAtLeast, backoffDelay(ctx.retry, attempt));
    const elapsed = ctx.clock() - started;
    if (attempt >= ctx.retry.maxAttempts || elapsed + delay > ctx.retry.maxTotalMs) throw failure;
    try {
      await sleep(delay, ctx.signal);
    } catch (cause) {
      throw closedError(cause);
    }
  }
}

/** The error of calls cut short by `close()`. */
export function closedError(cause?: unknown): TokenClientError {
  return new TokenClientError('the token client was closed', { code: 'ERR_CLIENT_CLOSED', cause });
}

function errorFromAnswer(response: TransportResponse, what: string, attempts: number, now: number): TokenClientError {
  const { status } = response;
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(response.body);
    if (parsed !== null && typeof parsed === 'object') body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (a proxy's HTML page, say): the status alone has to do.
  }
  const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  const error = text(body['error']);
  const errorDescription = text(body['error_description']) ?? text(body['message']);
  const errorCode = text(body['error_code']);
  const retryAfterMs = parseRetryAfter(response.header('retry-after'), now);
  const retryAfter = retryAfterMs === undefined ? undefined : Math.ceil(retryAfterMs / 1000);
  let code: TokenClientErrorCode;
  if (status === 429) code = 'ERR_TOKEN_RATE_LIMITED';
  else if (status >= 500 || status === 408) code = 'ERR_TOKEN_SERVER';
  else code = 'ERR_TOKEN_REJECTED';
  if (status >= 300 && status < 400) {
    // Neither transport follows redirects: the request carries the client's credentials.
    const location = response.header('location');
    const message = `${what} was answered with a redirect (${status}${location ? ` to ${location}` : ''}), which is not followed because the request carries the client's credentials; configure the final URL as tokenEndpoint or issuer`;
    return new TokenClientError(message, { code: 'ERR_TOKEN_REJECTED', status, attempts });
  }
  const said = [error, errorCode].filter(Boolean).join(' ');
  const detail = `${status}${said ? ` ${said}` : ''}${errorDescription ? `: ${errorDescription}` : ''}`;
  const message = code === 'ERR_TOKEN_REJECTED' ? `${what} was refused (${detail})${hint(status)}` : `${what} failed after ${attempts} attempt(s) (${detail})`;
  return new TokenClientError(message, { code, status, error, errorDescription, errorCode, retryAfter, attempts });
}

function hint(status: number): string {
  if (status === 401) return '; check the client id and its secret, key or certificate';
  if (status === 403) return '; check that the service holds the requested roles and may call from this address';
  if (status === 404) return "; check the scope's domain names and the token endpoint URL";
  return '';
}

function responseError(response: TransportResponse, tokenEndpoint: string, attempts: number): (why: string) => TokenClientError {
  return (why) =>
    new TokenClientError(`the answer of ${tokenEndpoint} is not a usable token response: ${why}`, {
      code: 'ERR_TOKEN_RESPONSE_INVALID',
      status: response.status,
      attempts,
    });
}

/** The answer's JSON object, with a non-empty access_token; nothing else is checked. */
function parseTokenEndpointResponse(response: TransportResponse, tokenEndpoint: string, attempts: number): TokenEndpointResponse {
  const invalid = responseError(response, tokenEndpoint, attempts);
  let body: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(response.body);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid('it is not a JSON object');
    body = parsed as Record<string, unknown>;
  } catch (cause) {
    if (cause instanceof TokenClientError) throw cause;
    throw invalid('it is not JSON');
  }
  const accessToken = body['access_token'];
  if (typeof accessToken !== 'string' || accessToken === '') throw invalid('access_token is missing');
  return body as TokenEndpointResponse;
}

export function parseTokenResponse(response: TransportResponse, tokenEndpoint: string, attempts: number): IssuedToken {
  const invalid = responseError(response, tokenEndpoint, attempts);
  const body = parseTokenEndpointResponse(response, tokenEndpoint, attempts);
  const accessToken = body.access_token;
  const tokenType = body['token_type'];
  if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') throw invalid(`token_type is ${JSON.stringify(tokenType)}, not "Bearer"`);
  let expiresIn = body['expires_in'];
  if (expiresIn === undefined) expiresIn = lifetimeFromJwt(accessToken);
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) throw invalid('expires_in is not a positive number of seconds');
  const scope = typeof body['scope'] === 'string' ? body['scope'] : undefined;
  const idToken = typeof body['id_token'] === 'string' ? body['id_token'] : undefined;
  return { accessToken, expiresIn, scope, idToken };
}

/** RFC 6749 only recommends expires_in; a JWT access token still says when it ends. */
function lifetimeFromJwt(token: string): number | undefined {
  try {
    const { exp, iat } = decodeJwt(token);
    if (typeof exp !== 'number') return undefined;
    return exp - (typeof iat === 'number' ? iat : Math.floor(Date.now() / 1000));
  } catch {
    return undefined;
  }
}

/** A token endpoint's answer as it was sent (RFC 6749 §5.1, plus Tessera's `id_token`): what {@link requestTokenResponse} returns. */
export interface TokenEndpointResponse {
  access_token: string;
  token_type: string;
  /** Seconds; RFC 6749 only recommends it. */
  expires_in?: number;
  scope?: string;
  /** With `openid` and `<d>:service.<s>` in the scope. */
  id_token?: string;
  [member: string]: unknown;
}

/** Options of {@link requestTokenResponse}: one token request (client credentials or a token exchange), sent once. */
export interface TokenEndpointRequestOptions {
  /** The token endpoint's URL, used as given (no discovery). */
  tokenEndpoint: string;
  /** Space-separated scope items, sent as given. */
  scope: string;
  /** Lifetime to ask for, in seconds (the server may cap it). */
  expiresIn?: number;
  /**
   * RFC 8693 token exchange: the subject's access token. The answer is a token naming the subject
   * as `sub` and this client as `act.sub` (docs/tokens.md, Token exchange).
   */
  subjectToken?: string;
  /** With `subjectToken`: `id_token` when it is an ID token issued for this client (default `access_token`). */
  subjectTokenType?: SubjectTokenType;
  /** With `subjectToken`: `impersonation=true`, a token without `act` (only for roles listing this client in `impersonators`). */
  impersonation?: boolean;
  /** Athenz's `proxy_for_principal`: a client_credentials token for this principal, acted for by this client. */
  proxyForPrincipal?: string;
  /** The client's credentials, as for the token client. Exactly one of `credentials` and `prove`. */
  credentials?: Credentials;
  /** Or the proof itself: headers and form parameters (and a TLS identity) for the request. */
  prove?: (tokenEndpoint: string, nowMs: number) => RequestProof | Promise<RequestProof>;
  /**
   * Sends the request: a transport of your own (an HTTPS client with its own trust, say). Its
   * errors reach the caller as the `cause` of an `ERR_TOKEN_NETWORK` TokenClientError. Without
   * it, the built-in node:http(s) client with `ca` is used and closed afterwards.
   */
  transport?: Transport;
  /** PEM trust anchors for the built-in client (the trust bundle is not followed: one request). */
  ca?: string | Buffer;
  /** Limit on the request of the built-in client, in ms (default 10,000). */
  requestTimeoutMs?: number;
  /** Milliseconds since the epoch, for assertions; `Date.now` by default. */
  clock?: () => number;
  signal?: AbortSignal;
}

/** One attempt, no retry: a tool that runs once reports the failure instead. */
const ONE_ATTEMPT: RetryPolicy = { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, maxTotalMs: 0 };

/**
 * One token request (client credentials, or with `subjectToken` an RFC 8693 exchange), sent once
 * and not cached, resolving with the whole token response (access_token, token_type, expires_in,
 * scope, id_token, …) as the server sent it; for tools such as `tessera token`. Services use {@link createTokenClient}, which caches and
 * refreshes. Failures reject with a TokenClientError, as the token client's do.
 */
export async function requestTokenResponse(options: TokenEndpointRequestOptions): Promise<TokenEndpointResponse> {
  if (options === null || typeof options !== 'object')
    throw new TypeError('requestTokenResponse needs an options object with tokenEndpoint, scope and credentials');
  const { tokenEndpoint, scope, expiresIn } = options;
  if (typeof tokenEndpoint !== 'string' || !URL.canParse(tokenEndpoint))
    throw new TypeError(`tokenEndpoint must be a URL; got ${JSON.stringify(tokenEndpoint)}`);
  if (typeof scope !== 'string' || scope.trim() === '') throw new TypeError('scope must name what the token is for, e.g. "beta:domain"');
  if (expiresIn !== undefined && (!Number.isSafeInteger(expiresIn) || expiresIn <= 0)) throw new TypeError('expiresIn must be a whole number of seconds > 0');
  checkGrantSubject(options);
  if ((options.credentials === undefined) === (options.prove === undefined)) throw new TypeError('give exactly one of credentials and prove');
  if (options.prove !== undefined && typeof options.prove !== 'function') throw new TypeError('prove must be a function returning { headers, form }');
  if (options.transport !== undefined && typeof options.transport?.send !== 'function') throw new TypeError('transport must have send(url, request)');
  const prove = options.prove;
  const prover = prove === undefined ? createClientProver(options.credentials as Credentials) : { prove: async (url: string, now: number) => prove(url, now) };
  const transport = options.transport ?? nodeTransport({ ca: options.ca, server: tokenEndpoint, bundleRefresh: 0, timeoutMs: options.requestTimeoutMs });
  const ctx: TokenRequestContext = {
    transport,
    prover,
    retry: ONE_ATTEMPT,
    clock: options.clock ?? ((): number => Date.now()),
    signal: options.signal ?? new AbortController().signal,
  };
  try {
    const { subjectToken, subjectTokenType, impersonation, proxyForPrincipal } = options;
    const form = tokenRequestForm({ scope, expiresIn, subjectToken, subjectTokenType, impersonation, proxyForPrincipal });
    const res = await sendTokenRequest(ctx, tokenEndpoint, form, describeRequest(form, tokenEndpoint));
    return parseTokenEndpointResponse(res.response, tokenEndpoint, res.attempts);
  } finally {
    if (options.transport === undefined) await transport.close();
  }
}
