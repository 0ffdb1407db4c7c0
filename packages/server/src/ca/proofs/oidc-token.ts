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
import { describeNameRule, isDomainName, isPrincipalName, isServiceName } from '../../policy/names.ts';
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

interface TrustedIssuer {
  config: OidcProofIssuer;
  pattern: RegExp | null;
  keys: ReturnType<typeof createRemoteJWKSet>;
}

export function oidcTokenProof(deps: OidcTokenDeps): CertificateProof {
  // One remote key set per issuer, made at start: jose caches the keys and rate-limits
  // refetches (on an unknown kid) per key set, so a flood of bad tokens cannot flood the issuer.
  const trusted = new Map<string, TrustedIssuer>(
    deps.issuers.map((config) => [config.issuer, { config, pattern: compilePattern(config), keys: createRemoteJWKSet(new URL(config.jwksUri)) }]),
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

/**
 * The exact table first, then the pattern. Each group is checked on its own before they are
 * joined: joined, `sys` + `auth.admin` would read as service `admin` of domain `sys.auth`, since a
 * principal's service is whatever follows its last dot (Kubernetes allows dots in account names).
 */
function mapToPrincipal(issuer: TrustedIssuer, value: string): string | { reason?: string } {
  const listed = issuer.config.principals?.[value];
  if (listed !== undefined) return isPrincipalName(listed) ? listed : {};
  const match = issuer.pattern?.exec(value);
  // The whole claim must match, anchored or not: a pattern that matched a part would let
  // `system:serviceaccount:a:b:extra` borrow a:b's identity.
  const groups = match?.[0] === value ? match.groups : undefined;
  const domain = groups?.['domain'];
  const service = groups?.['service'];
  if (!domain || !service) return {};
  if (!isDomainName(domain)) {
    return { reason: `its domain "${domain.slice(0, 80)}" is not a domain name (${describeNameRule('domain')})` };
  }
  if (!isServiceName(service)) {
    return { reason: `its service "${service.slice(0, 80)}" is not a service name (${describeNameRule('service')})` };
  }
  const principal = `${domain}.${service}`;
  return isPrincipalName(principal) ? principal : { reason: `${principal} is longer than a principal may be` };
}

function compilePattern(config: OidcProofIssuer): RegExp | null {
  if (config.pattern === undefined) {
    if (config.principals === undefined) throw new Error(`oidcProofs issuer ${config.issuer}: give a pattern, a principals table, or both`);
    return null;
  }
  let pattern: RegExp;
  try {
    pattern = new RegExp(config.pattern);
  } catch (cause) {
    throw new Error(`oidcProofs issuer ${config.issuer}: pattern is not a valid regular expression`, { cause });
  }
  if (!config.pattern.includes('(?<domain>') || !config.pattern.includes('(?<service>')) {
    throw new Error(`oidcProofs issuer ${config.issuer}: pattern needs the named groups (?<domain>…) and (?<service>…)`);
  }
  return pattern;
}
