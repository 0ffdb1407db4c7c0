// A small HTTPS client for tests: Node's fetch cannot be given a private CA, and the tests
// must trust only Tessera's own CA bundle, as a real client would.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON shapes
}

export interface TestRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  ca?: string;
}

export function send(url: string, options: TestRequest = {}): Promise<TestResponse> {
  const target = new URL(url);
  const requester = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = requester(
      target,
      { method: options.method ?? 'GET', headers: options.headers, ca: options.ca, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
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
