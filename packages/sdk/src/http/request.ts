// A small HTTP(S) client over node:http and node:https. Global fetch cannot be given a private
// CA or a TLS client certificate per request, and a token client needs both: Tessera's CA is
// usually private, and mTLS credentials present a certificate on the token request itself.

import type { Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TlsTrust } from './anchors.ts';
import { nodeHttp } from './node-http.ts';

/** An answer read in full. */
export interface HttpResponse {
  status: number;
  /** Lower-cased header names, as Node gives them. */
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request; `trust`, `cert` and `key` apply to `https:` URLs only. */
export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Trust anchors replacing Node's default CA list (http/anchors.ts). */
  trust?: TlsTrust;
  /** TLS client certificate (PEM, leaf first) and its private key. */
  cert?: string | Buffer;
  key?: string | Buffer;
  agent?: HttpAgent;
  /** Socket inactivity limit; the request fails with code `ETIMEDOUT` after it. */
  timeoutMs?: number;
  /** Answers larger than this fail with code `ERR_RESPONSE_TOO_LARGE` instead of filling memory. */
  maxBodyBytes?: number;
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Sends one request and reads the whole answer; rejects only when no answer arrives. */
export function sendRequest(url: URL, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const isHttps = url.protocol === 'https:';
  if (!isHttps && url.protocol !== 'http:') {
    return Promise.reject(new TypeError(`${url.href} is not an http: or https: URL`));
  }
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
    const common = { method: options.method ?? 'GET', headers, agent: options.agent, signal: options.signal };
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBody) {
          res.destroy(Object.assign(new Error(`the answer from ${url.origin} is larger than ${maxBody} bytes`), { code: 'ERR_RESPONSE_TOO_LARGE' }));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    };
    const req = isHttps
      ? httpsRequest(url, { ...common, ...options.trust, cert: options.cert, key: options.key }, onResponse)
      : nodeHttp.request(url, common, onResponse);
    req.setTimeout(timeoutMs, () => {
      req.destroy(Object.assign(new Error(`no answer from ${url.origin} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    });
    // Reject once the request is closed, not at its error: then close() of the token client
    // resolves only after the sockets it aborted are gone.
    let failure: unknown;
    req.on('error', (error) => (failure = error));
    req.on('close', () => {
      if (failure !== undefined) reject(failure);
    });
    req.end(options.body);
  });
}
