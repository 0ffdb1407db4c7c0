// Every refusal the gateway answers itself: a status, an RFC 6750 challenge where one belongs
// (realm "tessera-gateway"), and a JSON body `{ "error", "error_description" }` (docs/gateway.md, Errors).

import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export const REALM = 'tessera-gateway';

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly status: number;
  /** The `error` of the JSON body (and of the challenge, for 401 invalid_token and 403). */
  readonly error: string;
  /**
   * `detail`: what went wrong inside (an error's message, with Tessera's or an upstream's address),
   * for the access log only: callers get the fixed sentence of `message`.
   */
  readonly extra: { challenge?: 'none' | 'error'; scope?: string; retryAfter?: number; reason?: string; detail?: string };

  constructor(status: number, error: string, message: string, extra: GatewayError['extra'] = {}) {
    super(message);
    this.status = status;
    this.error = error;
    this.extra = extra;
  }

  static missing(message: string): GatewayError {
    return new GatewayError(401, 'unauthorized', message, { challenge: 'none' });
  }

  static invalidToken(message: string, reason?: string): GatewayError {
    return new GatewayError(401, 'invalid_token', message, { challenge: 'error', ...(reason && { reason }) });
  }

  static insufficientScope(message: string, scope: string): GatewayError {
    return new GatewayError(403, 'insufficient_scope', message, { challenge: 'error', scope });
  }

  static unavailable(message: string, detail?: string): GatewayError {
    return new GatewayError(503, 'temporarily_unavailable', message, { retryAfter: 5, ...(detail !== undefined && { detail }) });
  }

  headers(): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
    if (this.extra.challenge === 'none') headers['www-authenticate'] = `Bearer realm="${REALM}"`;
    if (this.extra.challenge === 'error') {
      const params = [`realm="${REALM}"`, `error="${this.error}"`, `error_description="${safe(this.message)}"`];
      if (this.extra.scope) params.push(`scope="${safe(this.extra.scope)}"`);
      headers['www-authenticate'] = `Bearer ${params.join(', ')}`;
    }
    if (this.extra.retryAfter !== undefined) headers['retry-after'] = String(this.extra.retryAfter);
    return headers;
  }

  body(): string {
    return JSON.stringify({ error: this.error, error_description: safe(this.message), ...(this.extra.scope && { scope: this.extra.scope }) });
  }
}

export function sendError(res: ServerResponse, error: GatewayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = error.body();
  res.writeHead(error.status, { ...error.headers(), 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The same answer on a raw socket (a refused WebSocket upgrade). */
export function writeErrorToSocket(socket: Duplex, error: GatewayError): void {
  const body = error.body();
  const headers = { ...error.headers(), 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
  const head = [`HTTP/1.1 ${error.status} ${statusText(error.status)}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
  socket.end(`${head}\r\n\r\n${body}`);
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Error';
}

/**
 * RFC 6750 §3 quoted-string content: %x20-21 / %x23-5B / %x5D-7E, cut short. The limit is a
 * backstop: quoted texts (Tessera's reasons) are clipped where they are quoted, so the gateway's
 * own advice around them is never the part cut.
 */
function safe(text: string): string {
  const cleaned = text
    .replaceAll('"', "'")
    .replaceAll('\\', '/')
    .replace(/[^\x20-\x7e]/g, '?');
  return cleaned.length > DESCRIPTION_LIMIT ? `${cleaned.slice(0, DESCRIPTION_LIMIT - 3)}...` : cleaned;
}

const DESCRIPTION_LIMIT = 1000;
