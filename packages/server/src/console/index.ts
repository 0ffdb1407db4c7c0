// The web console at /console/: a client of the admin API served from the same origin, with a
// Content-Security-Policy that lets the page run only its own modules and styles and talk only
// to this origin (docs/console.md). Its routes are hidden from /openapi.json. The files come from
// @tessera/console, prepared once, when the first request under /console/ needs them (assets.ts):
// preparing them loads Node's type stripper, ~25 MB that a process serving only tokens never pays.
//
// Caching: the page (`/console/`) is `no-cache` with a strong ETag, so every load revalidates it
// (a 304 when unchanged) and picks up a new version at once; everything it loads lives under
// `/console/assets/<version>/` and is `immutable` for a year. Another version's path is 404.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { loadConsoleAssets, type ConsoleAsset, type ConsoleAssets } from './assets.ts';
import { consoleOidcRoutes, OIDC_CONFIG_PATH, type ConsoleOidcDeps } from './oidc.ts';

export { loadConsoleAssets, moduleSource } from './assets.ts';

export const CONSOLE_PATH = '/console/';

export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Headers on every answer under /console, found or not. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

const PAGE_CACHE = 'no-cache';
const ASSET_CACHE = 'public, max-age=31536000, immutable';

export interface ConsoleOptions {
  /** `console.enabled`: false registers no route, so /console/ is the API's 404. */
  enabled: boolean;
  /** The prepared files, or what prepares them on first use; loadConsoleAssets() (@tessera/console) when not given. */
  assets?: ConsoleAssets | (() => ConsoleAssets);
  /** OpenID Connect sign-in for people (`console.oidc`); absent: off, and its routes are 404. */
  oidc?: { deps: ConsoleOidcDeps; clientSecret: string | null } | undefined;
}

/** Registers the console's routes; returns what gives its files (prepared on the first call), or null when it is off. */
export function consoleRoutes(app: FastifyInstance, options: ConsoleOptions): (() => ConsoleAssets) | null {
  if (!options.enabled) return null;
  const given = options.assets;
  let prepared = typeof given === 'function' ? undefined : given;
  const prepare = typeof given === 'function' ? given : () => loadConsoleAssets();
  const assets = (): ConsoleAssets => (prepared ??= prepare());
  const hidden = { schema: { hide: true } };
  app.get('/console', hidden, (_request, reply) => secured(reply).code(301).header('location', CONSOLE_PATH).send());
  app.get(CONSOLE_PATH, hidden, (request, reply) => serve(request, reply, assets().entry, PAGE_CACHE));
  app.get<{ Params: { version: string; '*': string } }>('/console/assets/:version/*', hidden, (request, reply) => {
    const files = assets();
    const file = request.params.version === files.version ? files.files.get(request.params['*']) : undefined;
    if (file === undefined) return notFound(request, reply);
    return serve(request, reply, file, ASSET_CACHE);
  });
  // Same headers as every answer under /console.
  app.register(async (scope) => {
    scope.addHook('onRequest', async (_request, reply) => {
      secured(reply);
    });
    if (options.oidc) consoleOidcRoutes(scope, options.oidc.deps, options.oidc.clientSecret);
    else scope.get(OIDC_CONFIG_PATH, hidden, (_request, reply) => reply.header('cache-control', 'no-store').send({ enabled: false }));
  });
  app.get('/console/*', hidden, notFound);
  return assets;
}

function secured(reply: FastifyReply): FastifyReply {
  return reply.headers(SECURITY_HEADERS);
}

function serve(request: FastifyRequest, reply: FastifyReply, file: ConsoleAsset, cacheControl: string): FastifyReply {
  secured(reply).header('cache-control', cacheControl).header('etag', file.etag);
  if (matches(request.headers['if-none-match'], file.etag)) return reply.code(304).send();
  return reply.type(file.contentType).send(file.body);
}

/** RFC 9110 §13.1.2: If-None-Match holds `*` or a list of entity tags (weak ones compared weakly). */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed === etag || trimmed === `W/${etag}`;
  });
}

function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0] ?? '';
  return secured(reply)
    .code(404)
    .header('cache-control', 'no-store')
    .send({ error: 'not_found', message: `no console file at ${path}; the console is at ${CONSOLE_PATH}` });
}
