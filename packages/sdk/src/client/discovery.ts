// The token endpoint from the issuer's metadata: RFC 8414 first, OpenID Connect Discovery when
// the server only has that. The metadata must name the same issuer (RFC 8414 §3.3), so a
// misconfigured or hostile server cannot redirect the client's credentials elsewhere.

import { requireUrl } from '../verifier/options.ts';
import { TokenClientError } from './errors.ts';
import { withRetries, type TokenRequestContext } from './token-request.ts';

const METADATA_PATHS = ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'];

/** The `token_endpoint` of `issuer`'s metadata; throws ERR_DISCOVERY_FAILED with the reason. */
export async function discoverTokenEndpoint(ctx: TokenRequestContext, issuer: string): Promise<string> {
  const base = issuer.replace(/\/+$/, '');
  let lastProblem = '';
  for (const path of METADATA_PATHS) {
    const url = `${base}${path}`;
    let body: string;
    try {
      const { response } = await withRetries(ctx, `metadata request to ${url}`, () =>
        ctx.transport.send(url, { method: 'GET', headers: { accept: 'application/json' }, signal: ctx.signal }),
      );
      body = response.body;
    } catch (cause) {
      if (!(cause instanceof TokenClientError) || cause.code === 'ERR_CLIENT_CLOSED') throw cause;
      lastProblem = cause.message;
      if (cause.status === 404) continue;
      break;
    }
    let metadata: unknown;
    try {
      metadata = JSON.parse(body);
    } catch {
      lastProblem = `${url} did not answer JSON`;
      break;
    }
    const record = (metadata ?? {}) as Record<string, unknown>;
    if (record['issuer'] !== issuer && record['issuer'] !== base) {
      lastProblem = `${url} names the issuer ${JSON.stringify(record['issuer'])}, not ${JSON.stringify(issuer)}`;
      break;
    }
    const endpoint = record['token_endpoint'];
    if (typeof endpoint !== 'string' || !/^https?:\/\//.test(endpoint)) {
      lastProblem = `${url} names no http(s) token_endpoint`;
      break;
    }
    // The secret goes where this points: not in the clear across the network, whoever wrote it.
    try {
      requireUrl(endpoint, 'token_endpoint');
    } catch {
      lastProblem = `${url} names the token_endpoint ${endpoint}, plain http to a host that is not loopback, where the client's secret or assertion would cross the network in clear`;
      break;
    }
    return endpoint;
  }
  throw new TokenClientError(`cannot find the token endpoint of ${issuer}: ${lastProblem}; check the issuer URL or give tokenEndpoint`, {
    code: 'ERR_DISCOVERY_FAILED',
  });
}

/** The token endpoint as a client finds it: `get()` answers the one given, or discovers `issuer`'s once (a failure is tried again next call). */
export interface EndpointResolver {
  get(): Promise<string>;
  /** Settles once a discovery under way has ended (for close()). */
  settled(): Promise<unknown>;
}

export function endpointResolver(ctx: TokenRequestContext, tokenEndpoint: string | undefined, issuer: string | undefined): EndpointResolver {
  let endpoint = tokenEndpoint;
  let discovering: Promise<string> | undefined;
  return {
    async get() {
      if (endpoint !== undefined) return endpoint;
      discovering ??= discoverTokenEndpoint(ctx, issuer!).then(
        (found) => (endpoint = found),
        (error: unknown) => {
          discovering = undefined;
          throw error;
        },
      );
      return discovering;
    },
    settled: () => (discovering ? Promise.allSettled([discovering]) : Promise.resolve()),
  };
}

/** The one of `tokenEndpoint` and `issuer` a client was given, each an http(s) URL; a TypeError otherwise. */
export function checkEndpoints(options: { tokenEndpoint?: string; issuer?: string }): { tokenEndpoint: string | undefined; issuer: string | undefined } {
  const { tokenEndpoint, issuer } = options;
  if ((tokenEndpoint === undefined) === (issuer === undefined)) {
    throw new TypeError('give exactly one of tokenEndpoint (the token URL) or issuer (to read it from the server metadata)');
  }
  const name = tokenEndpoint !== undefined ? 'tokenEndpoint' : 'issuer';
  const value = (tokenEndpoint ?? issuer)!;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${name} is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`${name} must be an https: (or http:) URL, not ${url.protocol}`);
  return { tokenEndpoint, issuer };
}
