// The authorization endpoint for a proxy in front of the upstream (nginx `auth_request`, Envoy's
// HTTP `ext_authz`): `GET /authz` (and any path under it) judges the original request as the
// gateway's own proxying would, and answers 200 with `X-Tessera-Principal` and `X-Tessera-Token`
// (and `Authorization: Bearer <token>`, for Envoy's allowed_upstream_headers) when it is
// allowed, the gateway's 401/403/404 otherwise. The original method and URI come from nginx's
// `X-Original-Method` / `X-Original-URI`, or, without them, from the request itself with the
// endpoint's path removed (Envoy sends the original path after its path_prefix). Only the
// proxies in `authz.allowFrom` are answered: anyone else could mint upstream tokens for themselves.

import type { IncomingMessage } from 'node:http';

export const AUTHZ_PATH = '/authz';

/** Whether `url` (the raw target) is the endpoint or under it. */
export function isAuthzTarget(url: string | undefined): boolean {
  if (url === undefined) return false;
  return url === AUTHZ_PATH || url.startsWith(`${AUTHZ_PATH}/`) || url.startsWith(`${AUTHZ_PATH}?`);
}

/** The method and raw target of the request being judged. */
export function originalRequest(req: IncomingMessage): { method: string; target: string | undefined; via: 'nginx' | 'envoy' } {
  const uri = req.headersDistinct['x-original-uri'];
  if (uri !== undefined) {
    const method = req.headersDistinct['x-original-method'];
    return { method: (method?.length === 1 ? method[0]! : 'GET').toUpperCase(), target: uri.length === 1 ? uri[0] : undefined, via: 'nginx' };
  }
  const rest = req.url!.slice(AUTHZ_PATH.length);
  return { method: req.method ?? 'GET', target: rest === '' || rest.startsWith('?') ? `/${rest}` : rest, via: 'envoy' };
}
