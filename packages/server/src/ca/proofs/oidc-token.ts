// Proof `oidc-token` (docs/certificates.md, OIDC token): a token from a configured external OIDC issuer, typically a
// Kubernetes projected service-account token, whose claim names the workload. Only configured
// issuers count, each with its own JWKS URL, audience and claim-to-principal mapping; the issuer
// is picked by the token's `iss` and then verified against that issuer's keys alone, so one
// issuer can never vouch for another's claims.
//
// Such tokens are bearer tokens, reusable until they expire (Kubernetes made them without a jti
// before 1.29), so the audience is what keeps a token minted for some other service from working
// here: configure an audience that names this Tessera.
//
// Except for an issuer also trusted for client assertions (`uses` naming both): its tokens are
// accepted once, whichever use they are put to. Without that, an assertion spent at the token
// endpoint and stolen afterwards would still get a certificate here (and with it tokens by
// tls_client_auth), and a token given to the CA would still authenticate a client. So the proof
// applies that issuer's client-assertion rules (oauth2/assertions/federated-assertion.ts,
// replayRecord: maxLifetime, and a jti unless `replay` is "token-hash") and spends the token in
// the same store under the same key as client authentication does.

import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import type { OidcProofIssuer } from '../../config/config.ts';
import { onceOnlyRules, replayRecord, type OnceOnlyRules, type ReplayRecord } from '../../oauth2/assertions/federated-assertion.ts';
import { AssertionError } from '../../oauth2/assertions/verify-assertion.ts';
import { mapToPrincipal, principalMapping, type PrincipalMapping } from '../../oauth2/assertions/principal-mapping.ts';
import type { Store } from '../../storage/store.ts';
import { ProofError, forbidden, notProven, requireActiveService, type CertificateProof } from './proof.ts';

/** Asymmetric algorithms only: an HMAC token would make the issuer's JWKS a shared secret. */
export const OIDC_PROOF_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
const MAX_TOKEN_BYTES = 16 * 1024;

export interface OidcTokenDeps {
  /** consumeAssertionJti: where the tokens of issuers also used for client assertions are spent, as at the token endpoint. */
  store: Pick<Store, 'getService' | 'consumeAssertionJti'>;
  issuers: readonly OidcProofIssuer[];
  /** Seconds of clock difference tolerated on exp, nbf and iat. */
  clockSkew: number;
}

interface TrustedIssuer extends PrincipalMapping {
  config: OidcProofIssuer;
  keys: ReturnType<typeof createRemoteJWKSet>;
  /** Set when the issuer is trusted for client assertions too: each token is then accepted once, for either use. */
  onceOnly: OnceOnlyRules | null;
}

export function oidcTokenProof(deps: OidcTokenDeps): CertificateProof {
  // One remote key set per issuer, made at start: jose caches the keys and rate-limits
  // refetches (on an unknown kid) per key set, so a flood of bad tokens cannot flood the issuer.
  const trusted = new Map<string, TrustedIssuer>(
    deps.issuers.map((config) => [
      config.issuer,
      {
        ...principalMapping(config),
        config,
        keys: createRemoteJWKSet(new URL(config.jwksUri)),
        onceOnly: config.uses?.includes('client-assertions') === true ? onceOnlyRules(config) : null,
      },
    ]),
  );

  return {
    type: 'oidc-token',
    async prove({ value, now, clientIp }) {
      if (value === undefined || value === '') throw notProven('proof.value must be a token (JWT) from a configured OIDC issuer');
      if (value.length > MAX_TOKEN_BYTES) throw notProven(`the OIDC token is larger than ${MAX_TOKEN_BYTES / 1024} KiB`);
      const issuer = trusted.get(issuerOf(value));
      if (!issuer) {
        throw notProven(`the OIDC token's issuer "${issuerOf(value).slice(0, 200)}" is not one this server trusts for certificates (oidcProofs)`);
      }
      const { config } = issuer;
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(value, issuer.keys, {
          algorithms: [...OIDC_PROOF_ALGORITHMS],
          issuer: config.issuer,
          audience: config.audience,
          requiredClaims: ['exp'],
          clockTolerance: deps.clockSkew,
          currentDate: new Date(now),
        }));
      } catch (error) {
        if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'aud') {
          throw notProven(`the OIDC token's aud does not include "${config.audience}"; request a token for that audience`, { cause: error });
        }
        if (!(error instanceof errors.JOSEError) || error instanceof errors.JWKSTimeout || error.code === 'ERR_JOSE_GENERIC') {
          // The issuer's JWKS did not answer, or not with keys: nothing is known about the token yet.
          throw new ProofError(503, `could not fetch the signing keys of issuer ${config.issuer} from ${config.jwksUri}; retry shortly`, { cause: error });
        }
        throw notProven(`the OIDC token was rejected: ${error.message}`, { cause: error });
      }

      // jwtVerify checked exp (required) and iat (when present) to be NumericDates.
      const record = issuer.onceOnly === null ? null : onceOnlyRecord(value, payload as JWTPayload & { exp: number }, issuer.onceOnly, deps.clockSkew, now);

      const claimValue = payload[config.claim];
      if (typeof claimValue !== 'string') throw forbidden(`the OIDC token has no string claim "${config.claim}" to map to a principal`);
      const mapped = mapToPrincipal(issuer, claimValue);
      if (typeof mapped !== 'string') {
        const why = mapped.reason === undefined ? '' : `: ${mapped.reason}`;
        throw forbidden(
          `${config.claim} "${claimValue.slice(0, 200)}" of issuer ${config.issuer} maps to no principal${why}; ` +
            "add it to the issuer's principals or pattern",
        );
      }
      const principal = mapped;
      await requireActiveService(deps.store, principal, { clientIp, now });
      // Spent last, as at the token endpoint: a token refused for its principal's standing can be used again once that is fixed.
      if (record !== null && !(await deps.store.consumeAssertionJti(record.issuer, record.key, record.keepUntil, now))) {
        const seen = issuer.onceOnly?.replay === 'token-hash' ? 'this exact token was seen before' : 'its jti was seen before';
        throw notProven(
          `the OIDC token was already used (${seen}): issuer ${config.issuer} is trusted for client assertions too, ` +
            'and its tokens are accepted once, at the token endpoint or here; present a new token from the issuer',
        );
      }
      return { principal };
    },
  };
}

/** The issuer's client-assertion rules applied to the token, as a 401 when it breaks them. */
function onceOnlyRecord(token: string, claims: JWTPayload & { exp: number }, rules: OnceOnlyRules, skew: number, now: number): ReplayRecord {
  try {
    return replayRecord(token, claims, rules, skew, Math.floor(now / 1000));
  } catch (error) {
    if (!(error instanceof AssertionError)) throw error;
    throw notProven(`the OIDC token was rejected (issuer ${rules.issuer} is trusted for client assertions too, whose rules apply): ${error.message}`, {
      cause: error,
    });
  }
}

function issuerOf(token: string): string {
  let claims: JWTPayload;
  try {
    claims = decodeJwt(token);
  } catch {
    throw notProven('proof.value is not a JWT (three base64url parts joined by dots, with a JSON payload)');
  }
  if (typeof claims.iss !== 'string') throw notProven('the OIDC token has no iss claim');
  return claims.iss;
}
