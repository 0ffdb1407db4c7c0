// A JWT bearer client assertion (RFC 7523 §3, RFC 7521 §4.2) signed not by a key registered on a
// service but by a configured external issuer (config `oidcProofs` with `uses` naming
// `client-assertions`): a Kubernetes service-account token, a SPIFFE JWT-SVID, a CI provider's
// OIDC token. The issuer is picked by the token's `iss` and the token is verified against that
// issuer's JWKS alone, with that issuer's claim-to-principal mapping, so one issuer can never
// vouch for another's subjects.
//
// The rules, in the RFC's order: iss is a trusted issuer (§3 item 1); sub is present (2); aud
// names this authorization server, its issuer or its token endpoint, never the `audience` the
// certificate proof takes (3), so a token minted for another service, or for the certificate
// proof, does not authenticate a client here; exp is required (4), and the validity (exp − iat,
// or exp − now without iat) is at most the issuer's maxLifetime; nbf is honoured (5); an iat in
// the future is refused (6); each token is accepted once (7): by its jti, or by the SHA-256 of its
// signed part for issuers whose tokens carry none (`replay: "token-hash"`); and the signature must verify with an
// asymmetric algorithm (9): never `none`, never HMAC. Cheap checks run before the key set is
// asked; the replay record is written last, once the caller has checked the mapped client.
//
// The lifetime and once-only rules (replayRecord) are the issuer's, not the endpoint's: the
// `oidc-token` certificate proof (ca/proofs/oidc-token.ts) applies them too, with the same record
// in the same store, to the tokens of an issuer also trusted for client assertions. A token spent
// here is then spent there, and the reverse: one token, one use, whichever use it is put to.
//
// The issuer's keys not being available is not the client's fault: the caller answers 503.

import { createHash } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type ProtectedHeaderParameters } from 'jose';
import type { OidcProofIssuer } from '../../config/config.ts';
import { AssertionError, decodeClaims, decodeHeader, invalid } from './verify-assertion.ts';
import { mapToPrincipal, principalMapping, type PrincipalMapping } from './principal-mapping.ts';

/** Asymmetric algorithms only: with HMAC the issuer's published JWKS would be the shared secret. */
export const FEDERATED_ALGORITHMS: readonly string[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** An issuer's maxLifetime when its configuration gives none: a Kubernetes projected token's default. */
export const DEFAULT_FEDERATED_LIFETIME = 3600;
/** Seconds a client is told to wait when the issuer's keys could not be fetched. */
export const KEYS_RETRY_AFTER = 10;
const MAX_TOKEN_BYTES = 16 * 1024;
const MAX_JTI_LENGTH = 256;
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** The issuer's JWKS could not be fetched or is not a key set: nothing is known about the token. */
export class IssuerKeysUnavailableError extends Error {
  readonly issuer: string;
  constructor(issuer: string, options?: ErrorOptions) {
    super(`could not fetch the signing keys of issuer ${issuer}`, options);
    this.issuer = issuer;
  }
}

export interface FederatedAssertionDeps {
  /** The issuers trusted for client assertions (already filtered by `uses`). */
  issuers: readonly OidcProofIssuer[];
  /** Values `aud` may hold: the token endpoint URLs and this server's issuer. The first is named in errors. */
  audiences: readonly string[];
  /** Seconds of clock difference tolerated on exp, nbf and iat. */
  clockSkew: number;
  /** Records `key` of `issuer` until `keepUntil` (ms; `now` too); false when it was recorded before. */
  consumeJti: (issuer: string, key: string, keepUntil: number, now: number) => Promise<boolean>;
}

export interface FederatedAssertion {
  issuer: string;
  /** The mapped principal. */
  principal: string;
  /** The claim that was mapped, and its value (for messages). */
  claim: string;
  subject: string;
  /** Records the assertion as used; throws AssertionError `replayed` when it was used before. */
  spend(): Promise<void>;
}

export interface FederatedAssertions {
  /** Whether `issuer` is trusted for client assertions. */
  trusts(issuer: string): boolean;
  /**
   * Verifies an assertion whose iss is trusted and maps its subject to a principal. Throws
   * AssertionError (`invalid`, `unsigned`; UnmappedSubjectError when the mapping gives no
   * principal) or IssuerKeysUnavailableError.
   */
  verify(assertion: string, now: number): Promise<FederatedAssertion>;
}

/** A subject the issuer's mapping turns into no principal. */
export class UnmappedSubjectError extends AssertionError {
  constructor(message: string) {
    super('invalid', message);
  }
}

/** What an issuer trusted for client assertions asks of each of its tokens, whichever use they are put to. */
export interface OnceOnlyRules {
  issuer: string;
  /** Seconds: the longest validity accepted. */
  maxLifetime: number;
  replay: 'jti' | 'token-hash';
}

/** An issuer's once-only rules, with the defaults its configuration leaves out. */
export function onceOnlyRules(config: OidcProofIssuer): OnceOnlyRules {
  return { issuer: config.issuer, maxLifetime: config.maxLifetime ?? DEFAULT_FEDERATED_LIFETIME, replay: config.replay ?? 'jti' };
}

/** How a token is spent: `consumeJti(issuer, key, keepUntil, now)` records it, and refuses it the second time. */
export interface ReplayRecord {
  issuer: string;
  key: string;
  /** Milliseconds: until the token could no longer pass an exp check, skew included. */
  keepUntil: number;
}

/**
 * The lifetime and jti rules of `rules` for a token whose `exp` and `iat` (when present) were
 * checked to be NumericDates, and the record that spends it. Throws AssertionError `invalid`.
 * `nowSeconds` is the current time in seconds.
 */
export function replayRecord(token: string, claims: JWTPayload & { exp: number }, rules: OnceOnlyRules, skew: number, nowSeconds: number): ReplayRecord {
  const { exp, iat, jti } = claims;
  // RFC 7523 §3 item 6; and a future iat would shorten the lifetime measured below.
  if (typeof iat === 'number' && iat - skew > nowSeconds) invalid(`it was issued in the future (iat ${isoSeconds(iat)}); check the issuer's clock`);
  // From iat when the token says when it was made, else from our clock: either way exp is at
  // most maxLifetime (plus skew) ahead of now, since iat is not in the future.
  const lifetime = typeof iat === 'number' ? exp - iat : exp - nowSeconds - skew;
  if (lifetime > rules.maxLifetime) {
    invalid(
      `it is valid for ${Math.ceil(lifetime)} s, longer than the ${rules.maxLifetime} s this server accepts from issuer ${rules.issuer}; ` +
        'request a shorter-lived token (Kubernetes: expirationSeconds)',
    );
  }
  const keepUntil = (exp + skew) * 1000;
  if (rules.replay === 'jti') {
    if (typeof jti !== 'string' || jti === '') {
      invalid(`jti is required: issuer ${rules.issuer} is configured to refuse replays by jti (replay "jti"); its tokens must carry one`);
    }
    if (jti.length > MAX_JTI_LENGTH) invalid(`jti is longer than ${MAX_JTI_LENGTH} characters`);
    if (CONTROL_CHARACTER.test(jti)) invalid('jti must not contain control characters');
    return { issuer: rules.issuer, key: `jti:${jti}`, keepUntil };
  }
  // By hash, of the signed part only: the signature's encoding can be varied without breaking it
  // (spare bits of its last base64url character; ECDSA's s or n − s), the signed part cannot.
  const signed = token.slice(0, token.lastIndexOf('.'));
  return { issuer: rules.issuer, key: `sha256:${createHash('sha256').update(signed).digest('base64url')}`, keepUntil };
}

interface TrustedIssuer extends PrincipalMapping, OnceOnlyRules {
  config: OidcProofIssuer;
  /** The issuer's remote key set, its failures to answer with keys made IssuerKeysUnavailableError. */
  keyFor: JWTVerifyGetKey;
}

export function federatedAssertions(deps: FederatedAssertionDeps): FederatedAssertions {
  // One remote key set per issuer, made at start: jose caches the keys and rate-limits refetches
  // (on an unknown kid) per key set, so a flood of bad tokens cannot flood the issuer.
  const trusted = new Map<string, TrustedIssuer>(
    deps.issuers.map((config) => [
      config.issuer,
      {
        ...principalMapping(config),
        config,
        keyFor: keysOf(config.issuer, createRemoteJWKSet(new URL(config.jwksUri))),
        ...onceOnlyRules(config),
      },
    ]),
  );
  const skew = deps.clockSkew;

  return {
    trusts: (issuer) => trusted.has(issuer),
    async verify(assertion, now) {
      if (Buffer.byteLength(assertion, 'utf8') > MAX_TOKEN_BYTES) invalid(`it is larger than ${MAX_TOKEN_BYTES / 1024} KiB`);
      const header = decodeHeader(assertion);
      const alg = checkHeader(header);
      const claims = decodeClaims(assertion);
      const issuer = typeof claims.iss === 'string' ? trusted.get(claims.iss) : undefined;
      if (issuer === undefined) invalid('its issuer is not trusted for client authentication');
      const seconds = Math.floor(now / 1000);
      const record = replayRecord(assertion, checkClaims(claims, deps.audiences, skew, seconds), issuer, skew, seconds);

      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(assertion, issuer.keyFor, {
          algorithms: [alg],
          issuer: issuer.config.issuer,
          audience: [...deps.audiences],
          requiredClaims: ['exp', 'sub'],
          clockTolerance: skew,
          currentDate: new Date(now),
        }));
      } catch (error) {
        if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWSSignatureVerificationFailed) {
          throw new AssertionError(
            'unsigned',
            `it is not signed by a key that issuer ${issuer.config.issuer} publishes; present the token exactly as the issuer made it`,
            { cause: error },
          );
        }
        if (error instanceof IssuerKeysUnavailableError) throw error;
        return invalid(error instanceof Error ? error.message : String(error), error);
      }

      const claim = issuer.config.claim;
      const value = payload[claim];
      if (typeof value !== 'string' || value === '') {
        throw new UnmappedSubjectError(`it has no string claim "${claim}" to map to a client`);
      }
      const mapped = mapToPrincipal(issuer, value);
      if (typeof mapped !== 'string') {
        const why = mapped.reason === undefined ? '' : ` (${mapped.reason})`;
        throw new UnmappedSubjectError(`${claim} "${value.slice(0, 200)}" of issuer ${issuer.config.issuer} is not mapped to a client of this server${why}`);
      }

      return {
        issuer: issuer.config.issuer,
        principal: mapped,
        claim,
        subject: value,
        async spend() {
          if (!(await deps.consumeJti(record.issuer, record.key, record.keepUntil, now))) {
            const seen = issuer.replay === 'jti' ? 'its jti was seen before' : 'this exact token was seen before';
            throw new AssertionError('replayed', `assertion already used (${seen}); present a new token from the issuer for each token request`);
          }
        },
      };
    },
  };
}

/**
 * The key set as jwtVerify asks it, telling the issuer's fault (no answer, an error status, not a
 * key set, a key that does not import) from the token's: only no key matching the token's kid and
 * alg is the token's (jose tries each of several matching keys itself).
 */
function keysOf(issuer: string, keys: ReturnType<typeof createRemoteJWKSet>): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await keys(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new IssuerKeysUnavailableError(issuer, { cause: error });
    }
  };
}

function checkHeader(header: ProtectedHeaderParameters): string {
  const { alg } = header;
  if (typeof alg !== 'string') invalid('its header has no alg');
  if (alg.toLowerCase() === 'none') invalid('alg "none" is never accepted; present a token signed by its issuer');
  if (/^HS\d+$/i.test(alg)) invalid(`alg "${alg.slice(0, 20)}" (HMAC) is never accepted from an external issuer; its tokens must be signed with a private key`);
  if (!FEDERATED_ALGORITHMS.includes(alg)) {
    invalid(`alg "${alg.slice(0, 20)}" is not accepted; the issuer must sign with one of ${FEDERATED_ALGORITHMS.join(', ')}`);
  }
  if (header.crit !== undefined) invalid('its header marks parameters critical (crit) that Tessera does not understand');
  if (header.kid !== undefined && typeof header.kid !== 'string') invalid('kid must be a string');
  return alg;
}

/** RFC 7523 §3's claim rules but the issuer's own (replayRecord): the claims, exp known a NumericDate. */
function checkClaims(claims: JWTPayload, audiences: readonly string[], skew: number, now: number): JWTPayload & { exp: number } {
  const { sub, aud, exp, nbf, iat } = claims;
  if (typeof sub !== 'string' || sub === '') invalid('sub is required (RFC 7523 §3)');
  const given = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (!given.some((value) => audiences.includes(value))) {
    invalid(`aud must name this server: its token endpoint ${audiences[0] ?? ''} or its issuer; request a token for that audience from the issuer`);
  }
  if (!isNumericDate(exp)) invalid('exp is required (a NumericDate, in seconds)');
  if (exp + skew <= now) invalid(`it expired at ${isoSeconds(exp)}; present a fresh token from the issuer`);
  if (nbf !== undefined) {
    if (!isNumericDate(nbf)) invalid('nbf must be a NumericDate, in seconds');
    if (nbf - skew > now) invalid(`it is not valid before ${isoSeconds(nbf)}`);
  }
  if (iat !== undefined && !isNumericDate(iat)) invalid('iat must be a NumericDate, in seconds');
  return { ...claims, exp };
}

const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function isoSeconds(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}
