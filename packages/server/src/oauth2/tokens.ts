// Building and signing the two token kinds. Claims follow docs/tokens.md: the access token is the
// RFC 9068 profile with Athenz's ver/uid/scp claims; the ID token is an OpenID Connect one.
//
// These are the token endpoint's hot path, so the compact JWS is built here rather than with
// jose's SignJWT: the protected header is the key's, encoded once when it was opened
// (keys/signing-key-material.ts), and the signature is one node:crypto sign, on the event loop
// or on the thread pool as `signing.thread` says (compactJws below).
// The tests verify every algorithm's tokens with jose against the published JWKS.

import { randomUUID, sign, webcrypto } from 'node:crypto';
import { joseEcdsaSignature } from '../keys/ecdsa-signature.ts';
import type { SigningKey, TokenTyp } from '../keys/signing-key-material.ts';
import type { ActClaim } from '../policy/delegation.ts';

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
  /** RFC 8693 §4.1: who acts for `sub`, the current actor outermost (policy/delegation.ts). */
  act?: ActClaim;
  /** The jtis of the tokens this one was exchanged from, nearest first: revoking any of them ends it (accept-token.ts). */
  exchanged_from?: string[];
  /**
   * The `cnf` thumbprints (`x5t#S256`) of the tokens this one was exchanged from that were bound
   * to a certificate, each once: revoking one of those certificates ends it (accept-token.ts).
   */
  exchanged_cnf?: string[];
  /**
   * Set when the chain it was exchanged from starts with an ID token (subject_token_type
   * id_token): every role it carries must allow ID-token subjects (accept-token.ts).
   */
  exchanged_from_id_token?: true;
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
  /** The client the token is issued to when it is not `principal` (token exchange, proxy_for_principal). */
  clientId?: string;
  act?: ActClaim;
  exchangedFrom?: string[];
  exchangedCnf?: string[];
  fromIdToken?: boolean;
}

export function accessTokenClaims(input: AccessTokenInput): AccessTokenClaims {
  const claims: AccessTokenClaims = {
    ver: 1,
    iss: input.issuer,
    aud: input.audience,
    sub: input.principal,
    uid: input.principal,
    client_id: input.clientId ?? input.principal,
    iat: input.issuedAt,
    nbf: input.issuedAt,
    exp: input.issuedAt + input.lifetime,
    jti: randomUUID(),
    scp: input.scp,
    scope: input.scope,
  };
  if (input.certificateThumbprint) claims.cnf = { 'x5t#S256': input.certificateThumbprint };
  if (input.act) claims.act = input.act;
  if (input.exchangedFrom && input.exchangedFrom.length > 0) claims.exchanged_from = input.exchangedFrom;
  if (input.exchangedCnf && input.exchangedCnf.length > 0) claims.exchanged_cnf = input.exchangedCnf;
  if (input.fromIdToken) claims.exchanged_from_id_token = true;
  return claims;
}

/** P-256's r and s, each 32 bytes in a JWS (RFC 7518 §3.4). */
const ES256_INTEGER_BYTES = 32;

/** WebCrypto's sign parameters for each algorithm (ECDSA's output is already R || S, as JWS wants). */
const SIGN_PARAMS: Readonly<Record<SigningKey['alg'], webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams>> = {
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  EdDSA: { name: 'Ed25519' },
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
};

/**
 * RFC 7515 §7.1 compact serialization, signed as RFC 7518 §3.3/§3.4 and RFC 8037 §3.1 say for the
 * key's alg. Where the key says so (keys/signing-key-material.ts: ES256, when every core runs a
 * worker of its own), node:crypto signs on the event loop and the DER signature is rewritten as
 * r || s; otherwise WebCrypto signs on libuv's thread pool, which puts a spare core to work while
 * the loop parses the next request.
 */
async function compactJws(key: SigningKey, typ: TokenTyp, claims: object, header = key.headers[typ]): Promise<string> {
  const signingInput = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const input = Buffer.from(signingInput);
  const signature = key.onEventLoop
    ? joseEcdsaSignature(sign('sha256', input, key.privateKey), ES256_INTEGER_BYTES)
    : Buffer.from(await webcrypto.subtle.sign(SIGN_PARAMS[key.alg], key.signer, input));
  return `${signingInput}.${signature.toString('base64url')}`;
}

export function signAccessToken(claims: AccessTokenClaims, key: SigningKey): Promise<string> {
  return compactJws(key, 'at+jwt', claims);
}

/** ID tokens live at most 12 hours and never longer than the access token they come with. */
export const ID_TOKEN_MAX_LIFETIME = 12 * 3600;

/** The claims of an ID token (docs/tokens.md): its `aud` is the one service it proves `sub`'s identity to. */
export interface IdTokenClaims {
  ver: 1;
  iss: string;
  aud: string;
  sub: string;
  iat: number;
  auth_time: number;
  exp: number;
  /** Revoking it (RFC 7009) ends every token exchanged from it (grants/token_exchange.ts). */
  jti: string;
  /**
   * Set when the token request authenticated with a client certificate (RFC 8705 §3.1's claim):
   * revoking that certificate, or its expiry, ends the ID token as a subject token and every token
   * exchanged from it (grants/token_exchange.ts, accept-token.ts).
   */
  cnf?: { 'x5t#S256': string };
}

export interface IdTokenInput {
  issuer: string;
  principal: string;
  audience: string;
  issuedAt: number;
  lifetime: number;
  /** The thumbprint of the client certificate the request authenticated with, if one did. */
  certificateThumbprint?: string;
}

export function idTokenClaims(input: IdTokenInput): IdTokenClaims {
  const lifetime = Math.min(input.lifetime, ID_TOKEN_MAX_LIFETIME);
  const claims: IdTokenClaims = {
    ver: 1,
    iss: input.issuer,
    aud: input.audience,
    sub: input.principal,
    iat: input.issuedAt,
    auth_time: input.issuedAt,
    exp: input.issuedAt + lifetime,
    jti: randomUUID(),
  };
  if (input.certificateThumbprint) claims.cnf = { 'x5t#S256': input.certificateThumbprint };
  return claims;
}

export function signIdTokenClaims(claims: object, key: SigningKey): Promise<string> {
  return compactJws(key, 'JWT', claims);
}

export function signIdToken(input: IdTokenInput, key: SigningKey): Promise<string> {
  return signIdTokenClaims(idTokenClaims(input), key);
}

/**
 * The JWS `typ` of a person's console session token (console/oidc.ts): not `at+jwt`, so nothing
 * that verifies Tessera's access tokens (the own-token verifier: introspection, token exchange,
 * the admin API's service path; resource servers following RFC 9068 §4) accepts it as one. Only
 * the admin API takes it (oauth2/accept-token.ts, acceptPersonSession).
 */
export const PERSON_SESSION_TYP = 'admin-session+jwt';

/** The audience of a person's session token: Tessera's admin API, never a domain (a URL has ':' and '/'). */
export function adminApiAudience(issuer: string): string {
  return `${issuer}/admin/v1`;
}

export interface PersonSessionClaims {
  ver: 1;
  iss: string;
  aud: string;
  /** The person's principal, `<console.oidc.principal.domain>.<name>`. */
  sub: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  /** Marks a person's console session: the only token with it, and it has no client_id, scp or cnf. */
  tessera_session: 'person';
  /** How the person signed in: the OpenID provider and its subject. */
  sign_in: { method: 'oidc'; iss: string; sub: string };
  /** Domains administered through registry membership of `<d>:role.admin` at sign-in: each re-checked on every request. */
  admin_of: string[];
  /** Domains administered through the IdP's groups (console.oidc.groups): cannot be re-checked without the IdP, held until exp. */
  admin_of_idp: string[];
  /** The admin roles, space-separated (`sys.auth:role.admin alpha:role.admin`), for display. */
  scope: string;
}

export function signPersonSession(claims: PersonSessionClaims, key: SigningKey): Promise<string> {
  const header = Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ: PERSON_SESSION_TYP })).toString('base64url');
  return compactJws(key, 'JWT', claims, header);
}
