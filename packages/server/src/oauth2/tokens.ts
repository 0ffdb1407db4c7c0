// Building and signing the two token kinds. Claims follow docs/tokens.md (the access token is the
// RFC 9068 profile with Athenz's ver/uid/scp, and the ID token); all JWS work is jose's.

import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { SigningKey } from '../keys/signing-key-material.ts';

export type { SigningKey };

export interface AccessTokenClaims {
  ver: 1;
  iss: string;
  aud: string | string[];
  sub: string;
  uid: string;
  client_id: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  scp: string[];
  scope: string;
  cnf?: { 'x5t#S256': string };
}

export interface AccessTokenInput {
  issuer: string;
  principal: string;
  audience: string | string[];
  scp: string[];
  scope: string;
  issuedAt: number;
  lifetime: number;
  certificateThumbprint?: string;
}

export function accessTokenClaims(input: AccessTokenInput): AccessTokenClaims {
  const claims: AccessTokenClaims = {
    ver: 1,
    iss: input.issuer,
    aud: input.audience,
    sub: input.principal,
    uid: input.principal,
    client_id: input.principal,
    iat: input.issuedAt,
    nbf: input.issuedAt,
    exp: input.issuedAt + input.lifetime,
    jti: randomUUID(),
    scp: input.scp,
    scope: input.scope,
  };
  if (input.certificateThumbprint) claims.cnf = { 'x5t#S256': input.certificateThumbprint };
  return claims;
}

export function signAccessToken(claims: AccessTokenClaims, key: SigningKey): Promise<string> {
  return new SignJWT({ ...claims }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' }).sign(key.privateKey);
}

/** ID tokens live at most 12 hours and never longer than the access token they come with. */
export const ID_TOKEN_MAX_LIFETIME = 12 * 3600;

export function signIdToken(
  input: { issuer: string; principal: string; audience: string; issuedAt: number; lifetime: number },
  key: SigningKey,
): Promise<string> {
  const lifetime = Math.min(input.lifetime, ID_TOKEN_MAX_LIFETIME);
  const claims = {
    ver: 1,
    iss: input.issuer,
    aud: input.audience,
    sub: input.principal,
    iat: input.issuedAt,
    auth_time: input.issuedAt,
    exp: input.issuedAt + lifetime,
  };
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
}
