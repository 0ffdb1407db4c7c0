// The Authorization header's Basic scheme (RFC 7617) and the WWW-Authenticate challenges Tessera
// answers a 401 with: read and written here only, so the endpoints that take Basic agree on
// what a header says and every challenge names the same realm.

/** RFC 6749 §2.3.1 / §5.2: the token, introspection and revocation endpoints' challenge to a client that used Basic. */
export const BASIC_CHALLENGE = 'Basic realm="tessera", charset="UTF-8"';
/** RFC 6750 §3: the admin APIs' challenge to a missing, unknown or expired access token. */
export const BEARER_CHALLENGE = 'Bearer realm="tessera", error="invalid_token"';
/** RFC 7030 §3.2.3: an EST client may send its join token as Bearer or as Basic. */
export const EST_CHALLENGE = 'Basic realm="tessera-est", Bearer realm="tessera-est"';

export interface BasicCredentials {
  user: string;
  password: string;
}

/** Whether the header uses the Basic scheme, spelled as the OAuth endpoints read it ("Basic" and one space, any case). */
export function isBasic(authorization: string | undefined): boolean {
  return /^basic /i.test(authorization ?? '');
}

/**
 * The user-id and password of a Basic header, split at the first colon (a password may hold
 * more); undefined when the header is not Basic, 'malformed' when its decoded text has no colon.
 * Base64 is decoded leniently, as Node does (characters outside the alphabet are skipped), so a
 * damaged header usually reads as having no colon.
 */
export function basicCredentials(authorization: string | undefined): BasicCredentials | 'malformed' | undefined {
  if (authorization === undefined || !isBasic(authorization)) return undefined;
  return decodeBasic(authorization.slice('basic '.length).trim()) ?? 'malformed';
}

/** The base64 `user-id:password` of a Basic header's credentials; undefined without a colon. */
export function decodeBasic(encoded: string): BasicCredentials | undefined {
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * RFC 6749 §2.3.1: an OAuth client's id and secret are each form-urlencoded before Basic encodes
 * them, so '+' is a space and %XX a byte. undefined when `text` is not valid percent-encoding.
 */
export function formDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}
