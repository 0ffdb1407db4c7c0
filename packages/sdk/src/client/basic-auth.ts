// client_secret_basic (RFC 6749 §2.3.1): the one encoding of a client id and secret in an HTTP
// Basic header, for the token client and the `tessera` CLI alike.

/**
 * `Basic base64(id:secret)`, each half form-urlencoded first, so a ":" or a non-ASCII character
 * in either survives the trip.
 */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const pair = `${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`;
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}

/**
 * application/x-www-form-urlencoded as the WHATWG URL standard serialises it (space → "+", and
 * every character but `*-._` and alphanumerics percent-encoded), which RFC 6749 Appendix B asks for.
 */
export function formUrlEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}
