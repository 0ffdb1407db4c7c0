// A stand-in for a Tessera server over HTTP or HTTPS, on the testkit's fake token server: it
// records every request and answers the token endpoint and admin API the way docs/http-api.md
// describes them, or as a test scripts it.

import { startFakeHttpServer, type SeenRequest } from '@tessera/testkit/token-server';

export const ACCESS_TOKEN = 'test-access-token';

/** A request as the fake saw it: `path`, `query`, `headers`, `rawBody`, `body` (parsed by content type), `clientCertificateCn`. */
export type RecordedRequest = SeenRequest;

export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface FakeTessera {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  requests: RecordedRequest[];
  /** Requests under /admin/v1, with that prefix cut from `path`. */
  adminRequests(): RecordedRequest[];
  /**
   * Scripts the answer to `METHOD /admin/v1/path`, e.g. answer('GET /domains', {...}); a function
   * answers from the request (its query, say).
   */
  answer(route: string, answer: Answer | ((req: RecordedRequest) => Answer)): void;
  /** Scripts the token endpoint's answer; `undefined` restores the built-in client_secret_basic check. */
  answerToken(answer: Answer | ((req: RecordedRequest) => Answer) | undefined): void;
  close(): Promise<void>;
}

export interface FakeTesseraOptions {
  clientId: string;
  clientSecret: string;
  /** Path prefix the server is mounted under (behind a reverse proxy). */
  prefix?: string;
  /** Serve HTTPS with this certificate, asking for (not requiring) a client certificate from `ca`. */
  tls?: { cert: string; key: string; ca: string };
}

export async function startFakeTessera(options: FakeTesseraOptions): Promise<FakeTessera> {
  const answers = new Map<string, (req: RecordedRequest) => Answer>();
  const prefix = options.prefix ?? '';
  let scriptedToken: ((req: RecordedRequest) => Answer) | undefined;

  const route = (req: RecordedRequest): Answer => {
    if (req.method === 'POST' && req.path === `${prefix}/oauth2/token`) {
      return scriptedToken === undefined ? tokenAnswer(req, options) : scriptedToken(req);
    }
    const adminPrefix = `${prefix}/admin/v1`;
    if (!req.path.startsWith(adminPrefix)) return { status: 404, body: { error: 'not_found', message: 'no such route' } };
    if (req.headers.authorization !== `Bearer ${ACCESS_TOKEN}`) {
      return { status: 401, body: { error: 'unauthorized', message: 'missing or invalid access token' } };
    }
    const key = `${req.method} ${req.path.slice(adminPrefix.length)}`;
    return answers.get(key)?.(req) ?? defaultAnswer(req.method);
  };

  const server = await startFakeHttpServer(
    (req) => {
      const answer = route(req);
      // As the real server answers: JSON in UTF-8, the body always serialized as JSON.
      return {
        status: answer.status,
        headers: { ...(answer.body !== undefined && { 'content-type': 'application/json; charset=utf-8' }), ...answer.headers },
        ...(answer.body !== undefined && { body: JSON.stringify(answer.body) }),
      };
    },
    options.tls === undefined ? undefined : { ...options.tls, requestCert: true, rejectUnauthorized: false },
  );
  return {
    url: `${server.url}${prefix}`,
    requests: server.requests,
    adminRequests: () =>
      server.requests.filter((r) => r.path.startsWith(`${prefix}/admin/v1`)).map((r) => ({ ...r, path: r.path.slice(`${prefix}/admin/v1`.length) })),
    answer: (key, answer) => answers.set(key, typeof answer === 'function' ? answer : () => answer),
    answerToken: (answer) => {
      scriptedToken = answer === undefined || typeof answer === 'function' ? answer : () => answer;
    },
    close: () => server.close(),
  };
}

function tokenAnswer(req: RecordedRequest, options: FakeTesseraOptions): Answer {
  const header = req.headers.authorization ?? '';
  const [scheme = '', encoded = ''] = header.split(' ');
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // RFC 6749 §2.3.1: each half is form-urlencoded, so "+" is a space.
  const formDecode = (value: string): string => decodeURIComponent(value.replace(/\+/g, ' '));
  const clientId = formDecode(decoded.slice(0, colon));
  const clientSecret = formDecode(decoded.slice(colon + 1));
  if (scheme !== 'Basic' || clientId !== options.clientId || clientSecret !== options.clientSecret) {
    return {
      status: 401,
      headers: { 'www-authenticate': 'Basic realm="tessera"' },
      body: { error: 'invalid_client', error_description: 'Client authentication failed', error_code: 'AUTH_101' },
    };
  }
  const form = req.body as Record<string, string>;
  return {
    status: 200,
    headers: { 'cache-control': 'no-store' },
    body: { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 3600, scope: form.scope },
  };
}

function defaultAnswer(method: string): Answer {
  if (method === 'DELETE') return { status: 204 };
  if (method === 'POST') return { status: 201, body: {} };
  return { status: 200, body: {} };
}
