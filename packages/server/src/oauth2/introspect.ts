// POST /oauth2/introspect (RFC 7662): a resource server asks whether a token is active now.
// The caller must authenticate as a client (any method the token endpoint accepts) and be in
// good standing; every token that is not active gets the same `{"active": false}`, never a
// reason, so the endpoint tells a stranger nothing about tokens it does not hold.
//
// Two kinds of token are recognised from their shape, so `token_type_hint` is accepted and
// ignored (RFC 7662 §2.1 lets the server search every kind it knows):
// - access tokens (JWT, `typ: at+jwt`, signed by a key this server publishes): active while
//   oauth2/accept-token.ts accepts them (unexpired, not revoked, their service active and the
//   same one they were issued to, every role they name still held). A certificate-bound token
//   is reported with its `cnf`: the resource server that sees the client's certificate enforces
//   it. ID tokens (`typ: JWT`) are not access tokens (RFC 8725 §3.11), so inactive.
// - API keys (keys/api-keys.ts): active while not revoked, unexpired, the service is, and it
//   holds a role in the key's audience (the domain it was issued for, answered as `aud`).
//
// The form plumbing and caller authentication are oauth2/form-endpoint.ts's.

import type { FastifyInstance } from 'fastify';
import { parseApiKey } from '../keys/api-keys.ts';
import type { SecretHasher } from '../keys/client-secrets.ts';
import { isServiceActive } from '../policy/service-standing.ts';
import type { ApiKeyRecord } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import { acceptAccessToken, readOwnAccessToken, type AcceptTokenDeps, type OwnAccessTokenClaims } from './accept-token.ts';
import { invalidRequest } from './errors.ts';
import type { FormBody } from './form.ts';
import { clientFormEndpoint, type ClientFormDeps } from './form-endpoint.ts';

export const INTROSPECTION_PATH = '/oauth2/introspect';

/** Compared against when the key id is unknown, so both failures cost one HMAC. */
const NO_HASHES: readonly string[] = [''];

export interface TokenCheckDeps extends AcceptTokenDeps {
  store: AcceptTokenDeps['store'] & Pick<Store, 'getApiKey' | 'membershipsOf'>;
  hasher: SecretHasher;
}

/** A token this server issued, with its signature or hash checked; whether it is active is not yet asked. */
export type RecognisedToken =
  { kind: 'access_token'; principal: string; claims: OwnAccessTokenClaims } | { kind: 'api_key'; principal: string; key: ApiKeyRecord };

export async function recogniseToken(deps: TokenCheckDeps, token: string): Promise<RecognisedToken | null> {
  const apiKey = parseApiKey(token);
  if (apiKey) {
    const key = await deps.store.getApiKey(apiKey.id);
    const matches = deps.hasher.matches(token, key ? [key.hash] : NO_HASHES);
    return key && matches ? { kind: 'api_key', principal: key.principal, key } : null;
  }
  const claims = await readOwnAccessToken(deps.verify, token);
  return claims && { kind: 'access_token', principal: claims.sub, claims };
}

export type IntrospectionAnswer = { active: false } | ({ active: true } & Record<string, unknown>);

const INACTIVE: IntrospectionAnswer = { active: false };

export async function introspectToken(deps: TokenCheckDeps, token: string): Promise<IntrospectionAnswer> {
  if (parseApiKey(token)) {
    const recognised = await recogniseToken(deps, token);
    return recognised?.kind === 'api_key' ? apiKeyAnswer(deps, recognised.key, deps.now()) : INACTIVE;
  }
  const acceptance = await acceptAccessToken(deps, token, { as: 'introspection' });
  if (!acceptance.accepted) return INACTIVE;
  const { claims } = acceptance.token;
  const answer: { active: true } & Record<string, unknown> = { active: true };
  for (const name of ['scope', 'client_id', 'sub', 'aud', 'iss', 'exp', 'iat', 'nbf', 'jti'] as const) {
    if (claims[name] !== undefined) answer[name] = claims[name];
  }
  answer['token_type'] = 'Bearer';
  for (const name of ['scp', 'uid', 'ver', 'cnf', 'act'] as const) {
    if (claims[name] !== undefined) answer[name] = claims[name];
  }
  return answer;
}

async function apiKeyAnswer(deps: TokenCheckDeps, key: ApiKeyRecord, now: number): Promise<IntrospectionAnswer> {
  if (key.revokedAt !== null || (key.expiresAt !== null && key.expiresAt <= now)) return INACTIVE;
  const [service, memberships] = await Promise.all([deps.store.getService(key.principal), deps.store.membershipsOf(key.principal)]);
  if (!isServiceActive(service, now)) return INACTIVE;
  // A key stands for its service toward its audience only, with the roles held there now. Like
  // the token endpoint, which issues no token for a domain where the service holds no role, a
  // key whose service holds none in its audience is not active.
  const scope = memberships
    .filter((m) => m.domain === key.audience && (m.expiresAt === null || m.expiresAt > now))
    .map((m) => `${m.domain}:role.${m.role}`)
    .join(' ');
  if (scope === '') return INACTIVE;
  const answer: { active: true } & Record<string, unknown> = {
    active: true,
    client_id: service.clientId,
    sub: key.principal,
    aud: key.audience,
    token_type: 'api_key',
    iat: Math.floor(key.createdAt / 1000),
    scope,
  };
  if (key.expiresAt !== null) answer['exp'] = Math.floor(key.expiresAt / 1000);
  return answer;
}

/** The `token` parameter both endpoints require (RFC 7662 §2.1, RFC 7009 §2.1). */
export function tokenParameter(form: FormBody, purpose: string): string {
  // parseForm drops empty parameters (RFC 6749 §3.2), so `token=` arrives here as missing.
  const token = form['token'];
  if (token === undefined) throw invalidRequest(`the token parameter is required: send token=<the token to ${purpose}>`);
  return token;
}

// ---- the endpoint ----

export interface IntrospectionDeps extends TokenCheckDeps, ClientFormDeps {}

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;

const introspectionSchema = {
  summary: 'Introspect a token (RFC 7662)',
  description:
    'The caller authenticates as a client. Answers {"active": false} for anything not active now: unknown, malformed, expired or revoked tokens, ID tokens, tokens of disabled, expired or deleted services, and tokens naming a role their service no longer holds. A certificate-bound token is answered with its cnf: the resource server checks it against the client certificate it sees.',
  tags: ['oauth2'],
  consumes: ['application/x-www-form-urlencoded'],
  body: {
    type: 'object',
    properties: {
      token: { type: 'string', description: 'an access token (JWT) or an API key (tsk_…)' },
      token_type_hint: { type: 'string', description: 'accepted and ignored: the kind is recognised from the token' },
      client_id: str,
      client_secret: str,
    },
  },
  response: {
    200: {
      type: 'object',
      required: ['active'],
      properties: {
        active: { type: 'boolean' },
        scope: str,
        client_id: str,
        sub: str,
        aud: { anyOf: [str, { type: 'array', items: str }] },
        iss: str,
        exp: int,
        iat: int,
        nbf: int,
        jti: str,
        token_type: { type: 'string', description: '"Bearer" for access tokens, "api_key" for API keys' },
        scp: { type: 'array', items: str },
        uid: str,
        ver: int,
        cnf: { type: 'object', properties: { 'x5t#S256': str } },
        act: {
          type: 'object',
          additionalProperties: true,
          description: 'RFC 8693 section 4.1: the actor (sub) the token was exchanged for, with earlier actors nested in act',
        },
      },
    },
    '4xx': { type: 'object', properties: { error: str, error_description: str, error_code: str } },
  },
} as const;

export async function introspectionEndpoint(app: FastifyInstance, deps: IntrospectionDeps): Promise<void> {
  await clientFormEndpoint(app, deps, {
    name: 'introspect',
    paths: [INTROSPECTION_PATH],
    rfc: 'RFC 7662 §2.1',
    schema: introspectionSchema,
    handle: (form) => introspectToken(deps, tokenParameter(form, 'introspect')),
  });
}
