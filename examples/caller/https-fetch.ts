// A `fetch` over node:https with a given agent. The global fetch cannot present a client
// certificate or trust a private CA per request, and calling a service inside the mesh needs
// both: the callee's certificate comes from Tessera's CA, and a certificate-bound token works
// only on a connection that presents the certificate it is bound to.

import { request, type Agent } from 'node:https';

/** Statuses whose answers have no body (a Response refuses one for them). */
const NO_BODY = new Set([101, 204, 205, 304]);

export function httpsFetch(agent: Agent): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const outgoing = new Request(input, init);
    const body = outgoing.body === null ? undefined : Buffer.from(await outgoing.arrayBuffer());
    return new Promise((resolve, reject) => {
      const req = request(outgoing.url, { method: outgoing.method, headers: Object.fromEntries(outgoing.headers), agent, signal: outgoing.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
          }
          const status = res.statusCode ?? 502;
          resolve(new Response(NO_BODY.has(status) ? null : Buffer.concat(chunks), { status, headers }));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  };
}
