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
//
// An ID token of Tessera's (subject_token_type id_token) is a subject token too, where the target
// role allows it (`idTokenSubjects`, policy/delegation.ts). It proves its `sub`'s identity to the
// one service its `aud` names, so that service alone may exchange it: the actor must be exactly its
// `aud`. It is judged as an access token would be, in what applies: signature, our issuer,
// `typ: JWT`, unexpired, not revoked (its `jti`: an ID token without one, issued before they carried
// one, is refused, as it could never be revoked), its subject active and the same service it was
// issued to, no key removal since, and, for one got with a client certificate (`cnf.x5t#S256`),
// that certificate neither revoked nor expired; its thumbprint goes into the new token's
// `exchanged_cnf`, so revoking the certificate later ends the exchanged tokens too. The new token delegates (impersonation needs an access token),
// names the actor in `act`, carries the ID token's jti in `exchanged_from` (revoking the ID token
// ends it), and lives no longer than the ID token. It is marked `exchanged_from_id_token`, as is
// every token exchanged from it in turn: each carries only roles that allow ID-token subjects, at
// issuance and at introspection (accept-token.ts), so turning the setting off ends them.

import { decodeProtectedHeader, errors as joseErrors, type JWTPayload } from 'jose';
import { actClaim, allowsIdTokenSubjects, holderOf, mayActOf, roleAllows, rolesCarried, type ActingMode } from '../../policy/delegation.ts';
import { GrantDeniedError, resolveGrant } from '../../policy/grant.ts';
import { splitPrincipal } from '../../policy/names.ts';
import { parseScope, ScopeSyntaxError, type ScopeRequest } from '../../policy/scope.ts';
import { isServiceActive } from '../../policy/service-standing.ts';
import type { HeldRole, Service } from '../../storage/records.ts';
import { acceptAccessToken, certificateEnded, type AcceptTokenDeps, type OwnAccessTokenClaims } from '../accept-token.ts';
import type { AuthenticatedClient } from '../client-auth/index.ts';
import { certificateRejected } from '../client-auth/tls_client_auth.ts';
import { OAuthError, invalidRequest } from '../errors.ts';
import { endedByKeyRemoval, refuseIssuanceWithinRemovalReach } from '../key-removal.ts';
import type { OwnTokenVerifier } from '../own-token-verifier.ts';
import { accessTokenClaims, signAccessToken } from '../tokens.ts';
import { readLifetime, type ClientCredentialsDeps, type GrantResponse } from './client_credentials.ts';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

export interface TokenExchangeDeps extends ClientCredentialsDeps {
  store: ClientCredentialsDeps['store'] & AcceptTokenDeps['store'];
  verify: OwnTokenVerifier;
  /** The verifier of Tessera's ID tokens (`typ: JWT`): subject tokens of type id_token. */
  verifyIdToken: OwnTokenVerifier;
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
  /** Set when the subject token was an ID token (subject_token_type id_token). */
  fromIdToken?: true;
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
  const targets = request.scope.domains.map((asked) => asked.domain);
  const subject = request.idToken
    ? await idTokenSubject(deps, request.subjectToken, actor, now)
    : await accessTokenSubject(accept, request.subjectToken, actor, targets);
  if (request.actorToken !== undefined) await checkActorToken(accept, request.actorToken, actor);
  const { sub, carried, sentTo, fromIdToken } = subject;

  const mode: ActingMode = request.impersonation ? 'impersonation' : 'delegation';
  if (mode === 'impersonation' && subject.chain.length > 0) {
    throw invalidGrant('impersonation=true needs a subject_token without an act chain: impersonating would hide the earlier actors');
  }
  const actors = mode === 'impersonation' ? [actor] : [actor, ...subject.chain];
  if (actors.length > deps.maxDepth) {
    throw invalidGrant(
      `the delegation chain would be ${actors.length} actors deep (${actors.join(' <- ')}); ` +
        `this server allows at most ${deps.maxDepth} (tokenExchange.maxDepth)`,
    );
  }

  const carriedOnly =
    (carried === undefined ? '' : ` (and, the token having been sent to ${sentTo.join(', ')}, only roles it carries: ${[...carried].join(', ')})`) +
    (fromIdToken ? ' (and, its chain starting from an ID token, only roles setting idTokenSubjects: true)' : '');
  const refusal = request.idToken
    ? `${actor} may not act for ${sub} with an ID token in any requested role: a role allows it only by listing ${actor} in its actors ` +
      'and setting idTokenSubjects: true (an admin sets it on the role)'
    : mode === 'impersonation'
      ? `${actor} may not impersonate ${sub} in any requested role: a role allows it only by listing ${actor} in its impersonators${carriedOnly}`
      : `${actor} may not act for ${sub} in any requested role: a role allows it only by listing ${actors.join(', ')} in its actors${carriedOnly}`;
  const allows = (held: HeldRole): boolean =>
    roleAllows(held, actors, mode) && (carried === undefined || carried.has(`${held.domain}:${held.role}`)) && (!fromIdToken || allowsIdTokenSubjects(held));
  const grant = await resolveGrant(sub, request.scope, now, deps.store, { allows, refusal }).catch((error: unknown) => {
    if (error instanceof GrantDeniedError) {
      throw error.status === 404 ? new OAuthError(400, 'invalid_target', error.message) : new OAuthError(403, 'access_denied', error.message);
    }
    throw error;
  });
  // The subject's own key removals reach its new token too (key-removal.ts).
  refuseIssuanceWithinRemovalReach(subject.service, now);

  const issuedAt = Math.floor(now / 1000);
  const limit = grant.maxLifetime === null ? requested : Math.min(requested, grant.maxLifetime);
  const bound = client.certificate;
  const endsBy = Math.min(grant.expiresAt ?? Infinity, bound?.notAfter ?? Infinity, subject.exp * 1000);
  const lifetime = Math.min(limit, Math.floor(endsBy / 1000) - issuedAt);
  if (lifetime < 1) {
    if (bound !== undefined && bound.notAfter === endsBy) throw certificateRejected('it expires within this second; renew it');
    if (subject.exp * 1000 === endsBy) throw invalidGrant('the subject_token expires within this second');
    throw new OAuthError(403, 'access_denied', `the memberships of ${sub} behind the requested roles end within this second`);
  }
  const tokenClaims = accessTokenClaims({
    issuer: deps.issuer,
    principal: sub,
    clientId: actor,
    audience: grant.audience,
    scp: grant.scp,
    scope: grant.scope,
    issuedAt,
    lifetime,
    certificateThumbprint: bound?.thumbprint,
    act: mode === 'delegation' ? actClaim(actors) : undefined,
    exchangedFrom: subject.exchangedFrom,
    exchangedCnf: subject.exchangedCnf,
    fromIdToken,
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
    actingFor: { subject: sub, actors, mode, ...(request.idToken && { fromIdToken: true as const }) },
  };
}

/** What the exchange needs of a subject token, once it is found acceptable and meant for the actor. */
interface Subject {
  sub: string;
  /** The subject's service, as it stands now. */
  service: Service;
  /** Seconds since the epoch: the new token ends no later. */
  exp: number;
  /** The subject token's act chain, current actor first ([] for none, and for an ID token). */
  chain: string[];
  /** `exchanged_from` of the new token: the subject token's jti, then those it was exchanged from. */
  exchangedFrom: string[];
  /** `exchanged_cnf` of the new token. */
  exchangedCnf: string[];
  /** The audiences an access token was sent to. */
  sentTo: string[];
  /** In front of the token's audience: the roles (`<d>:<r>`) the subject token carries, the most the new one may. */
  carried: Set<string> | undefined;
  /** An ID token, or a token exchanged from one (`exchanged_from_id_token`): only roles allowing ID-token subjects. */
  fromIdToken: boolean;
}

/** An access token as the subject: acceptable (accept-token.ts), held by its subject or a delegation chain, and meant for the actor. */
async function accessTokenSubject(accept: AcceptTokenDeps, token: string, actor: string, targets: string[]): Promise<Subject> {
  const subject = await acceptAccessToken(accept, token, { as: 'introspection' });
  if (!subject.accepted) throw invalidGrant(`the subject_token is not acceptable: ${subject.reason}`);
  const claims = subject.token.claims;

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
  const exchangedFrom = [claims.jti, ...(Array.isArray(claims['exchanged_from']) ? (claims['exchanged_from'] as string[]) : [])];
  // The certificates the chain's tokens were bound to: revoking one ends this token too (accept-token.ts).
  const exchangedCnf = [
    ...new Set([
      ...(claims.cnf === undefined ? [] : [claims.cnf['x5t#S256']]),
      ...(Array.isArray(claims['exchanged_cnf']) ? (claims['exchanged_cnf'] as string[]) : []),
    ]),
  ];
  const fromIdToken = claims.exchanged_from_id_token === true;
  return { sub: claims.sub, service: subject.token.service, exp: claims.exp, chain: holder.actors, exchangedFrom, exchangedCnf, sentTo, carried, fromIdToken };
}

/**
 * An ID token of Tessera's as the subject: verified with our keys (`typ: JWT`, issuer, algorithm,
 * expiry), issued for the actor itself (its `aud`), with a jti not revoked, and its subject the
 * active service it was issued to, with no key removed since.
 */
async function idTokenSubject(deps: TokenExchangeDeps, token: string, actor: string, now: number): Promise<Subject> {
  const unacceptable = (reason: string): OAuthError => invalidGrant(`the subject_token is not acceptable: ${reason}`);
  let claims: JWTPayload;
  try {
    claims = await deps.verifyIdToken(token);
  } catch (error) {
    throw unacceptable(error instanceof joseErrors.JWTExpired ? 'the token has expired' : (error as Error).message);
  }
  const { sub, aud, jti, exp, iat } = claims;
  if (typeof sub !== 'string' || typeof exp !== 'number' || typeof iat !== 'number') throw unacceptable('the ID token has no sub, exp and iat claims');
  if (typeof aud !== 'string') throw unacceptable('the ID token does not name one service in aud');
  if (exp * 1000 <= now) throw unacceptable('the token has expired');
  // It proves sub's identity to aud alone: anyone else holding it took it from somewhere.
  if (aud !== actor) {
    throw invalidGrant(`this ID token was issued for ${aud}: only ${aud}, its audience, may exchange it, not ${actor}`);
  }
  if (sub === actor) {
    throw invalidGrant(`the subject_token is ${actor}'s own ID token: exchanging it changes nothing; ask for a new token with grant_type=client_credentials`);
  }
  if (typeof jti !== 'string' || jti === '') {
    throw invalidGrant(
      `the subject_token is an ID token without a jti, issued before Tessera's ID tokens carried one: it could not be revoked, so it is not exchanged; ` +
        `ask ${sub} for a new one`,
    );
  }
  const bound = boundThumbprint(claims['cnf']);
  if (bound === null) throw unacceptable('the ID token has a cnf claim without an x5t#S256 thumbprint');
  const [service, revoked, certificate] = await Promise.all([
    deps.store.getService(sub),
    deps.store.isTokenRevoked(jti, now),
    bound === undefined ? null : deps.store.getCertificateByThumbprint(bound),
  ]);
  if (revoked) throw unacceptable('the token has been revoked');
  // Got over mutual TLS: the certificate's standing, as for a bound access token (accept-token.ts).
  const ended = certificate === null ? null : certificateEnded(certificate, now, 'the client certificate the ID token is bound to');
  if (ended !== null) throw unacceptable(ended);
  if (!isServiceActive(service, now)) throw unacceptable(`${sub} is not an active service`);
  // iat is in whole seconds: a service created after the second the token was issued in is not its subject.
  if ((iat + 1) * 1000 <= service.createdAt) throw unacceptable(`the token was issued to an earlier service named ${sub}, since deleted`);
  const keyRemoved = endedByKeyRemoval(service, iat);
  if (keyRemoved !== null) throw unacceptable(keyRemoved);
  // Its certificate, carried on: revoking it ends the new token and every one exchanged from it.
  const exchangedCnf = bound === undefined ? [] : [bound];
  return { sub, service, exp, chain: [], exchangedFrom: [jti], exchangedCnf, sentTo: [aud], carried: undefined, fromIdToken: true };
}

/** An ID token's `cnf.x5t#S256`: undefined without a cnf claim, null for a malformed one. */
function boundThumbprint(cnf: unknown): string | undefined | null {
  if (cnf === undefined) return undefined;
  const thumbprint = typeof cnf === 'object' && cnf !== null ? (cnf as Record<string, unknown>)['x5t#S256'] : undefined;
  return typeof thumbprint === 'string' && thumbprint !== '' ? thumbprint : null;
}

interface ExchangeRequest {
  subjectToken: string;
  /** subject_token_type is id_token: the subject token is an ID token of Tessera's. */
  idToken: boolean;
  actorToken: string | undefined;
  scope: ScopeRequest;
  impersonation: boolean;
}

/** RFC 8693 §2.1's parameters, checked before any token is read: each problem is 400 invalid_request (scope: invalid_scope). */
function readRequest(params: TokenExchangeParams): ExchangeRequest {
  const { subjectToken, subjectTokenType, actorToken, actorTokenType, requestedTokenType } = params;
  if (subjectToken === undefined) throw invalidRequest('subject_token is required: the access token (or ID token) to act for (RFC 8693 section 2.1)');
  if (subjectTokenType === undefined) throw invalidRequest(`subject_token_type is required: ${ACCESS_TOKEN_TYPE} or ${ID_TOKEN_TYPE}`);
  if (subjectTokenType !== ACCESS_TOKEN_TYPE && subjectTokenType !== ID_TOKEN_TYPE) {
    throw invalidRequest(
      `subject_token_type "${subjectTokenType.slice(0, 80)}" is not supported; Tessera exchanges access tokens (${ACCESS_TOKEN_TYPE}) ` +
        `and, where a role allows it, ID tokens (${ID_TOKEN_TYPE})`,
    );
  }
  const idToken = subjectTokenType === ID_TOKEN_TYPE;
  checkTypeMatches(subjectToken, idToken);
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
  if (idToken && impersonation === 'true') {
    throw invalidRequest('impersonation=true needs an access token as the subject_token: an ID token is exchanged for a delegated token (with act) only');
  }
  return { subjectToken, idToken, actorToken, scope: readTarget(params.scope, params.audience), impersonation: impersonation === 'true' };
}

/**
 * The subject token's JWS `typ` (read, not trusted: it picks the message only; the verifier checks
 * it again) against subject_token_type: Tessera's access tokens are `at+jwt`, its ID tokens `JWT`.
 */
function checkTypeMatches(token: string, idToken: boolean): void {
  let typ: unknown;
  try {
    typ = decodeProtectedHeader(token).typ;
  } catch {
    return; // not a JWS: the verifier says why
  }
  if (idToken && typ === 'at+jwt') {
    throw invalidRequest(`the subject_token is an access token (typ at+jwt): send it with subject_token_type=${ACCESS_TOKEN_TYPE}`);
  }
  if (!idToken && typ === 'JWT') {
    throw invalidRequest(
      `the subject_token is an ID token (typ JWT): send it with subject_token_type=${ID_TOKEN_TYPE}, which a role allows with idTokenSubjects`,
    );
  }
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
