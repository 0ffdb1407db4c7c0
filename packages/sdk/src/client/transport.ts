// How the token client reaches the server: the built-in node:http(s) client (private CA that
// follows Tessera's trust bundle, client certificates, its own keep-alive agents closed by
// `close()`), or a caller-supplied fetch.

import type { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { nodeHttp } from '../http/node-http.ts';
import { sendRequest } from '../http/request.ts';
import { followTrustBundle } from '../http/trust-bundle.ts';
import type { TokenClientFetch } from './options.ts';

/** One request as a transport sends it. */
export interface TransportRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  tls?: { cert: string | Buffer; key: string | Buffer };
  signal: AbortSignal;
}

/** An answer read in full. */
export interface TransportResponse {
  status: number;
  header(name: string): string | undefined;
  body: string;
}

/** Sends requests to the token endpoint and the issuer's metadata. */
export interface Transport {
  send(url: string, request: TransportRequest): Promise<TransportResponse>;
  /** Closes the sockets this transport opened; a caller's agent is left alone. */
  close(): void | Promise<void>;
}

/** Trust, agent and timeout of the built-in node:http(s) transport. */
export interface NodeTransportOptions {
  ca?: string | Buffer;
  /** The server's URL: with `ca`, its trust bundle is followed (see http/trust-bundle.ts). */
  server: string;
  /** Seconds between refetches of the trust bundle; 0 trusts `ca` alone. */
  bundleRefresh: number;
  agent?: HttpAgent;
  timeoutMs?: number;
  /** Milliseconds since the epoch, for the refetch interval. */
  clock?: () => number;
}

/** The built-in transport: node:http(s) with a private CA and client certificates. */
export function nodeTransport(options: NodeTransportOptions): Transport {
  // Keep-alive saves a TLS handshake per refresh; idle sockets do not hold the process open, and
  // close() destroys them.
  let own: { http?: HttpAgent; https?: HttpsAgent } = {};
  // A new trust changes the agent's pool key, so new requests get new connections that verify
  // against it; keep-alive sockets of the old trust are left to finish and idle out.
  const trust = followTrustBundle({
    ca: options.ca,
    server: options.server,
    refreshSeconds: options.bundleRefresh,
    agent: options.agent,
    timeoutMs: options.timeoutMs,
    now: options.clock,
  });
  const agentFor = (url: URL): HttpAgent => {
    if (options.agent) return options.agent;
    if (url.protocol === 'https:') return (own.https ??= new HttpsAgent({ keepAlive: true }));
    return (own.http ??= new nodeHttp.Agent({ keepAlive: true }));
  };
  return {
    async send(href, request) {
      const url = new URL(href);
      const res = await sendRequest(url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        trust: url.protocol === 'https:' ? trust.anchors() : undefined,
        cert: request.tls?.cert,
        key: request.tls?.key,
        agent: agentFor(url),
        timeoutMs: options.timeoutMs,
        signal: request.signal,
      });
      return {
        status: res.status,
        header: (name) => {
          const value = res.headers[name.toLowerCase()];
          return Array.isArray(value) ? value.join(', ') : value;
        },
        body: res.body,
      };
    },
    async close() {
      own.http?.destroy();
      own.https?.destroy();
      own = {};
      await trust.close();
    },
  };
}

/** A transport over a caller's fetch (no client certificates, redirects not followed); each attempt ends after `timeoutMs`. */
export function fetchTransport(fetchImpl: TokenClientFetch, timeoutMs = 10_000): Transport {
  return {
    async send(url, request) {
      const signal = AbortSignal.any([request.signal, AbortSignal.timeout(timeoutMs)]);
      // Not followed: a 307/308 would send the same body (a secret, an assertion) wherever it points.
      const res = await fetchImpl(url, { method: request.method, headers: request.headers, body: request.body, signal, redirect: 'manual' });
      const body = await res.text();
      // A fetch that followed anyway has sent the credentials on; its answer is not the server's.
      if (res.redirected) return { status: 307, header: () => undefined, body: '' };
      return { status: res.status, header: (name) => res.headers.get(name) ?? undefined, body };
    },
    close() {},
  };
}
