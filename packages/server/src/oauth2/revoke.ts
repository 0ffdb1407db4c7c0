// POST /oauth2/revoke (RFC 7009): a client withdraws one of its own tokens before it expires.
//
// - Access tokens: the jti is remembered until the token's own `exp` (store.revokeToken), so
//   introspection answers inactive at once, for it and for every token exchanged from it (they
//   carry its jti in `exchanged_from`). Its subject may revoke it, and so may the client that
//   holds it for its subject (token exchange, proxy_for_principal). Verifiers that check tokens offline keep accepting
//   it until then; that is the trade JWTs make, and why lifetimes are short.
// - ID tokens (`typ: JWT`, with a jti: those issued since they carry one): the jti is remembered
//   until the ID token's `exp`, which ends every token exchanged from it (token exchange with
//   subject_token_type id_token carries its jti in `exchanged_from`). Its subject may revoke it (the
//   client it was issued to, RFC 7009 §2.1), and so may its audience, the one service it was sent to
//   and the only one that may exchange it: revoking it can only take away what that service could do
//   with it. Revoking an ID token ends nothing else: not the access token issued with it.
// - API keys: revoked at once, as the admin API's DELETE does.
//
// The answer is an empty 200 whenever the caller is authenticated and sent a token: also for
// a token that is unknown, malformed, expired or already revoked (RFC 7009 §2.2: the client
// could do nothing useful with an error), and for a token issued to another client, which
// is left alone. That last one is a choice: §2.1 lets the server refuse such a request with
// an error, but answering it the same as an unknown token tells the caller nothing about a
// token that is not its own. `token_type_hint` is accepted and ignored: the kind is
// recognised from the token itself.

import type { FastifyInstance } from 'fastify';
import { decodeProtectedHeader, type JWTPayload } from 'jose';
import { NotFoundError } from '../storage/errors.ts';
import type { Store } from '../storage/store.ts';
import { clientFormEndpoint, type ClientFormDeps } from './form-endpoint.ts';
import { recogniseToken, tokenParameter, type RecognisedToken, type TokenCheckDeps } from './introspect.ts';
import type { OwnTokenVerifier } from './own-token-verifier.ts';

export const REVOCATION_PATH = '/oauth2/revoke';

export interface RevocationDeps extends ClientFormDeps, TokenCheckDeps {
  store: TokenCheckDeps['store'] & Pick<Store, 'revokeToken' | 'revokeApiKey'>;
  /** Tessera's ID tokens (`typ: JWT`). */
  verifyIdToken: OwnTokenVerifier;
}

const revocationSchema = {
  summary: "Revoke one of the caller's own tokens (RFC 7009)",
  description:
    'The caller authenticates as a client. Answers an empty 200 for every token, including unknown ones and tokens of other clients (which are not revoked). ' +
    'An ID token may be revoked by its subject or its audience: every token exchanged from it ends.',
  tags: ['oauth2'],
  consumes: ['application/x-www-form-urlencoded'],
  body: {
    type: 'object',
    properties: {
      token: {
        type: 'string',
        description: 'an access token (JWT) or an API key (tsk_…) of the calling client, or an ID token it was issued or sent (its sub or aud)',
      },
      token_type_hint: { type: 'string', description: 'accepted and ignored: the kind is recognised from the token' },
      client_id: { type: 'string' },
      client_secret: { type: 'string' },
    },
  },
  response: {
    200: { type: 'null', description: 'Revoked, or nothing to revoke' },
    '4xx': { type: 'object', properties: { error: { type: 'string' }, error_description: { type: 'string' }, error_code: { type: 'string' } } },
  },
} as const;

export async function revocationEndpoint(app: FastifyInstance, deps: RevocationDeps): Promise<void> {
  await clientFormEndpoint(app, deps, {
    name: 'revoke',
    paths: [REVOCATION_PATH],
    rfc: 'RFC 7009 §2.1',
    schema: revocationSchema,
    async handle(form, caller) {
      const token = tokenParameter(form, 'revoke');
      const recognised = await recogniseToken(deps, token);
      if (!recognised) {
        const idToken = await readIdToken(deps.verifyIdToken, token);
        if (idToken && (idToken.sub === caller.principal || idToken.aud === caller.principal)) {
          const { jti, sub, exp } = idToken;
          await deps.store.revokeToken({ jti, principal: sub, expiresAt: exp * 1000 }, { actor: caller.principal });
        }
        return undefined;
      }
      if (!revocableBy(recognised, caller.principal)) return undefined;
      const by = { actor: caller.principal };
      if (recognised.kind === 'access_token') {
        const { jti, exp } = recognised.claims;
        await deps.store.revokeToken({ jti, principal: recognised.principal, expiresAt: exp * 1000 }, by);
        return undefined;
      }
      try {
        await deps.store.revokeApiKey(recognised.principal, recognised.key.id, by);
      } catch (error) {
        // Deleted since it was looked up (with its service): there is nothing left to revoke.
        if (!(error instanceof NotFoundError)) throw error;
      }
      return undefined;
    },
  });
}

/**
 * Whose token it is to revoke: its subject's, and, for a token another client holds for its
 * subject (token exchange, proxy_for_principal), also that client's (RFC 7009 §2.1: the client
 * it was issued to).
 */
function revocableBy(token: RecognisedToken, caller: string): boolean {
  return token.principal === caller || (token.kind === 'access_token' && token.claims.client_id === caller);
}

/** An ID token of Tessera's with a jti (signature, issuer, typ JWT checked), or null. */
async function readIdToken(verify: OwnTokenVerifier, token: string): Promise<{ jti: string; sub: string; aud: string; exp: number } | null> {
  let claims: JWTPayload;
  try {
    // Only a JWS that says it is one (the verifier checks it again): no second signature check of an access token.
    if (decodeProtectedHeader(token).typ !== 'JWT') return null;
    claims = await verify(token);
  } catch {
    return null;
  }
  const { jti, sub, aud, exp } = claims;
  if (typeof jti !== 'string' || jti === '' || typeof sub !== 'string' || typeof aud !== 'string' || typeof exp !== 'number') return null;
  return { jti, sub, aud, exp };
}
