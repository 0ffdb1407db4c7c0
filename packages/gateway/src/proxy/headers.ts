// What the upstream hears of the caller's headers. Removed: hop-by-hop headers (RFC 9110 §7.6.1,
// and any the Connection header names); every credential and identity the caller could claim for
// itself (Authorization, client-certificate headers of nginx, Envoy, RFC 9440 and others, any
// X-Tessera-* header, forwarding headers, URL-override headers some frameworks obey). Set: the
// gateway's own Authorization, Host (the upstream's), and X-Forwarded-For/-Proto/-Host from what
// the gateway itself saw. Names are compared with underscores read as dashes.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Caller-sent headers that could pass for an identity, a certificate or a different URL. */
export const IDENTITY_HEADERS = new Set([
  'authorization',
  'cookie2',
  'x-ssl-client-cert',
  'x-ssl-client-verify',
  'x-ssl-client-s-dn',
  'x-ssl-client-i-dn',
  'x-ssl-client-dn',
  'x-ssl-cert',
  'ssl-client-cert',
  'ssl-client-verify',
  'x-client-cert',
  'x-client-certificate',
  'x-client-verify',
  'x-client-dn',
  'x-forwarded-client-cert',
  'client-cert',
  'client-cert-chain',
  'x-arr-clientcert',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-real-ip',
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-preferred-username',
  'x-forwarded-groups',
  'x-forwarded-access-token',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-access-token',
  'x-remote-user',
  'remote-user',
  'x-user',
  'x-principal',
  'x-original-uri',
  'x-original-url',
  'x-original-method',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

export interface ForwardedFrom {
  remoteAddress: string;
  proto: 'http' | 'https';
  host: string | undefined;
}

/** The caller's headers as the upstream receives them, with the gateway's Authorization. */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  token: string,
  upstreamHost: string,
  from: ForwardedFrom,
  extraStrip: readonly string[],
  upgrade = false,
): OutgoingHttpHeaders {
  const named = connectionNamed(incoming['connection']);
  const strip = stripSet(extraStrip);
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    // CGI, WSGI and PHP read `X_Tessera_Principal` and `X-Tessera-Principal` as one variable
    // (HTTP_X_TESSERA_PRINCIPAL): a name is judged with its underscores read as dashes.
    const dashed = name.includes('_') ? name.replaceAll('_', '-') : name;
    if (HOP_BY_HOP.has(dashed) || IDENTITY_HEADERS.has(dashed) || dashed === 'host') continue;
    if (named !== undefined && (named.has(name) || named.has(dashed))) continue;
    if (dashed.startsWith('x-tessera-') || dashed.startsWith('x-envoy-')) continue;
    if (strip !== undefined && strip.has(dashed)) continue;
    out[name] = value;
  }
  out['host'] = upstreamHost;
  out['authorization'] = `Bearer ${token}`;
  out['x-forwarded-for'] = from.remoteAddress;
  out['x-forwarded-proto'] = from.proto;
  if (from.host !== undefined) out['x-forwarded-host'] = from.host;
  if (upgrade) {
    out['connection'] = 'Upgrade';
    out['upgrade'] = String(incoming['upgrade'] ?? '');
  }
  return out;
}

/**
 * The upstream's response headers as the caller receives them: hop-by-hop headers removed, and a
 * `Location` naming the upstream's own origin (and base path) rewritten to the caller-facing
 * origin, as nginx's `proxy_redirect default` does, so a redirect never shows the internal address.
 * `Set-Cookie` and every other header pass as the upstream sent them.
 */
export function downstreamHeaders(incoming: IncomingHttpHeaders, upstream?: URL, from?: ForwardedFrom): OutgoingHttpHeaders {
  const named = connectionNamed(incoming['connection']);
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || HOP_BY_HOP.has(name) || (named !== undefined && named.has(name))) continue;
    out[name] = name === 'location' && upstream && from && typeof value === 'string' ? callerLocation(value, upstream, from) : value;
  }
  return out;
}

/** The header names a Connection header lists, lower case; undefined when it lists none beyond the hop-by-hop ones (most messages: `keep-alive`). */
function connectionNamed(connection: string | string[] | undefined): ReadonlySet<string> | undefined {
  if (connection === undefined) return undefined;
  const names = String(connection)
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '' && !HOP_BY_HOP.has(name));
  return names.length === 0 ? undefined : new Set(names);
}

/**
 * `stripHeaders` as a set of lower-case names with underscores read as dashes (`x_remote_groups`
 * strips `X-Remote-Groups` too), made once per list (the list changes only with a reload).
 */
const stripSets = new WeakMap<readonly string[], ReadonlySet<string>>();
function stripSet(names: readonly string[]): ReadonlySet<string> | undefined {
  if (names.length === 0) return undefined;
  let set = stripSets.get(names);
  if (set === undefined) stripSets.set(names, (set = new Set(names.map((name) => name.toLowerCase().replaceAll('_', '-')))));
  return set;
}

function callerLocation(location: string, upstream: URL, from: ForwardedFrom): string {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return location; // relative: already the caller's
  }
  if (url.origin !== upstream.origin) return location;
  const base = upstream.pathname.replace(/\/+$/, '');
  const path = base !== '' && (url.pathname === base || url.pathname.startsWith(`${base}/`)) ? url.pathname.slice(base.length) || '/' : url.pathname;
  const origin = from.host !== undefined && /^[A-Za-z0-9.\-[\]:]+$/.test(from.host) ? `${from.proto}://${from.host}` : '';
  return `${origin}${path}${url.search}${url.hash}`;
}
