// A fetch over node:https that trusts the given anchors (http/anchors.ts), asked for before each
// request (they follow Tessera's trust bundle): the global fetch cannot be given a private CA
// without undici, which is not a dependency. Only what the verifier needs: GET and POST, no redirects (a JWKS or
// introspection answer must come from the configured URL), a bounded body, and the caller's
// AbortSignal.

import { request as httpsRequest } from 'node:https';
import type { TlsTrust } from '../http/anchors.ts';
import { nodeHttp } from '../http/node-http.ts';
import type { FetchLike } from './options.ts';

const MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 5000;

export function httpsFetch(trust: () => TlsTrust | undefined): FetchLike {
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      const requester = target.protocol === 'http:' ? nodeHttp.request : httpsRequest;
      const headers = init.headers instanceof Headers ? Object.fromEntries(init.headers) : { ...init.headers };
      if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
      const anchors = target.protocol === 'https:' ? trust() : undefined;
      const options = { method: init.method, headers, ...anchors, timeout: DEFAULT_TIMEOUT_MS, signal: init.signal };
      const req = requester(target, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            req.destroy(new Error(`the answer from ${target.origin}${target.pathname} is larger than ${MAX_BODY_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === 'string') responseHeaders.set(name, value);
            else if (Array.isArray(value)) for (const item of value) responseHeaders.append(name, item);
          }
          const status = res.statusCode ?? 0;
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, headers: responseHeaders }));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${target.origin} within ${DEFAULT_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(init.body);
    });
}
