// Plain HTTP sent to the HTTPS port. OpenSSL sees a request line where a TLS record should be
// and fails the handshake ("http request"); Node would then close the connection without a
// word, and curl reports "Empty reply from server". Instead the connection gets a plain
// HTTP/1.1 400 naming the https URL to use, written on the TCP socket under the TLS one (the
// TLS layer never started, so there is nothing to encrypt with). The client sent the request
// already, so the answer costs nothing a caller could not get with any other malformed request.

import type { Socket } from 'node:net';

/** The code Node gives the handshake failure when the first bytes are an HTTP request. */
export const PLAIN_HTTP_ERROR = 'ERR_SSL_HTTP_REQUEST';

/** Answers 400 on the TCP socket under `tlsSocket` and closes both; false when there is no such socket. */
export function answerPlainHttp(tlsSocket: Socket): boolean {
  // Node's TLSSocket keeps the socket it wraps as `_parent` (not public API: without it, the
  // connection is closed as before, and the refusal is still counted and logged).
  const raw: unknown = Reflect.get(tlsSocket, '_parent');
  if (!isWritableSocket(raw)) return false;
  const host = raw.localAddress?.includes(':') ? `[${raw.localAddress}]` : (raw.localAddress ?? 'localhost');
  const url = `https://${host}:${raw.localPort ?? 443}/`;
  const body = `${JSON.stringify({ error: 'invalid_request', message: `this port speaks HTTPS, not plain HTTP: send the request to ${url}` })}\n`;
  raw.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () =>
    tlsSocket.destroy(),
  );
  // A client that never reads must not hold the socket open.
  raw.setTimeout(5000, () => raw.destroy());
  return true;
}

function isWritableSocket(value: unknown): value is Socket {
  return typeof value === 'object' && value !== null && typeof (value as Socket).end === 'function' && (value as Socket).writable === true;
}
