// Turning whatever a handler threw into an answer a client can act on. One mapping
// (errorAnswer): an HttpError answers as it was thrown; anything else is described here.
// Unknown errors are logged and answered 500 without detail; storage outages are 503 so callers
// retry instead of giving up. Each API then words the answer in its dialect (an ErrorDialect):
// the admin-style `{"error", "message"}` below, the OAuth endpoints' RFC 6749 §5.2 body
// (oauth2/errors.ts), the service-account JSON token dialect (service-accounts/token-route.ts).

import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ConcurrentChangeError, ConflictError, InvalidValueError, NotFoundError, StorageUnavailableError } from '../storage/errors.ts';

/**
 * An error thrown on purpose with the answer it deserves: an HTTP status, a short
 * machine-readable `error` name, the Tessera `code` (AUTH_1xx, docs/errors.md) where one applies,
 * and headers the answer must carry (Retry-After, a challenge). Each API words it in its own
 * dialect; the subclasses only say which names their API uses.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly error: string;
  readonly code: string | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    error: string,
    message: string,
    options: { code?: string | undefined; headers?: Readonly<Record<string, string>>; cause?: unknown } = {},
  ) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.status = status;
    this.error = error;
    this.code = options.code;
    this.headers = options.headers ?? {};
  }
}

interface ClientFacingError {
  status: number;
  /** Short machine-readable name. */
  error: string;
  message: string;
}

/** What an error answers, before a dialect words it. */
export interface ErrorAnswer extends ClientFacingError {
  code: string | undefined;
  headers: Readonly<Record<string, string>>;
  /** True when the server described an error nobody threw as an answer (Fastify's, storage's, a bug). */
  generic: boolean;
}

/** An answer as it goes on the wire. */
export interface WireAnswer {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: object;
}

/** What a dialect may look at in the request: the challenge of a 401 depends on what was sent. */
export type DialectRequest = Pick<FastifyRequest, 'url' | 'headers'>;

/** One API's words for an answer. */
export type ErrorDialect = (answer: ErrorAnswer, request: DialectRequest) => WireAnswer;

/** The one mapping from a thrown error to its answer. */
export function errorAnswer(error: unknown, log: FastifyBaseLogger): ErrorAnswer {
  if (error instanceof HttpError) {
    // Something the answer depends on did not answer (an OIDC issuer's keys): the client is told
    // to retry, the operator needs the cause.
    if (error.status >= 500 && error.cause !== undefined) log.warn({ err: error.cause }, error.message);
    const { status, error: name, code, message, headers } = error;
    return { status, error: name, code, message, headers, generic: false };
  }
  return { ...describeError(error, log), code: undefined, headers: {}, generic: true };
}

/**
 * The error handler of a scope that speaks `dialect`. `translate` turns the scope's own domain
 * errors into HttpErrors first (the CA's refusals of a CSR or a client certificate).
 */
export function errorHandler(dialect: ErrorDialect, translate: (error: unknown) => unknown = (error) => error) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const wire = dialect(errorAnswer(translate(error), request.log), request);
    void reply.code(wire.status).headers(wire.headers).send(wire.body);
  };
}

/**
 * `{"error", "message"}`, the dialect of the admin API, the CA (its JSON API and EST), the
 * service-account management API and of every route no other dialect claims. A 401 carries the
 * challenge the scope names, if any; `name` rewords the error name (the service-account API
 * calls a 403 AUTH_102).
 */
export function jsonDialect(
  options: { challenge?: (request: DialectRequest) => string | undefined; name?: (answer: ErrorAnswer) => string } = {},
): ErrorDialect {
  return (answer, request) => {
    const challenge = answer.status === 401 ? options.challenge?.(request) : undefined;
    return {
      status: answer.status,
      headers: challenge === undefined ? answer.headers : { 'www-authenticate': challenge, ...answer.headers },
      body: { error: options.name?.(answer) ?? answer.error, message: answer.message },
    };
  };
}

/** Fastify's own errors (parsing, validation, limits) and storage errors, as client-facing errors. */
function describeError(error: unknown, log: FastifyBaseLogger): ClientFacingError {
  if (error instanceof NotFoundError) return { status: 404, error: 'not_found', message: error.message };
  if (error instanceof ConflictError) return { status: 409, error: 'conflict', message: error.message };
  if (error instanceof InvalidValueError) {
    return { status: 400, error: 'invalid_request', message: 'a value in the request cannot be stored (control characters such as NUL are not allowed)' };
  }
  if (error instanceof ConcurrentChangeError) {
    log.info({ err: error }, 'a change was rolled back by a concurrent one');
    return { status: 503, error: 'temporarily_unavailable', message: 'a concurrent change to the same records got in the way and nothing was written; retry' };
  }
  if (error instanceof StorageUnavailableError) {
    // The outage itself is logged once, when it starts and when it ends (storage/availability.ts).
    log.debug({ err: error }, 'storage unavailable');
    return { status: 503, error: 'temporarily_unavailable', message: 'storage is unavailable; retry shortly' };
  }
  const fastifyError = error as Partial<FastifyError> & { validation?: unknown; validationContext?: string };
  if (fastifyError.validation) {
    return { status: 400, error: 'invalid_request', message: validationMessage(fastifyError) };
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, error: 'invalid_request', message: `unsupported Content-Type; ${fastifyError.message ?? ''}`.trim() };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, error: 'invalid_request', message: 'request body is too large' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, error: 'invalid_request', message: 'the body is empty; send a JSON object' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, error: 'invalid_request', message: fastifyError.message ?? 'malformed body' };
  }
  if (error instanceof SyntaxError) return { status: 400, error: 'invalid_request', message: `malformed JSON body: ${error.message}` };
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return { status, error: 'invalid_request', message: fastifyError.message ?? 'bad request' };
  }
  log.error({ err: error }, 'unhandled error');
  return { status: 500, error: 'server_error', message: 'internal error; the server log has details' };
}

function validationMessage(error: { message?: string; validationContext?: string; validation?: unknown }): string {
  const issues = Array.isArray(error.validation) ? (error.validation as ValidationIssue[]) : [];
  const context = error.validationContext ?? 'request';
  const [first] = issues;
  if (!first) return error.message ?? 'invalid request';
  const where = `${context}${first.instancePath ? first.instancePath.replaceAll('/', '.') : ''}`;
  if (first.keyword === 'additionalProperties') {
    return `${where} has an unknown field "${String(first.params?.['additionalProperty'])}"; remove it`;
  }
  if (first.keyword === 'enum' && Array.isArray(first.params?.['allowedValues'])) {
    return `${where} must be one of ${(first.params['allowedValues'] as unknown[]).join(', ')}`;
  }
  if (first.keyword === 'required') return `${where} is missing the required field "${String(first.params?.['missingProperty'])}"`;
  return `${where} ${first.message ?? 'is invalid'}`;
}

interface ValidationIssue {
  keyword: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}
