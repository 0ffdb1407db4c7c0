// A small HTTP(S) client for talking to a Tessera server. Node's global fetch cannot be given
// a private CA, and a fresh `tessera serve` presents a certificate from its own CA, so requests
// go through node:https with an explicit `ca`. Failures become CliErrors whose message is the
// one line the user sees.

import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';

import { CliError, EXIT, describeError, oneLine } from './errors.ts';

// node:http as require() gives it: an ES module import of it builds its namespace, whose WebSocket
// getter loads Node's fetch implementation (undici, ~2 MB per process, `tessera serve` among them).
const http = process.getBuiltinModule('node:http');

export interface HttpClientOptions {
  /** PEM trust anchors for https URLs; Node's built-in roots when absent. */
  ca?: string | string[];
  /** A client certificate (PEM, leaf first, then any intermediates) presented on https (mTLS). */
  cert?: string;
  /** The certificate's private key (PEM). */
  key?: string;
  /** Whole-request deadline (connect, send, answer). */
  timeoutMs?: number;
  userAgent?: string;
}

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** Sent as `application/json`. */
  json?: unknown;
  /** Sent as `application/x-www-form-urlencoded`. */
  form?: Record<string, string>;
  /** Sent as it is, with the content-type of `headers`. */
  body?: string;
  /** Names the request in error messages, e.g. "token request"; defaults to method and path. */
  label?: string;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Parsed JSON when the server said so, the text otherwise, `null` when empty. */
  body: unknown;
  /** The body as it came. */
  text: string;
}

export interface HttpClient {
  /** Resolves with a 2xx answer; anything else rejects with HttpStatusError or ConnectionError. */
  send(request: HttpRequest): Promise<HttpResponse>;
}

/** The server answered, but not with 2xx. */
export class HttpStatusError extends CliError {
  readonly status: number;
  readonly body: unknown;

  constructor(label: string, status: number, body: unknown) {
    super(`${label}: ${describeStatus(status, body)}`, EXIT.failure);
    this.name = 'HttpStatusError';
    this.status = status;
    this.body = body;
  }
}

/** No answer: refused, unresolvable, TLS failure, reset or timed out. */
export class ConnectionError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT.failure, options);
    this.name = 'ConnectionError';
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
// Admin answers are small; a larger body means we are not talking to Tessera.
const MAX_BODY_BYTES = 8 * 1024 * 1024;

const TLS_TRUST_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  return { send: (request) => send(request, options) };
}

function send(request: HttpRequest, options: HttpClientOptions): Promise<HttpResponse> {
  const { url } = request;
  const label = request.label ?? `${request.method} ${url.pathname}`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { payload, contentType } = encodeBody(request);
  const headers: Record<string, string> = {
    accept: 'application/json',
    'user-agent': options.userAgent ?? 'tessera-cli',
    ...(contentType === undefined ? {} : { 'content-type': contentType }),
    ...(payload === undefined ? {} : { 'content-length': String(payload.byteLength) }),
    ...request.headers,
  };

  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const fail = (error: unknown): void => finish(() => reject(connectionError(url, error)));

    // `agent: false`: one connection per request, closed afterwards, so no pooled socket keeps
    // a short-lived CLI process alive.
    const requestOptions = { method: request.method, headers, agent: false as const };
    const req = url.protocol === 'https:' ? https.request(url, { ...requestOptions, ...tlsOptions(options) }) : http.request(url, requestOptions);

    const timer = setTimeout(() => {
      finish(() => reject(new ConnectionError(`no answer from ${url.origin} within ${formatSeconds(timeoutMs)}`)));
      req.destroy();
    }, timeoutMs);

    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        if (size > MAX_BODY_BYTES) {
          finish(() => reject(new ConnectionError(`${label}: answer from ${url.origin} is too large`)));
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', fail);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8');
        const body = decodeBody(text, res.headers['content-type']);
        finish(() => {
          if (status >= 200 && status < 300) resolve({ status, headers: res.headers, body, text });
          else reject(new HttpStatusError(label, status, body));
        });
      });
    });
    req.end(payload);
  });
}

function tlsOptions(options: HttpClientOptions): { ca?: string | string[]; allowPartialTrustChain?: boolean; cert?: string; key?: string } {
  return {
    // A CA given need not be a root: an issuing CA alone is an anchor (as curl takes it), so an
    // operator whose Tessera CA sits under a shared root can trust Tessera without that root.
    ...(options.ca === undefined ? {} : { ca: options.ca, allowPartialTrustChain: true }),
    ...(options.cert === undefined ? {} : { cert: options.cert }),
    ...(options.key === undefined ? {} : { key: options.key }),
  };
}

function encodeBody(request: HttpRequest): { payload?: Buffer; contentType?: string } {
  if (request.body !== undefined) return { payload: Buffer.from(request.body) };
  if (request.form !== undefined) {
    return {
      payload: Buffer.from(new URLSearchParams(request.form).toString()),
      contentType: 'application/x-www-form-urlencoded',
    };
  }
  if (request.json !== undefined) {
    return { payload: Buffer.from(JSON.stringify(request.json)), contentType: 'application/json' };
  }
  return {};
}

function decodeBody(text: string, contentType: string | undefined): unknown {
  if (text === '') return null;
  if (contentType !== undefined && /[/+]json\b/i.test(contentType)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * One line from an error answer: Tessera's admin errors are `{"error", "message"}`, token
 * endpoint errors RFC 6749 `{"error", "error_description", "error_code"}`.
 */
export function describeStatus(status: number, body: unknown): string {
  const head = `HTTP ${status}`;
  if (typeof body === 'string') {
    const text = oneLine(body);
    return text === '' ? head : `${head}: ${truncate(text, 200)}`;
  }
  if (body === null || typeof body !== 'object') return head;
  const fields = body as Record<string, unknown>;
  const codes = [fields.error, fields.error_code].filter((v): v is string => typeof v === 'string');
  const detail = [fields.message, fields.error_description].find((v): v is string => typeof v === 'string');
  const parts = [codes.length > 0 ? `${head} ${codes.join(' ')}` : head];
  if (detail !== undefined) parts.push(oneLine(detail));
  return parts.join(': ');
}

function connectionError(url: URL, error: unknown): ConnectionError {
  const code = (error as { code?: unknown } | null)?.code;
  let reason = oneLine(describeError(error));
  if (typeof code === 'string' && TLS_TRUST_CODES.has(code)) {
    reason += ' (is --cacert the CA that issued the server certificate?)';
  }
  return new ConnectionError(`cannot reach ${url.origin}: ${reason}`, { cause: error });
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
