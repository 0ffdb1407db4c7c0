// The authorization endpoint for a proxy in front of the upstream (nginx `auth_request`, Envoy's
// HTTP `ext_authz`): `GET /authz` (and any path under it) judges the original request as the
// gateway's own proxying would, and answers 200 with `X-Tessera-Principal` and `X-Tessera-Token`
// (and `Authorization: Bearer <token>`, for Envoy's allowed_upstream_headers) when it is
// allowed, the gateway's 401/403/404 otherwise. The original method and URI come from nginx's
// `X-Original-Method` / `X-Original-URI` (exactly one of each: a request carrying X-Original-URI
// without exactly one X-Original-Method is refused, never judged as a GET), or, without them, from the request itself with the
// endpoint's path removed (Envoy sends the original path after its path_prefix). Only the
// proxies in `authz.allowFrom` are answered: anyone else could mint upstream tokens for themselves.

import type { IncomingMessage } from 'node:http';

export const AUTHZ_PATH = '/authz';

/** Whether `url` (the raw target) is the endpoint or under it. */
export function isAuthzTarget(url: string | undefined): boolean {
  if (url === undefined) return false;
  return url === AUTHZ_PATH || url.startsWith(`${AUTHZ_PATH}/`) || url.startsWith(`${AUTHZ_PATH}?`);
}

export interface OriginalRequest {
  method: string;
  target: string | undefined;
  via: 'nginx' | 'envoy';
  /** Why the original request cannot be told (nginx headers missing or repeated); it is then refused. */
  problem?: string;
}

/** The method and raw target of the request being judged. */
export function originalRequest(req: IncomingMessage): OriginalRequest {
  const uri = req.headersDistinct['x-original-uri'];
  if (uri !== undefined) {
    const method = req.headersDistinct['x-original-method'];
    const target = uri.length === 1 ? uri[0] : undefined;
    if (method === undefined || method.length !== 1 || method[0]!.trim() === '') {
      const problem = method === undefined || method[0]!.trim() === '' ? 'carries no X-Original-Method' : 'carries more than one X-Original-Method';
      return {
        method: '',
        target,
        via: 'nginx',
        problem: `the authorization request ${problem}: the proxy must send exactly one (nginx: proxy_set_header X-Original-Method $request_method)`,
      };
    }
    return { method: method[0]!.trim().toUpperCase(), target, via: 'nginx' };
  }
  const rest = req.url!.slice(AUTHZ_PATH.length);
  return { method: req.method ?? 'GET', target: rest === '' || rest.startsWith('?') ? `/${rest}` : rest, via: 'envoy' };
}
