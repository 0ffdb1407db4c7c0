// Proof `oidc-token` (docs/certificates.md, OIDC token): a token from a configured external OIDC issuer, typically a
// Kubernetes projected service-account token, whose claim names the workload. Only configured
// issuers count, each with its own JWKS URL, audience and claim-to-principal mapping; the issuer
// is picked by the token's `iss` and then verified against that issuer's keys alone, so one
// issuer can never vouch for another's claims.
//
// Such tokens are bearer tokens, reusable until they expire (Kubernetes makes them without a
// jti), so the audience is what keeps a token minted for some other service from working here:
// configure an audience that names this Tessera.

import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import type { OidcProofIssuer } from '../../config/config.ts';
import { mapToPrincipal, principalMapping, type PrincipalMapping } from '../../oauth2/assertions/principal-mapping.ts';
import type { Store } from '../../storage/store.ts';
import { ProofError, forbidden, notProven, requireActiveService, type CertificateProof } from './proof.ts';

/** Asymmetric algorithms only: an HMAC token would make the issuer's JWKS a shared secret. */
export const OIDC_PROOF_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
const MAX_TOKEN_BYTES = 16 * 1024;

export interface OidcTokenDeps {
  store: Pick<Store, 'getService'>;
  issuers: readonly OidcProofIssuer[];
  /** Seconds of clock difference tolerated on exp, nbf and iat. */
  clockSkew: number;
}

interface TrustedIssuer extends PrincipalMapping {
  config: OidcProofIssuer;
  keys: ReturnType<typeof createRemoteJWKSet>;
}

export function oidcTokenProof(deps: OidcTokenDeps): CertificateProof {
  // One remote key set per issuer, made at start: jose caches the keys and rate-limits
  // refetches (on an unknown kid) per key set, so a flood of bad tokens cannot flood the issuer.
  const trusted = new Map<string, TrustedIssuer>(
    deps.issuers.map((config) => [config.issuer, { ...principalMapping(config), config, keys: createRemoteJWKSet(new URL(config.jwksUri)) }]),
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
      return { principal };
    },
  };
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
