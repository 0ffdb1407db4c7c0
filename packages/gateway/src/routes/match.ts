// Which route a request takes, judged on one reading of its target that the upstream cannot
// read differently: the path's segments percent-decoded, `;parameters` dropped (as Tomcat and
// other servlet containers do), and anything two servers might resolve differently refused
// outright (400) instead of normalized: `.` and `..` segments (also encoded), encoded slashes,
// backslashes, `?` and `#`, double percent-encodings (`%252e`), empty segments (`//`), NUL, and
// targets that are not origin-form (`/path?query`).
// The target is then forwarded to the upstream byte for byte as the caller sent it.
//
// A route's prefix matches the path itself or the path below it at a segment boundary
// (`/orders` matches `/orders` and `/orders/7`, never `/ordersX`); among routes that match host
// and method the longest prefix wins, a route naming the host before one that does not.
// Anything unmatched is refused (default deny).

import { isIP } from 'node:net';
import type { RouteConfig } from '../config/config.ts';

export type Target = { ok: true; path: string; raw: string } | { ok: false; reason: string };

/** A path of RFC 3986 path characters without `%` (nothing encoded) or `;` (no matrix parameters). */
const PLAIN_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,=:@/]*$/;
/** A `.` or `..` segment. */
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/** The path as routes see it, or why the target is refused. */
export function readTarget(raw: string | undefined): Target {
  if (raw === undefined || !raw.startsWith('/')) return { ok: false, reason: 'the request target must be a path starting with "/" (origin-form)' };
  const question = raw.indexOf('?');
  const pathPart = question < 0 ? raw : raw.slice(0, question);
  // Most paths hold nothing to decode or judge (no `%`, `;`, `\`, control character, empty or
  // dot segment): read as they are, they are what the segment-by-segment reading below gives.
  if (PLAIN_PATH.test(pathPart) && !pathPart.includes('//') && !DOT_SEGMENT.test(pathPart)) return { ok: true, path: pathPart, raw };
  return readBySegments(pathPart, raw);
}

/** readTarget's full reading of the path (exported for the test that checks the shortcut against it). */
export function readBySegments(pathPart: string, raw: string): Target {
  if (/[\\#\s\x00-\x1f\x7f]/.test(pathPart)) return { ok: false, reason: 'the path holds a backslash, "#", space or control character' };
  const segments = pathPart.split('/').slice(1);
  const decoded: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    let segment: string;
    try {
      segment = decodeURIComponent(segments[i]!);
    } catch {
      return { ok: false, reason: 'the path holds a malformed percent-encoding' };
    }
    if (/[/\\\x00-\x1f\x7f]/.test(segment)) return { ok: false, reason: 'the path holds an encoded "/", "\\" or control character' };
    // `%3F` and `%23`: an upstream that decodes the path before splitting off the query or
    // fragment would end the path there (`/orders/admin%3F` is `/orders/admin` to it).
    if (/[?#]/.test(segment)) {
      return { ok: false, reason: 'the path holds an encoded "?" or "#" (%3F, %23), which an upstream decoding the path first reads as its end' };
    }
    // Double encoding (`%252e%252e`, `%252f`): an upstream that decodes twice would read `..` or `/`.
    if (/%[0-9a-f]{2}/i.test(segment)) return { ok: false, reason: 'the path holds a double percent-encoding ("%25" followed by two hex digits)' };
    // Matrix parameters: `/orders;x/admin` is `/orders/admin` to a servlet container.
    const bare = segment.split(';')[0]!;
    if (bare === '.' || bare === '..') return { ok: false, reason: 'the path holds a "." or ".." segment; send the resolved path' };
    if (bare === '' && i < segments.length - 1) return { ok: false, reason: 'the path holds an empty segment ("//")' };
    decoded.push(bare);
  }
  return { ok: true, path: `/${decoded.join('/')}`, raw };
}

/** A host name (labels of letters, digits, `-` and `_`, an optional trailing dot) or a bracketed IPv6 literal, then an optional port. */
const HOST = /^(?:\[([0-9A-Fa-f:.]+)\]|[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?)(?::(\d{0,5}))?$/;

export type Host = { ok: true; name: string; value: string | undefined } | { ok: false; reason: string };

/**
 * The Host header as routes see it (`name`, from hostName) and as the upstream hears it in
 * X-Forwarded-Host (`value`, as sent; undefined when there is none), or why it is refused. Only a
 * host name or IP literal with an optional port 1-65535 is read: anything else (`name:evil`, a
 * list `a, b`) would miss a route naming the host, and be read as that host by an upstream that
 * takes X-Forwarded-Host's first or last element, or cuts it at ":".
 */
export function readHost(header: string | undefined): Host {
  const value = header?.trim();
  if (value === undefined || value === '') return { ok: true, name: '', value: undefined };
  const match = HOST.exec(value);
  const port = match?.[2];
  const ipv6 = match?.[1];
  if (!match || (port !== undefined && port !== '' && !(Number(port) >= 1 && Number(port) <= 65535)) || (ipv6 !== undefined && isIP(ipv6) !== 6)) {
    return {
      ok: false,
      reason:
        `the Host header ${JSON.stringify(value.slice(0, 100))} is not a host name or IP address with an optional port (1-65535); ` +
        'send one host, e.g. "api.example.com" or "[::1]:8443"',
    };
  }
  return { ok: true, name: hostName(value), value };
}

/** The Host header's name, lower case, without port or trailing dot. */
export function hostName(header: string | undefined): string {
  if (header === undefined) return '';
  const host = header.trim().toLowerCase();
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}

export interface RouteTable {
  readonly routes: readonly RouteConfig[];
  /** The route for this host, method and (decoded) path, or undefined. */
  match(host: string, method: string, path: string): RouteConfig | undefined;
}

export function createRouteTable(routes: readonly RouteConfig[]): RouteTable {
  // Longest prefix first; at equal length a route naming the host first; then the file's order.
  const ordered = routes
    .map((route, index) => ({ route, index }))
    .sort(
      (a, b) =>
        b.route.pathPrefix.length - a.route.pathPrefix.length || Number(b.route.host !== undefined) - Number(a.route.host !== undefined) || a.index - b.index,
    )
    .map(({ route }) => route);
  return {
    routes,
    match(host, method, path) {
      for (const route of ordered) {
        if (route.host !== undefined && route.host !== host) continue;
        if (route.methods !== null && !route.methods.has(method)) continue;
        if (prefixMatches(route.pathPrefix, path)) return route;
      }
      return undefined;
    },
  };
}

function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47); /* / */
}
