// Before a server is loaded, the harness checks that what it hands out is a real token: an
// ES256 JWT that verifies against the server's own JWKS, with the issuer, audience, client
// and roles the request asked for. A server answering 200 with something cheaper would win
// the benchmark for nothing.

import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';

export interface TokenRequestShape {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface TokenExpectations {
  jwksUrl: string;
  issuer: string;
  audience: string;
  clientId: string;
  roles: readonly string[];
}

export interface TokenSample {
  alg: string;
  typ: string | undefined;
  claims: string[];
  /** Distinct signing keys seen across the samples (one per server, or shared by workers). */
  kids: number;
}

/** Fetches `count` tokens and verifies each; throws with what is wrong. */
export async function verifyTokens(shape: TokenRequestShape, expect: TokenExpectations, count: number): Promise<TokenSample> {
  const jwksResponse = await fetch(expect.jwksUrl);
  if (!jwksResponse.ok) throw new Error(`JWKS ${expect.jwksUrl}: ${jwksResponse.status}`);
  const jwks = createLocalJWKSet((await jwksResponse.json()) as JSONWebKeySet);
  const kids = new Set<string>();
  let sample: TokenSample | undefined;
  for (let i = 0; i < count; i += 1) {
    const token = await fetchToken(shape);
    const header = decodeProtectedHeader(token);
    if (header.alg !== 'ES256') throw new Error(`token alg is ${header.alg}, expected ES256`);
    const { payload } = await jwtVerify(token, jwks, { issuer: expect.issuer, audience: expect.audience, algorithms: ['ES256'] });
    checkClaims(payload, expect);
    kids.add(header.kid ?? '');
    sample = { alg: header.alg, typ: header.typ, claims: Object.keys(payload).sort(), kids: 0 };
  }
  return { ...sample!, kids: kids.size };
}

export async function fetchToken(shape: TokenRequestShape): Promise<string> {
  const res = await fetch(shape.url, { method: 'POST', headers: shape.headers, body: shape.body });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`token request: ${res.status} ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { access_token: string }).access_token;
}

function checkClaims(payload: JWTPayload, expect: TokenExpectations): void {
  const clientId = payload['client_id'] ?? payload.sub;
  if (clientId !== expect.clientId) throw new Error(`token is for ${String(clientId)}, expected ${expect.clientId}`);
  // Tessera and the floor list roles in `scp`; oidc-provider in the space-separated `scope`.
  const scp = payload['scp'];
  const roles = Array.isArray(scp) ? scp.map(String) : String(payload['scope'] ?? '').split(' ');
  for (const role of expect.roles) if (!roles.includes(role)) throw new Error(`token lacks role ${role}: ${JSON.stringify(roles)}`);
  if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number' || payload.exp <= payload.iat) throw new Error('token has no sensible iat/exp');
  if (typeof payload.jti !== 'string' || payload.jti.length < 16) throw new Error('token has no jti');
}
