// How the token client reaches the server: the built-in node:http(s) client (private CA, client
// certificates, its own keep-alive agents closed by `close()`), or a caller-supplied fetch.

import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { sendRequest } from '../http/request.ts';
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
  close(): void;
}

/** Trust, agent and timeout of the built-in node:http(s) transport. */
export interface NodeTransportOptions {
  ca?: string | Buffer;
  agent?: HttpAgent;
  timeoutMs?: number;
}

/** The built-in transport: node:http(s) with a private CA and client certificates. */
export function nodeTransport(options: NodeTransportOptions): Transport {
  // Keep-alive saves a TLS handshake per refresh; idle sockets do not hold the process open, and
  // close() destroys them.
  let own: { http?: HttpAgent; https?: HttpsAgent } = {};
  const agentFor = (url: URL): HttpAgent => {
    if (options.agent) return options.agent;
    if (url.protocol === 'https:') return (own.https ??= new HttpsAgent({ keepAlive: true }));
    return (own.http ??= new HttpAgent({ keepAlive: true }));
  };
  return {
    async send(href, request) {
      const url = new URL(href);
      const res = await sendRequest(url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        ca: options.ca,
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
    close() {
      own.http?.destroy();
      own.https?.destroy();
      own = {};
    },
  };
}

/** A transport over a caller's fetch (no client certificates); each attempt ends after `timeoutMs`. */
export function fetchTransport(fetchImpl: TokenClientFetch, timeoutMs = 10_000): Transport {
  return {
    async send(url, request) {
      const signal = AbortSignal.any([request.signal, AbortSignal.timeout(timeoutMs)]);
      const res = await fetchImpl(url, { method: request.method, headers: request.headers, body: request.body, signal });
      const body = await res.text();
      return { status: res.status, header: (name) => res.headers.get(name) ?? undefined, body };
    },
    close() {},
  };
}
