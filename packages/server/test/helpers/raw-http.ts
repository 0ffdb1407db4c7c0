// Bytes on a bare TCP connection, for what a TLS or HTTP client would refuse to send.

import { connect } from 'node:net';

/** Sends `request` on a raw TCP connection; resolves to everything read until the server closed it. */
export function rawExchange(port: number, request: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => socket.write(request));
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.setTimeout(5000, () => reject(new Error(`no close within 5 s; read ${JSON.stringify(text)}`)));
    socket.on('close', () => resolve(text));
  });
}
