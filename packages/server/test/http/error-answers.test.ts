// The one mapping from a thrown error to an answer (errorAnswer), worded by each API's dialect:
// every dialect against every error class. An HttpError answers as it was thrown, in any
// dialect; errors nobody threw as answers (storage, Fastify, bugs) are described, and the OAuth
// and token dialects reword those descriptions in their own terms.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import { AdminError, adminDialect } from '../../src/admin/errors.ts';
import { InvalidCertificateRequestError } from '../../src/ca/errors.ts';
import { CaRequestError, caDialect, caRefusal } from '../../src/ca/http/errors.ts';
import { ProofError } from '../../src/ca/proofs/index.ts';
import { BASIC_CHALLENGE, BEARER_CHALLENGE, EST_CHALLENGE } from '../../src/http/authorization.ts';
import { errorAnswer, jsonDialect, type DialectRequest, type ErrorDialect, type WireAnswer } from '../../src/http/errors.ts';
import { ClientCertificateError } from '../../src/mtls/index.ts';
import { NO_STORE, OAuthError, invalidClient, oauthDialect } from '../../src/oauth2/errors.ts';
import { accountsDialect } from '../../src/service-accounts/index.ts';
import { tokenDialect } from '../../src/service-accounts/token-route.ts';
import { ConcurrentChangeError, NotFoundError, StorageUnavailableError } from '../../src/storage/errors.ts';

interface Logged {
  level: string;
  object: unknown;
  message: unknown;
}

function recordingLog(): FastifyBaseLogger & { entries: Logged[] } {
  const entries: Logged[] = [];
  const at = (level: string) => (object: unknown, message?: unknown) => void entries.push({ level, object, message });
  return { entries, warn: at('warn'), error: at('error'), debug: at('debug'), info: at('info') } as unknown as FastifyBaseLogger & { entries: Logged[] };
}

const plain: DialectRequest = { url: '/x', headers: {} };
const usedBasic: DialectRequest = { url: '/oauth2/token', headers: { authorization: 'Basic YTpi' } };

function wire(dialect: ErrorDialect, error: unknown, request: DialectRequest = plain): WireAnswer {
  return dialect(errorAnswer(error, recordingLog()), request);
}

const errors = {
  oauth: () => invalidClient(true),
  oauthPlain: () => new OAuthError(400, 'invalid_scope', 'scope "a\\b" § is unknown'),
  rateLimited: () => new OAuthError(429, 'rate_limited', 'too many requests', { errorCode: 'AUTH_106', headers: { 'retry-after': '7' } }),
  admin: () => new AdminError(403, 'forbidden', 'alpha.ops may not do this'),
  adminUnauthenticated: () => new AdminError(401, 'invalid_token', 'not authenticated'),
  ca: () => new CaRequestError(429, 'rate_limited', 'too many requests from 127.0.0.1', { 'retry-after': '3' }),
  proof: () => new ProofError(401, 'the join token is unknown'),
  proofUnavailable: () => new ProofError(503, 'could not fetch the keys; retry shortly', { cause: new Error('ECONNREFUSED') }),
  notFound: () => new NotFoundError('no service alpha.x'),
  storageDown: () => new StorageUnavailableError('connection refused'),
  concurrent: () => new ConcurrentChangeError('PostgreSQL: deadlock detected'),
  mediaType: () => Object.assign(new Error('Unsupported Media Type: text/plain'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }),
  validation: () =>
    Object.assign(new Error('body must have required property client_id'), {
      validation: [{ keyword: 'required', instancePath: '', params: { missingProperty: 'client_id' } }],
      validationContext: 'body',
    }),
  bug: () => new TypeError('x is undefined'),
} as const;

const OAUTH_MESSAGE = 'client authentication failed: unknown client or wrong credentials';
const STORAGE_MESSAGE = 'storage is unavailable; retry shortly';
const VALIDATION_MESSAGE = 'body is missing the required field "client_id"';
const BUG_MESSAGE = 'internal error; the server log has details';

describe('errorAnswer: the one mapping', () => {
  it('answers an HttpError with its own status, name, code and headers', () => {
    const answer = errorAnswer(errors.rateLimited(), recordingLog());
    assert.deepEqual(answer, {
      status: 429,
      error: 'rate_limited',
      code: 'AUTH_106',
      message: 'too many requests',
      headers: { 'retry-after': '7' },
      generic: false,
    });
  });

  it('logs the cause of a 5xx HttpError as a warning, and nothing for a 4xx', () => {
    const log = recordingLog();
    errorAnswer(errors.proofUnavailable(), log);
    errorAnswer(errors.proof(), log);
    assert.equal(log.entries.length, 1);
    assert.equal(log.entries[0]?.level, 'warn');
    assert.equal((log.entries[0]?.object as { err: Error }).err.message, 'ECONNREFUSED');
  });

  it('describes anything else: storage, Fastify, and a bug logged as an error and answered 500', () => {
    const log = recordingLog();
    assert.deepEqual(errorAnswer(errors.notFound(), log), {
      status: 404,
      error: 'not_found',
      message: 'no service alpha.x',
      code: undefined,
      headers: {},
      generic: true,
    });
    assert.equal(errorAnswer(errors.storageDown(), log).status, 503);
    assert.equal(errorAnswer(errors.bug(), log).status, 500);
    assert.deepEqual(
      log.entries.map((entry) => entry.level),
      ['debug', 'error'],
    );
  });
});

describe('the admin-style JSON dialects ({"error", "message"})', () => {
  const root = jsonDialect();

  it('root: every class as {error, message}, its headers kept, no challenge', () => {
    assert.deepEqual(wire(root, errors.oauth()), {
      status: 401,
      headers: { 'www-authenticate': BASIC_CHALLENGE },
      body: { error: 'invalid_client', message: OAUTH_MESSAGE },
    });
    assert.deepEqual(wire(root, errors.admin()), { status: 403, headers: {}, body: { error: 'forbidden', message: 'alpha.ops may not do this' } });
    assert.deepEqual(wire(root, errors.adminUnauthenticated()), { status: 401, headers: {}, body: { error: 'invalid_token', message: 'not authenticated' } });
    assert.deepEqual(wire(root, errors.ca()), {
      status: 429,
      headers: { 'retry-after': '3' },
      body: { error: 'rate_limited', message: 'too many requests from 127.0.0.1' },
    });
    assert.deepEqual(wire(root, errors.proof()), { status: 401, headers: {}, body: { error: 'invalid_proof', message: 'the join token is unknown' } });
    assert.deepEqual(wire(root, errors.notFound()), { status: 404, headers: {}, body: { error: 'not_found', message: 'no service alpha.x' } });
    assert.deepEqual(wire(root, errors.storageDown()), { status: 503, headers: {}, body: { error: 'temporarily_unavailable', message: STORAGE_MESSAGE } });
    assert.deepEqual(wire(root, errors.concurrent()), {
      status: 503,
      headers: {},
      body: { error: 'temporarily_unavailable', message: 'a concurrent change to the same records got in the way and nothing was written; retry' },
    });
    assert.deepEqual(wire(root, errors.mediaType()), {
      status: 415,
      headers: {},
      body: { error: 'invalid_request', message: 'unsupported Content-Type; Unsupported Media Type: text/plain' },
    });
    assert.deepEqual(wire(root, errors.validation()), { status: 400, headers: {}, body: { error: 'invalid_request', message: VALIDATION_MESSAGE } });
    assert.deepEqual(wire(root, errors.bug()), { status: 500, headers: {}, body: { error: 'server_error', message: BUG_MESSAGE } });
  });

  it('admin: a 401 asks for a Bearer token, whatever raised it; other statuses carry no challenge', () => {
    const challenge = { 'www-authenticate': BEARER_CHALLENGE };
    assert.deepEqual(wire(adminDialect, errors.adminUnauthenticated()), {
      status: 401,
      headers: challenge,
      body: { error: 'invalid_token', message: 'not authenticated' },
    });
    assert.deepEqual(wire(adminDialect, errors.proof()), {
      status: 401,
      headers: challenge,
      body: { error: 'invalid_proof', message: 'the join token is unknown' },
    });
    // The error's own header wins over the dialect's challenge.
    assert.deepEqual(wire(adminDialect, errors.oauth()).headers, { 'www-authenticate': BASIC_CHALLENGE });
    assert.deepEqual(wire(adminDialect, errors.admin()), { status: 403, headers: {}, body: { error: 'forbidden', message: 'alpha.ops may not do this' } });
    assert.deepEqual(wire(adminDialect, errors.ca()), {
      status: 429,
      headers: { 'retry-after': '3' },
      body: { error: 'rate_limited', message: 'too many requests from 127.0.0.1' },
    });
    assert.deepEqual(wire(adminDialect, errors.notFound()), { status: 404, headers: {}, body: { error: 'not_found', message: 'no service alpha.x' } });
    assert.deepEqual(wire(adminDialect, errors.storageDown()).body, { error: 'temporarily_unavailable', message: STORAGE_MESSAGE });
    assert.deepEqual(wire(adminDialect, errors.validation()).body, { error: 'invalid_request', message: VALIDATION_MESSAGE });
    assert.deepEqual(wire(adminDialect, errors.bug()), { status: 500, headers: {}, body: { error: 'server_error', message: BUG_MESSAGE } });
  });

  it('service accounts: the admin answers, but a 403 is AUTH_102', () => {
    assert.deepEqual(wire(accountsDialect, errors.admin()), { status: 403, headers: {}, body: { error: 'AUTH_102', message: 'alpha.ops may not do this' } });
    assert.deepEqual(wire(accountsDialect, errors.adminUnauthenticated()), {
      status: 401,
      headers: { 'www-authenticate': BEARER_CHALLENGE },
      body: { error: 'invalid_token', message: 'not authenticated' },
    });
    assert.deepEqual(wire(accountsDialect, errors.oauth()).body, { error: 'invalid_client', message: OAUTH_MESSAGE });
    assert.deepEqual(wire(accountsDialect, errors.ca()).body, { error: 'rate_limited', message: 'too many requests from 127.0.0.1' });
    assert.deepEqual(wire(accountsDialect, errors.proof()).headers, { 'www-authenticate': BEARER_CHALLENGE });
    assert.deepEqual(wire(accountsDialect, errors.notFound()).body, { error: 'not_found', message: 'no service alpha.x' });
    assert.deepEqual(wire(accountsDialect, errors.validation()).body, { error: 'invalid_request', message: VALIDATION_MESSAGE });
    assert.deepEqual(wire(accountsDialect, errors.bug()).body, { error: 'server_error', message: BUG_MESSAGE });
  });

  it("CA: EST 401s carry the EST challenge, the JSON API's none; Retry-After kept", () => {
    const est: DialectRequest = { url: '/.well-known/est/simpleenroll', headers: {} };
    const api: DialectRequest = { url: '/ca/v1/certificates', headers: {} };
    assert.deepEqual(wire(caDialect, errors.proof(), est), {
      status: 401,
      headers: { 'www-authenticate': EST_CHALLENGE },
      body: { error: 'invalid_proof', message: 'the join token is unknown' },
    });
    assert.deepEqual(wire(caDialect, errors.proof(), api), {
      status: 401,
      headers: {},
      body: { error: 'invalid_proof', message: 'the join token is unknown' },
    });
    assert.deepEqual(wire(caDialect, errors.ca(), est), {
      status: 429,
      headers: { 'retry-after': '3' },
      body: { error: 'rate_limited', message: 'too many requests from 127.0.0.1' },
    });
    assert.deepEqual(wire(caDialect, errors.proofUnavailable(), api).body, {
      error: 'temporarily_unavailable',
      message: 'could not fetch the keys; retry shortly',
    });
    assert.deepEqual(wire(caDialect, errors.admin(), api).body, { error: 'forbidden', message: 'alpha.ops may not do this' });
    assert.deepEqual(wire(caDialect, errors.oauth(), est).headers, { 'www-authenticate': BASIC_CHALLENGE });
    assert.deepEqual(wire(caDialect, errors.notFound(), api).body, { error: 'not_found', message: 'no service alpha.x' });
    assert.deepEqual(wire(caDialect, errors.storageDown(), api).status, 503);
    assert.deepEqual(wire(caDialect, errors.bug(), api).body, { error: 'server_error', message: BUG_MESSAGE });
  });

  it('CA: a refused CSR is 400 invalid_request; a refused certificate 401 invalid_proof, an expired one told to start over', () => {
    const ca = (error: unknown): WireAnswer => wire(caDialect, caRefusal(error));
    assert.deepEqual(ca(new InvalidCertificateRequestError('the CSR signature does not verify')).body, {
      error: 'invalid_request',
      message: 'the CSR signature does not verify',
    });
    assert.deepEqual(ca(new ClientCertificateError('untrusted', 'no trusted CA issued it')), {
      status: 401,
      headers: {},
      body: { error: 'invalid_proof', message: 'the client certificate was refused: no trusted CA issued it' },
    });
    assert.deepEqual(ca(new ClientCertificateError('expired', 'the certificate expired at 2026-01-01T00:00:00.000Z; renew it')).body, {
      error: 'invalid_proof',
      message:
        'the certificate expired at 2026-01-01T00:00:00.000Z; renewal needs a valid certificate, so bootstrap a new one with a join token or a registered key',
    });
    const other = errors.admin();
    assert.equal(caRefusal(other), other);
  });
});

describe('the OAuth dialect (RFC 6749 §5.2)', () => {
  const token = oauthDialect({ mediaTypeProblem: 'the request must be application/x-www-form-urlencoded (RFC 6749 section 3.2)', basicChallenge: true });
  const login = oauthDialect({ mediaTypeProblem: 'send the body as a form or JSON', basicChallenge: false });

  it('an OAuthError: error, error_description within the grammar, error_code when there is one; never cached', () => {
    assert.deepEqual(wire(token, errors.oauth()), {
      status: 401,
      headers: { ...NO_STORE, 'www-authenticate': BASIC_CHALLENGE },
      body: { error: 'invalid_client', error_description: OAUTH_MESSAGE, error_code: 'AUTH_101' },
    });
    assert.deepEqual(wire(token, errors.oauthPlain()), {
      status: 400,
      headers: NO_STORE,
      body: { error: 'invalid_scope', error_description: "scope 'a/b' section  is unknown" },
    });
    assert.deepEqual(wire(login, errors.rateLimited()), {
      status: 429,
      headers: { ...NO_STORE, 'retry-after': '7' },
      body: { error: 'rate_limited', error_description: 'too many requests', error_code: 'AUTH_106' },
    });
  });

  it('adds the Basic challenge to any 401 of a client that used Basic, unless told not to (certificate login)', () => {
    const unauthenticated = new OAuthError(401, 'invalid_client', 'client certificate rejected: expired', { errorCode: 'AUTH_101' });
    assert.deepEqual(wire(token, unauthenticated, usedBasic).headers, { ...NO_STORE, 'www-authenticate': BASIC_CHALLENGE });
    assert.deepEqual(wire(token, unauthenticated, plain).headers, NO_STORE);
    assert.deepEqual(wire(login, unauthenticated, usedBasic).headers, NO_STORE);
    assert.deepEqual(wire(token, errors.oauthPlain(), usedBasic).headers, NO_STORE);
  });

  it('the other HttpErrors answer as themselves, in the OAuth body', () => {
    assert.deepEqual(wire(token, errors.admin()), {
      status: 403,
      headers: NO_STORE,
      body: { error: 'forbidden', error_description: 'alpha.ops may not do this' },
    });
    assert.deepEqual(wire(token, errors.ca()).headers, { ...NO_STORE, 'retry-after': '3' });
    assert.deepEqual(wire(login, errors.proof()).body, { error: 'invalid_proof', error_description: 'the join token is unknown' });
    assert.deepEqual(wire(login, errors.adminUnauthenticated(), usedBasic).headers, NO_STORE);
  });

  it("a described error takes the OAuth name of its status; an unknown media type is 400 with the endpoint's own words", () => {
    for (const dialect of [token, login]) {
      assert.deepEqual(wire(dialect, errors.notFound()), {
        status: 404,
        headers: NO_STORE,
        body: { error: 'invalid_request', error_description: 'no service alpha.x' },
      });
      assert.deepEqual(wire(dialect, errors.storageDown()).body, { error: 'temporarily_unavailable', error_description: STORAGE_MESSAGE });
      assert.deepEqual(wire(dialect, errors.validation()).body, {
        error: 'invalid_request',
        error_description: "body is missing the required field 'client_id'",
      });
      assert.deepEqual(wire(dialect, errors.bug()), { status: 500, headers: NO_STORE, body: { error: 'server_error', error_description: BUG_MESSAGE } });
    }
    assert.deepEqual(wire(token, errors.mediaType()).body, {
      error: 'invalid_request',
      error_description: 'the request must be application/x-www-form-urlencoded (RFC 6749 section 3.2)',
    });
    assert.deepEqual(wire(login, errors.mediaType()), {
      status: 400,
      headers: NO_STORE,
      body: { error: 'invalid_request', error_description: 'send the body as a form or JSON' },
    });
  });
});

describe('the service-account JSON token dialect', () => {
  it('an OAuthError: the AUTH code as error, the message with camelCase field names and within the grammar', () => {
    const missing = new OAuthError(400, 'invalid_request', 'client_id "x" needs client_secret', {});
    assert.deepEqual(wire(tokenDialect, missing), {
      status: 400,
      headers: NO_STORE,
      body: { error: 'invalid_request', message: "clientId 'x' needs clientSecret" },
    });
    assert.deepEqual(wire(tokenDialect, errors.oauth(), usedBasic), {
      status: 401,
      headers: { ...NO_STORE, 'www-authenticate': BASIC_CHALLENGE },
      body: { error: 'AUTH_101', message: OAUTH_MESSAGE },
    });
    assert.deepEqual(wire(tokenDialect, errors.rateLimited()).headers, { ...NO_STORE, 'retry-after': '7' });
  });

  it('the other HttpErrors: their name, no code, same rules', () => {
    assert.deepEqual(wire(tokenDialect, errors.admin()), {
      status: 403,
      headers: NO_STORE,
      body: { error: 'forbidden', message: 'alpha.ops may not do this' },
    });
    assert.deepEqual(wire(tokenDialect, errors.ca()).headers, { ...NO_STORE, 'retry-after': '3' });
    assert.deepEqual(wire(tokenDialect, errors.proof()).body, { error: 'invalid_proof', message: 'the join token is unknown' });
  });

  it('a described error keeps its words (they already name the JSON fields), but a wrong media type says to send JSON', () => {
    assert.deepEqual(wire(tokenDialect, errors.validation()).body, { error: 'invalid_request', message: "body is missing the required field 'client_id'" });
    assert.deepEqual(wire(tokenDialect, errors.notFound()), { status: 404, headers: NO_STORE, body: { error: 'not_found', message: 'no service alpha.x' } });
    assert.deepEqual(wire(tokenDialect, errors.storageDown()).body, { error: 'temporarily_unavailable', message: STORAGE_MESSAGE });
    assert.deepEqual(wire(tokenDialect, errors.mediaType()), {
      status: 415,
      headers: NO_STORE,
      body: { error: 'invalid_request', message: 'send the token request as JSON with Content-Type: application/json' },
    });
    assert.deepEqual(wire(tokenDialect, errors.bug()).body, { error: 'server_error', message: BUG_MESSAGE });
  });
});
