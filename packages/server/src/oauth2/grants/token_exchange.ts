// RFC 8693, token exchange: the authenticated client (the actor) presents an access token
// Tessera issued to someone else (the subject token) and gets one that acts for that subject
// toward a target domain (docs/tokens.md, Token exchange). Delegation by default: the new token
// names the actor in `act`, outermost, with the subject token's own chain nested inside it.
// Impersonation (no `act`) only when the request asks for it and the role allows it.
//
// What the new token may carry, every rule narrowing and none widening:
// - roles the subject holds now in the target domain (as client_credentials resolves them), of
//   which the role lists the actor, and every earlier actor of the chain, in `actors`
//   (policy/delegation.ts): a chain shows only the roles every hop allowed;
// - a lifetime no longer than the subject token's: exchanging never extends a token, nor resets
//   it (exchanging one's own token is refused: client_credentials is the way to a fresh one);
// - never from a token the actor already holds (its own exchange or proxy_for_principal result):
//   a token is exchanged by the one it was sent to, never fed back in by its holder;
// - a chain no deeper than `tokenExchange.maxDepth` actors.
// The subject token is judged as introspection judges it (accept-token.ts: signature, our issuer,
// `typ: at+jwt`, unexpired, not revoked, nor any token it was itself exchanged from, its service
// active and the same, its roles still held), and besides it must have been meant for the actor,
// in one of two ways:
// - its `aud` names the actor's domain: the actor was called with it (the chain's hops);
// - or its `aud` names every target domain: the actor stands in front of the audience the token
//   was sent to (a gateway exchanging a caller's token for the upstream it guards). Then the new
//   token carries none but the roles the subject token already carried there: a front door adds
//   `act`, and never a role the caller's token did not hold.
// A token taken from elsewhere (a log, another service) thus cannot be exchanged by a service it
// was never sent to, even one a role lists as an actor, nor toward a domain it was not sent to.
//
// The new token carries `exchanged_from`, the jtis of the tokens it derives from (nearest first),
// so revoking any of them ends it at introspection and the admin API (accept-token.ts) without a
// write on this path: a stored link would cost a database write per exchange, where the jtis
// cost a few bytes of the token and a revocation lookup each (bounded by the depth). Likewise
// `exchanged_cnf`, the thumbprints of the certificates those tokens were bound to (each once):
// revoking such a certificate ends every token exchanged from the tokens bound to it.
// Exchanged tokens never come from the token reuse cache: its key knows nothing of the subject.

import type { JWTPayload } from 'jose';
import { actClaim, holderOf, mayActOf, roleAllows, rolesCarried, type ActingMode } from '../../policy/delegation.ts';
import { GrantDeniedError, resolveGrant } from '../../policy/grant.ts';
import { splitPrincipal } from '../../policy/names.ts';
import { parseScope, ScopeSyntaxError, type ScopeRequest } from '../../policy/scope.ts';
import type { HeldRole } from '../../storage/records.ts';
import { acceptAccessToken, type AcceptTokenDeps, type OwnAccessTokenClaims } from '../accept-token.ts';
import type { AuthenticatedClient } from '../client-auth/index.ts';
import { certificateRejected } from '../client-auth/tls_client_auth.ts';
import { OAuthError, invalidRequest } from '../errors.ts';
import { refuseIssuanceWithinRemovalReach } from '../key-removal.ts';
import type { OwnTokenVerifier } from '../own-token-verifier.ts';
import { accessTokenClaims, signAccessToken } from '../tokens.ts';
import { readLifetime, type ClientCredentialsDeps, type GrantResponse } from './client_credentials.ts';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

export interface TokenExchangeDeps extends ClientCredentialsDeps {
  store: ClientCredentialsDeps['store'] & AcceptTokenDeps['store'];
  verify: OwnTokenVerifier;
  /** `tokenExchange.maxDepth`: actors in the resulting chain, at most. */
  maxDepth: number;
}

/** The form parameters of RFC 8693 §2.1, plus Tessera's `impersonation`. */
export interface TokenExchangeParams {
  subjectToken: string | undefined;
  subjectTokenType: string | undefined;
  actorToken: string | undefined;
  actorTokenType: string | undefined;
  requestedTokenType: string | undefined;
  resource: string | undefined;
  audience: string | undefined;
  scope: string | undefined;
  expiresIn: string | undefined;
  impersonation: string | undefined;
}

export interface ExchangeResponse extends GrantResponse {
  issued_token_type: typeof ACCESS_TOKEN_TYPE;
}

/** What the audit names of an exchange: for whom, by whom, through whom. */
export interface ActingFor {
  subject: string;
  /** The actors of the new token, current first (the impersonator alone for impersonation). */
  actors: string[];
  mode: ActingMode | 'proxy';
}

export interface ExchangedTokens {
  response: ExchangeResponse;
  jti: string;
  actingFor: ActingFor;
}

const invalidGrant = (description: string): OAuthError => new OAuthError(400, 'invalid_grant', description);

export async function tokenExchangeGrant(
  deps: TokenExchangeDeps,
  client: AuthenticatedClient,
  params: TokenExchangeParams,
  now: number,
): Promise<ExchangedTokens> {
  const actor = client.service.principal;
  const request = readRequest(params);
  const requested = readLifetime(params.expiresIn, deps.lifetimes);
  refuseIssuanceWithinRemovalReach(client.service, now);

  const accept: AcceptTokenDeps = { verify: deps.verify, store: deps.store, now: () => now };
  const subject = await acceptAccessToken(accept, request.subjectToken, { as: 'introspection' });
  if (!subject.accepted) throw invalidGrant(`the subject_token is not acceptable: ${subject.reason}`);
  const claims = subject.token.claims;
  if (request.actorToken !== undefined) await checkActorToken(accept, request.actorToken, actor);

  const holder = holderOf(claims);
  if (holder === null) throw invalidGrant('the subject_token names its actors inconsistently (act and client_id disagree)');
  if (holder.mode === 'impersonation') {
    throw invalidGrant(
      `the subject_token is an impersonation token (held by ${claims.client_id}); only tokens its subject or a delegation chain holds can be exchanged`,
    );
  }
  if (claims.sub === actor) {
    throw invalidGrant(`the subject_token is ${actor}'s own token: exchanging it changes nothing; ask for a new token with grant_type=client_credentials`);
  }
  // A token the actor already holds for its subject (one it was issued by an exchange, or by
  // proxy_for_principal) was not sent to it by a caller: re-exchanging it would let the holder
  // choose its next target itself, skipping the caller's consent (and, for a proxy token, the rule
  // that the proxy holds the roles too). Tokens are exchanged by those they are sent to.
  if (claims.client_id === actor) {
    throw invalidGrant(
      `the subject_token is held by ${actor} itself (it acts for ${claims.sub} already): a service exchanges tokens its callers send it, ` +
        'not its own; ask for the target roles with the token its caller sent, or with proxy_for_principal where a role allows it',
    );
  }
  const mayAct = mayActOf(claims['may_act']);
  if (mayAct === null) throw invalidGrant('the subject_token has a may_act claim without a sub');
  if (mayAct !== undefined && mayAct !== actor) {
    const allowed = `the subject_token allows only ${mayAct} to act for ${claims.sub} (may_act, RFC 8693 section 4.4), not ${actor}`;
    throw new OAuthError(403, 'access_denied', allowed);
  }
  const actorDomain = splitPrincipal(actor)?.domain ?? '';
  const sentTo = audiences(claims);
  const targets = request.scope.domains.map((asked) => asked.domain);
  /** In front of the token's audience: the roles (`<d>:<r>`) the subject token carries, the most the new one may. */
  let carried: Set<string> | undefined;
  if (!sentTo.includes(actorDomain)) {
    if (!targets.every((domain) => sentTo.includes(domain))) {
      throw invalidGrant(
        `the subject_token was issued for ${sentTo.join(', ')}: ${actor} may exchange only tokens sent to its domain (${actorDomain}), ` +
          `or toward the domains the token was sent to, not toward ${targets.filter((domain) => !sentTo.includes(domain)).join(', ')}`,
      );
    }
    carried = new Set(rolesCarried(claims));
  }

  const mode: ActingMode = request.impersonation ? 'impersonation' : 'delegation';
  if (mode === 'impersonation' && holder.actors.length > 0) {
    throw invalidGrant('impersonation=true needs a subject_token without an act chain: impersonating would hide the earlier actors');
  }
  const actors = mode === 'impersonation' ? [actor] : [actor, ...holder.actors];
  if (actors.length > deps.maxDepth) {
    throw invalidGrant(
      `the delegation chain would be ${actors.length} actors deep (${actors.join(' <- ')}); ` +
        `this server allows at most ${deps.maxDepth} (tokenExchange.maxDepth)`,
    );
  }

  const carriedOnly =
    carried === undefined ? '' : ` (and, the token having been sent to ${sentTo.join(', ')}, only roles it carries: ${[...carried].join(', ')})`;
  const refusal =
    mode === 'impersonation'
      ? `${actor} may not impersonate ${claims.sub} in any requested role: a role allows it only by listing ${actor} in its impersonators${carriedOnly}`
      : `${actor} may not act for ${claims.sub} in any requested role: a role allows it only by listing ${actors.join(', ')} in its actors${carriedOnly}`;
  const allows = (held: HeldRole): boolean => roleAllows(held, actors, mode) && (carried === undefined || carried.has(`${held.domain}:${held.role}`));
  const grant = await resolveGrant(claims.sub, request.scope, now, deps.store, { allows, refusal }).catch((error: unknown) => {
    if (error instanceof GrantDeniedError) {
      throw error.status === 404 ? new OAuthError(400, 'invalid_target', error.message) : new OAuthError(403, 'access_denied', error.message);
    }
    throw error;
  });
  // The subject's own key removals reach its new token too (key-removal.ts).
  refuseIssuanceWithinRemovalReach(subject.token.service, now);

  const issuedAt = Math.floor(now / 1000);
  const limit = grant.maxLifetime === null ? requested : Math.min(requested, grant.maxLifetime);
  const bound = client.certificate;
  const endsBy = Math.min(grant.expiresAt ?? Infinity, bound?.notAfter ?? Infinity, claims.exp * 1000);
  const lifetime = Math.min(limit, Math.floor(endsBy / 1000) - issuedAt);
  if (lifetime < 1) {
    if (bound !== undefined && bound.notAfter === endsBy) throw certificateRejected('it expires within this second; renew it');
    if (claims.exp * 1000 === endsBy) throw invalidGrant('the subject_token expires within this second');
    throw new OAuthError(403, 'access_denied', `the memberships of ${claims.sub} behind the requested roles end within this second`);
  }
  const exchangedFrom = [claims.jti, ...(Array.isArray(claims['exchanged_from']) ? (claims['exchanged_from'] as string[]) : [])];
  // The certificates the chain's tokens were bound to: revoking one ends this token too (accept-token.ts).
  const exchangedCnf = [
    ...new Set([
      ...(claims.cnf === undefined ? [] : [claims.cnf['x5t#S256']]),
      ...(Array.isArray(claims['exchanged_cnf']) ? (claims['exchanged_cnf'] as string[]) : []),
    ]),
  ];
  const tokenClaims = accessTokenClaims({
    issuer: deps.issuer,
    principal: claims.sub,
    clientId: actor,
    audience: grant.audience,
    scp: grant.scp,
    scope: grant.scope,
    issuedAt,
    lifetime,
    certificateThumbprint: bound?.thumbprint,
    act: mode === 'delegation' ? actClaim(actors) : undefined,
    exchangedFrom,
    exchangedCnf,
  });
  return {
    response: {
      access_token: await signAccessToken(tokenClaims, deps.signingKey()),
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: lifetime,
      scope: grant.scope,
    },
    jti: tokenClaims.jti,
    actingFor: { subject: claims.sub, actors, mode },
  };
}

interface ExchangeRequest {
  subjectToken: string;
  actorToken: string | undefined;
  scope: ScopeRequest;
  impersonation: boolean;
}

/** RFC 8693 §2.1's parameters, checked before any token is read: each problem is 400 invalid_request (scope: invalid_scope). */
function readRequest(params: TokenExchangeParams): ExchangeRequest {
  const { subjectToken, subjectTokenType, actorToken, actorTokenType, requestedTokenType } = params;
  if (subjectToken === undefined) throw invalidRequest('subject_token is required: the access token to act for (RFC 8693 section 2.1)');
  if (subjectTokenType === undefined) throw invalidRequest(`subject_token_type is required: ${ACCESS_TOKEN_TYPE}`);
  if (subjectTokenType === ID_TOKEN_TYPE) {
    throw invalidRequest(`ID tokens are not accepted as subject tokens: send an access token, subject_token_type=${ACCESS_TOKEN_TYPE}`);
  }
  if (subjectTokenType !== ACCESS_TOKEN_TYPE) {
    throw invalidRequest(`subject_token_type "${subjectTokenType.slice(0, 80)}" is not supported; Tessera exchanges access tokens: ${ACCESS_TOKEN_TYPE}`);
  }
  if ((actorToken === undefined) !== (actorTokenType === undefined)) {
    throw invalidRequest('actor_token and actor_token_type go together: send both or neither (RFC 8693 section 2.1)');
  }
  if (actorTokenType !== undefined && actorTokenType !== ACCESS_TOKEN_TYPE) {
    throw invalidRequest(`actor_token_type "${actorTokenType.slice(0, 80)}" is not supported; the actor token must be an access token: ${ACCESS_TOKEN_TYPE}`);
  }
  if (requestedTokenType !== undefined && requestedTokenType !== ACCESS_TOKEN_TYPE) {
    throw invalidRequest(`requested_token_type "${requestedTokenType.slice(0, 80)}" is not supported; Tessera issues access tokens: ${ACCESS_TOKEN_TYPE}`);
  }
  if (params.resource !== undefined) {
    throw new OAuthError(400, 'invalid_target', 'resource is not supported: name the target domain with audience=<domain> or in the scope');
  }
  const impersonation = params.impersonation;
  if (impersonation !== undefined && impersonation !== 'true' && impersonation !== 'false') {
    throw invalidRequest(`impersonation must be "true" or "false", got "${impersonation.slice(0, 20)}"`);
  }
  return { subjectToken, actorToken, scope: readTarget(params.scope, params.audience), impersonation: impersonation === 'true' };
}

/** The target: the scope (Tessera's grammar), or `audience` alone (every role there), or both naming the same domain. */
function readTarget(scope: string | undefined, audience: string | undefined): ScopeRequest {
  if (scope === undefined && audience === undefined) {
    throw invalidRequest('name the target: scope=<domain>:role.<role> (or <domain>:domain), or audience=<domain>');
  }
  let request: ScopeRequest;
  try {
    request = parseScope(scope ?? `${audience}:domain`);
  } catch (error) {
    if (!(error instanceof ScopeSyntaxError)) throw error;
    if (scope === undefined) throw new OAuthError(400, 'invalid_target', `audience "${(audience ?? '').slice(0, 80)}" is not a domain name`);
    throw new OAuthError(400, 'invalid_scope', error.message);
  }
  if (request.openid) {
    throw new OAuthError(400, 'invalid_scope', 'a token exchange issues access tokens only: leave openid and <domain>:service.<service> out of the scope');
  }
  const domains = request.domains.map((d) => d.domain);
  if (audience !== undefined && (domains.length !== 1 || domains[0] !== audience)) {
    throw new OAuthError(400, 'invalid_target', `audience ${audience.slice(0, 80)} is not the one domain the scope asks roles of (${domains.join(', ')})`);
  }
  return request;
}

/** RFC 8693 §2.1 actor_token: when sent, a token Tessera issued to the authenticated client itself, acceptable now. */
async function checkActorToken(accept: AcceptTokenDeps, token: string, actor: string): Promise<void> {
  const accepted = await acceptAccessToken(accept, token, { as: 'introspection' });
  if (!accepted.accepted) throw invalidGrant(`the actor_token is not acceptable: ${accepted.reason}`);
  const { sub, client_id } = accepted.token.claims;
  if (sub !== actor || client_id !== actor) {
    throw invalidGrant(`the actor_token is ${sub}'s${client_id === sub ? '' : ` (held by ${client_id})`}, not a token of ${actor}, the authenticated client`);
  }
}

function audiences(claims: OwnAccessTokenClaims | JWTPayload): string[] {
  const aud = claims.aud;
  return typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
}
