// How a request appears in the log lines fastify writes (at debug and trace: `incoming request`,
// `request completed`): method and address as fastify has them, and the URL with the value of
// every query parameter replaced by `[redacted]` unless its name is one of the harmless ones the
// APIs define (page sizes, cursors, filters). A credential sent in a query string by mistake or on
// purpose (`?token=`, `?access_token=`, `?client_secret=`, `?code=`) never reaches the log; the
// Authorization and Cookie headers are redacted by the logger itself (http/app.ts).

/** Query parameters whose values the log keeps: the lists' and filters' (docs/http-api.md). */
const LOGGED_PARAMETERS = new Set(['limit', 'cursor', 'since', 'principal', 'type', 'target', 'status', 'within', 'endpoint', 'period', 'days', 'reason']);

export const REDACTED = '[redacted]';

/** `url` with each query value not in LOGGED_PARAMETERS replaced; the path and the names are kept. */
export function loggableUrl(url: string): string {
  const mark = url.indexOf('?');
  if (mark < 0) return url;
  const query = url.slice(mark + 1);
  if (query === '') return url;
  const parts = query.split('&').map((part) => {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name.replaceAll('+', ' '));
    } catch {
      // A malformed escape: not one of ours.
    }
    if (eq < 0) return name;
    return LOGGED_PARAMETERS.has(decoded) ? part : `${name}=${REDACTED}`;
  });
  return `${url.slice(0, mark)}?${parts.join('&')}`;
}

/** What a request line says of the request. */
export interface RequestLogFields {
  [field: string]: unknown;
  method: string;
  url: string;
  host?: string;
  remoteAddress?: string;
  remotePort?: number;
}

/** fastify's `req` serializer with loggableUrl. */
export function requestForLog(request: { method: string; url: string; hostname?: string; ip?: string; socket?: { remotePort?: number } }): RequestLogFields {
  return {
    method: request.method,
    url: loggableUrl(request.url),
    host: request.hostname,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
