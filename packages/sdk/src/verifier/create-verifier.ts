// createVerifier (docs/tokens.md, Verifying a token): checks Tessera's access tokens offline, as RFC 9068 §4 and
// RFC 8725 ask. The order matters and is fixed:
//   1. size, before any parsing (a huge token costs nothing but a length check);
//   2. the verified-token cache, keyed by the token's SHA-256; a hit counts only while the key
//      that signed the token is still in the issuer's key set as last fetched, so a key removed
//      from the JWKS stops its tokens at their next use, cached or not;
//   3. jose's jwtVerify with an algorithm allow-list from configuration (never from the token:
//      `alg: none` and HMAC are refused before any key is looked up), keys only from the
//      configured issuer's JWKS, then `typ` = at+jwt, iss, aud, exp and nbf with the skew, and
//      the claims RFC 9068 §2.2 requires (exp, iat, sub, client_id, jti) present;
//   4. `iat` not in the future beyond the skew, claim types, the `cnf` binding's shape;
//   5. per call, hit or miss: the caller's certificate against `cnf`, then required roles.
//
// An API key is checked through introspection (api-keys.ts) and, like a token, only for this
// verifier's audience: the answer's `aud` must be one of them.

import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { followTrustBundle } from '../http/trust-bundle.ts';
import { createApiKeyChecker, type ApiKeyChecker } from './api-keys.ts';
import { boundThumbprint, certificateThumbprint, checkBinding } from './binding.ts';
import { checkDelegation, delegationChain, type DelegationPolicy } from './delegation.ts';
import { InvalidAudienceError, InvalidTokenError, VerifierError } from './errors.ts';
import { httpsFetch } from './https-fetch.ts';
import { createKeySource } from './key-source.ts';
import { rememberPresentedToken } from './presented.ts';
import { resolveOptions, type CertificateInput, type VerifierOptions } from './options.ts';
import { compileRequirement, grantedRoles, type CompiledRequirement, type Requirement, type Roles } from './roles.ts';
import { createTokenCache } from './token-cache.ts';

/** Who called, as established by a verified access token or API key. Frozen. */
export interface AuthContext {
  /** `id_token` only from a verifier made with `tokenType: 'id_token'`. */
  kind: 'access_token' | 'api_key' | 'id_token';
  /** The calling service, `<domain>.<service>` (`sub`). */
  principal: string;
  /** `client_id`; for an ID token its `azp`, else `sub`. */
  clientId: string;
  /** The token's audience(s), or the API key's. */
  audience: readonly string[];
  /** Domain → granted roles, limited to the audience's domains. */
  roles: Roles;
  /** Granted scope items as the issuer wrote them. */
  scope: readonly string[];
  /** `exp` in seconds since the epoch; null for an API key without expiry. */
  expiresAt: number | null;
  /** `cnf.x5t#S256` when the token is certificate-bound (already checked against the caller). */
  certificateThumbprint: string | null;
  /** Every claim of the token (or the introspection answer for an API key). */
  claims: Readonly<Record<string, unknown>>;
  /** Who obtained the token for `principal` (RFC 8693 `act`), the service that called this one first; empty for a direct call. */
  actors: readonly string[];
}

export interface VerifyOptions extends Requirement {
  /** A requirement prepared once with `verifier.requirement(…)`; used instead of `scope`/`roles`. */
  requirement?: CompiledRequirement;
  /** The caller's TLS client certificate, or a function giving it (called only for bound tokens). */
  peerCertificate?: CertificateInput | null | (() => CertificateInput | null | undefined);
  /** Which delegated calls are accepted (`act` claims); any call when left out. */
  delegation?: DelegationPolicy;
}

export interface Verifier {
  readonly issuer: string;
  readonly audience: readonly string[];
  /** Whether `verifyApiKey` is configured (options.apiKeys). */
  readonly acceptsApiKeys: boolean;
  /** Verifies an access token (the JWT alone, without "Bearer "). */
  verify(token: string, options?: VerifyOptions): Promise<AuthContext>;
  /** Checks an API key (`tsk_…`) through introspection. */
  verifyApiKey(key: string, options?: VerifyOptions): Promise<AuthContext>;
  /** Checks a route's requirement once, so a typo fails at startup. */
  requirement(requirement: Requirement): CompiledRequirement;
}

interface Verified {
  context: AuthContext;
  bound: string | null;
  /** The token's `kid` and the published key(s) it named when the token was verified. */
  kid: string;
  signingKey: string;
}

const ACCESS_TOKEN_TYPE = 'at+jwt';
const ID_TOKEN_TYPE = 'JWT';

export function createVerifier(verifierOptions: VerifierOptions): Verifier {
  const options = resolveOptions(verifierOptions);
  // No close() to stop it: the trust bundle is fetched only from a request, never on a timer.
  const trust = options.fetch || !options.ca ? null : followTrustBundle({ ca: options.ca, server: options.issuer, refreshSeconds: options.bundleRefresh });
  const fetchImpl = options.fetch ?? (trust ? httpsFetch(trust.anchors) : null);
  const keys = createKeySource(options, fetchImpl);
  const cache = createTokenCache<Verified>(options.cacheSize, options.clockSkew);
  const apiKeys: ApiKeyChecker | null = options.apiKeys ? createApiKeyChecker({ ...options, apiKeys: options.apiKeys }, fetchImpl, keys.metadata) : null;
  const accepted = options.audience.join(' or ');
  const idTokens = options.tokenType === 'id_token';

  const jwtOptions: JWTVerifyOptions = {
    algorithms: options.algorithms as string[],
    typ: idTokens ? ID_TOKEN_TYPE : ACCESS_TOKEN_TYPE,
    issuer: options.issuer,
    audience: options.anyAudience ? undefined : (options.audience as string[]),
    clockTolerance: options.clockSkew,
    // `aud` is checked for presence even where any audience is accepted (anyAudience).
    requiredClaims: idTokens ? ['iss', 'sub', 'aud', 'exp', 'iat'] : ['aud', 'exp', 'iat', 'sub', 'client_id', 'jti'],
  };
  const realClock = options.now === Date.now;

  const verifySignedToken = async (token: string, nowMs: number): Promise<Verified> => {
    let payload: JWTPayload;
    let kid: string | undefined;
    try {
      const verifyOptions = realClock ? jwtOptions : { ...jwtOptions, currentDate: new Date(nowMs) };
      const result = await jwtVerify(token, keys.resolve, verifyOptions);
      ({ payload } = result);
      kid = result.protectedHeader.kid;
    } catch (error) {
      throw refusal(error, token, options.algorithms, options.issuer, accepted, idTokens);
    }
    const iat = payload.iat as number;
    if (iat > nowMs / 1000 + options.clockSkew) {
      throw new InvalidTokenError(
        'issued_in_future',
        `the token says it was issued at ${isoTime(iat)}, later than now plus the allowed clock skew of ${options.clockSkew} s; check the issuer's clock`,
      );
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') throw new InvalidTokenError('claims', 'the token\'s "sub" claim is not a principal name');
    if (idTokens) return verifiedIdToken(payload, kid);
    for (const claim of ['client_id', 'jti'] as const) {
      const value = payload[claim];
      if (typeof value !== 'string' || value === '') {
        throw new InvalidTokenError('claims', `the token's "${claim}" claim must be a non-empty string (RFC 9068 section 2.2)`);
      }
    }
    const audience = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud as string[]);
    const roles = grantedRoles({ scp: payload['scp'], scope: payload['scope'] }, audience);
    if (!roles) throw new InvalidTokenError('claims', 'the token\'s "scp" must be an array of strings and "scope" a string');
    const bound = boundThumbprint(payload.cnf);
    const actors = delegationChain(payload['act']);
    if (!actors) {
      throw new InvalidTokenError(
        'claims',
        'the token\'s "act" claim must be an object with a "sub" principal, nesting any earlier actor (RFC 8693 section 4.1)',
      );
    }
    const context: AuthContext = Object.freeze({
      kind: 'access_token',
      principal: payload.sub,
      clientId: payload['client_id'] as string,
      audience: Object.freeze(audience),
      roles,
      scope: Object.freeze(typeof payload['scope'] === 'string' ? payload['scope'].split(' ').filter((s) => s !== '') : []),
      expiresAt: payload.exp as number,
      certificateThumbprint: bound,
      claims: deepFreeze(payload),
      actors,
    });
    return { context, bound, kid: kid ?? '', signingKey: kid === undefined ? '' : keys.publishedKey(kid) };
  };

  /** An ID token grants no roles: it says who the subject is, to the service in `aud`. */
  const verifiedIdToken = (payload: JWTPayload, kid: string | undefined): Verified => {
    const audience = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud as string[]);
    const context: AuthContext = Object.freeze({
      kind: 'id_token',
      principal: payload.sub as string,
      clientId: typeof payload['azp'] === 'string' ? payload['azp'] : (payload.sub as string),
      audience: Object.freeze(audience),
      roles: Object.freeze({}),
      scope: Object.freeze([]),
      expiresAt: payload.exp as number,
      certificateThumbprint: null,
      claims: deepFreeze(payload),
      actors: Object.freeze([]),
    });
    return { context, bound: null, kid: kid ?? '', signingKey: kid === undefined ? '' : keys.publishedKey(kid) };
  };

  const requirementOf = (verifyOptions: VerifyOptions): CompiledRequirement =>
    verifyOptions.requirement ?? compileRequirement(verifyOptions.scope || verifyOptions.roles ? verifyOptions : undefined);

  return {
    issuer: options.issuer,
    audience: options.audience,
    acceptsApiKeys: apiKeys !== null,
    requirement: compileRequirement,

    async verify(token, verifyOptions = {}) {
      const requirement = requirementOf(verifyOptions);
      if (typeof token !== 'string' || token === '') throw new InvalidTokenError('malformed', 'no access token was given');
      if (token.length > options.maxTokenSize) {
        throw new InvalidTokenError('too_large', `the token is ${token.length} characters long; tokens over ${options.maxTokenSize} are refused unread`);
      }
      const nowMs = options.now();
      const key = options.cacheSize > 0 ? cache.keyOf(token) : null;
      let verified = key === null ? undefined : cache.get(key, nowMs / 1000);
      if (verified && keys.publishedKey(verified.kid) !== verified.signingKey) {
        // Its key left the JWKS (or changed under the same kid): verify again, which refuses it.
        cache.delete(key as string);
        verified = undefined;
      }
      if (!verified) {
        verified = await verifySignedToken(token, nowMs);
        // Only a token whose key could be identified is cached, so that it can be dropped with it.
        if (key !== null && verified.signingKey !== '') cache.set(key, verified, verified.context.expiresAt as number);
      }
      checkBinding(verified.bound, peerThumbprint(verifyOptions.peerCertificate));
      requirement.check(verified.context.roles);
      checkDelegation(verified.context.actors, verifyOptions.delegation);
      if (verified.context.kind !== 'api_key') rememberPresentedToken(verified.context, token);
      return verified.context;
    },

    async verifyApiKey(key, verifyOptions = {}) {
      const requirement = requirementOf(verifyOptions);
      if (!apiKeys) throw new InvalidTokenError('malformed', 'this service does not accept API keys; send an access token as "Authorization: Bearer <token>"');
      const answer = await apiKeys.check(key);
      const audience = keyAudience(answer.aud, options.audience, accepted);
      const roles = grantedRoles({ scope: typeof answer.scope === 'string' ? answer.scope : '' }, audience) as Roles;
      const context: AuthContext = Object.freeze({
        kind: 'api_key',
        principal: answer.sub,
        clientId: typeof answer.client_id === 'string' ? answer.client_id : answer.sub,
        audience,
        roles,
        scope: Object.freeze(typeof answer.scope === 'string' ? answer.scope.split(' ').filter((s) => s !== '') : []),
        expiresAt: typeof answer.exp === 'number' ? answer.exp : null,
        certificateThumbprint: null,
        claims: deepFreeze({ ...answer }),
        actors: Object.freeze([]),
      });
      requirement.check(roles);
      checkDelegation(context.actors, verifyOptions.delegation);
      return context;
    },
  };
}

/**
 * The API key's audience(s) that this verifier answers to, as a token's `aud` is checked: a key
 * for another domain, or for none, is refused with the same AUTH_107.
 */
function keyAudience(aud: unknown, accepts: readonly string[], accepted: string): readonly string[] {
  const audiences: unknown[] = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  const matching = audiences.filter((a): a is string => typeof a === 'string' && accepts.includes(a));
  if (matching.length > 0) return Object.freeze(matching);
  const problem = aud === undefined ? `the API key has no audience` : `the API key's audience ${quote(aud)} is not ${accepted}`;
  throw new InvalidAudienceError(`${problem}; ask for a key issued for this service's domain`);
}

function peerThumbprint(peer: VerifyOptions['peerCertificate']): (() => string | null) | null {
  if (peer === undefined || peer === null) return null;
  return () => {
    const certificate = typeof peer === 'function' ? peer() : peer;
    return certificate ? certificateThumbprint(certificate) : null;
  };
}

/** jose's error → ours, with a sentence that says what is wrong. */
function refusal(error: unknown, token: string, algorithms: readonly string[], issuer: string, audience: string, idTokens: boolean): Error {
  if (error instanceof VerifierError) return error;
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new InvalidTokenError('algorithm', `the token's algorithm ${quote(headerAlg(token))} is not accepted here; accepted: ${algorithms.join(', ')}`, {
      cause: error,
    });
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new InvalidTokenError('key', "the token's key id (kid) and algorithm match no key the issuer publishes; it was not signed by this issuer", {
      cause: error,
    });
  }
  if (error instanceof errors.JOSENotSupported) {
    return new InvalidTokenError('malformed', `the token uses something this verifier does not support: ${error.message}`, { cause: error });
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new InvalidTokenError('signature', "the token's signature does not verify against the issuer's published keys", { cause: error });
  }
  if (error instanceof errors.JWTExpired) {
    const exp = error.payload['exp'];
    return new InvalidTokenError('expired', `the token expired${typeof exp === 'number' ? ` at ${isoTime(exp)}` : ''}; get a new one`, { cause: error });
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const value = error.payload[error.claim];
    if (error.reason === 'missing') {
      const carry = idTokens ? 'an ID token must carry (OpenID Connect Core section 2)' : 'an access token must carry (RFC 9068 section 2.2)';
      return new InvalidTokenError('claims', `the token has no "${error.claim}" claim, which ${carry}`, { cause: error });
    }
    switch (error.claim) {
      case 'typ':
        if (idTokens)
          return new InvalidTokenError('type', `the token's type (typ header) is not "${ID_TOKEN_TYPE}": only ID tokens are accepted here, not access tokens`, {
            cause: error,
          });
        return new InvalidTokenError(
          'type',
          `the token's type (typ header) is not "${ACCESS_TOKEN_TYPE}": only access tokens (RFC 9068) are accepted here, not ID tokens or other JWTs`,
          { cause: error },
        );
      case 'iss':
        return new InvalidTokenError('issuer', `the token was issued by ${quote(value)}, not by ${issuer}`, { cause: error });
      case 'aud':
        return new InvalidAudienceError(`the token's audience ${quote(value)} is not ${audience}; ask for a token for this service's domain`, { cause: error });
      case 'nbf':
        return new InvalidTokenError('not_yet_valid', `the token is not valid before ${typeof value === 'number' ? isoTime(value) : quote(value)}`, {
          cause: error,
        });
      default:
        return new InvalidTokenError('claims', `the token's "${error.claim}" claim is not valid: ${error.message}`, { cause: error });
    }
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return new InvalidTokenError(
      'malformed',
      `the token is not a well-formed signed JWT (three base64url parts: JSON header, JSON claims, signature): ${error.message}`,
      { cause: error },
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

function headerAlg(token: string): unknown {
  try {
    return decodeProtectedHeader(token).alg;
  } catch {
    return undefined;
  }
}

/** A value from the token, quoted and cut short: it came from the caller and goes into messages. */
function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? 'nothing';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function isoTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
