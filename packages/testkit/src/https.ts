// The tests' HTTP(S) client: Node's fetch cannot be given a private CA, and the tests must trust
// only the CA a test names (Tessera's own bundle, a test PKI's), as a real client would. It may
// present a client certificate, and reads every answer whole, as text and (when it parses) JSON.

import type { Agent as HttpAgent } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON shapes
  /** The body's bytes (a DER or PKCS#7 answer is not text). */
  body: Buffer;
}

export interface TestRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The only CA trusted for the server's certificate (PEM). */
  ca?: string;
  /** A client certificate (PEM, chain after the leaf) and its key, to present. */
  cert?: string;
  key?: string;
  /** `false`: a connection of its own, so the server sees this request's certificate and nothing is reused. */
  agent?: HttpAgent | HttpsAgent | false;
  /** Source address, e.g. 127.0.0.2 (any 127/8 address works on loopback). */
  localAddress?: string;
}

export function send(url: string, options: TestRequest = {}): Promise<TestResponse> {
  const target = new URL(url);
  const requester = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = requester(
      target,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        ca: options.ca,
        timeout: 10_000,
        ...(options.cert !== undefined && { cert: options.cert }),
        ...(options.key !== undefined && { key: options.key }),
        ...(options.agent !== undefined && { agent: options.agent }),
        ...(options.localAddress !== undefined && { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString('utf8');
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** A fetch over `send`, for libraries (jose) that take a custom fetch. */
export function fetchWithCa(ca: string) {
  return async (url: string, init: { method?: string; headers?: Headers } = {}): Promise<Response> => {
    const res = await send(url, { method: init.method, headers: init.headers ? Object.fromEntries(init.headers) : undefined, ca });
    const headers = new Headers();
    for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') headers.set(name, value);
    return new Response(res.text, { status: res.status, headers });
  };
}
