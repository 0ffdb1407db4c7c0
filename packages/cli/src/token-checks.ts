// Why the SDK's verifier refused a token, in one line a person can act on, and the scope check
// `tessera verify --scope` adds on top. The verifier keeps jose's error as the cause of its own,
// and jose's stable error codes drive the wording.

import { decodeProtectedHeader, errors } from 'jose';
import type { JWTPayload } from 'jose';

import { CliError, describeError } from './errors.ts';
import { InvalidTokenError, VerifierError, scopeItemRole } from './sdk.ts';

export interface Expectations {
  issuer: string;
  audience?: string;
  typ: string;
  server: string;
  jwksUri: string;
}

/** Turns a verifier failure into `invalid token: <reason>`; JWKS trouble is a server problem instead. */
export function explainRejection(failure: unknown, token: string, expected: Expectations): CliError {
  // A failure of the CLI's own client (fetching the keys) is already in its words.
  const error = failure instanceof VerifierError && failure.cause !== undefined ? failure.cause : failure;
  if (error instanceof CliError) return error;
  if (failure instanceof InvalidTokenError && !(error instanceof errors.JOSEError)) {
    const iat = failure.reason === 'issued_in_future' ? decodedClaim(token, 'iat') : undefined;
    return new CliError(`invalid token: ${iat === undefined ? failure.message : `issued in the future (iat ${timeOf(iat)})`}`, undefined, { cause: failure });
  }
  if (!(error instanceof errors.JOSEError)) {
    return new CliError(`cannot verify the token: ${describeError(error)}`, undefined, { cause: error });
  }
  const invalid = (reason: string): CliError => new CliError(`invalid token: ${reason}`, undefined, { cause: error });
  switch (error.code) {
    case 'ERR_JWT_EXPIRED':
      return invalid(`expired at ${timeOf((error as errors.JWTExpired).payload.exp)}`);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const { claim, reason, payload } = error as errors.JWTClaimValidationFailed;
      return invalid(explainClaim(claim, reason, payload, token, expected) ?? error.message);
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return invalid(`bad signature: the token was altered, or was not signed by ${expected.server}`);
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return invalid(
        `no key published at ${expected.jwksUri} matches kid ${JSON.stringify(headerOf(token).kid ?? null)}; ` +
          'the token comes from another server, or its signing key has been retired',
      );
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return invalid(`algorithm ${String(headerOf(token).alg)} is not allowed (ES256, EdDSA or RS256)`);
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return invalid(`malformed token: ${error.message}`);
    case 'ERR_JWKS_TIMEOUT':
      return new CliError(`no JWKS from ${expected.jwksUri} in time`, undefined, { cause: error });
    default:
      return new CliError(`cannot use the keys at ${expected.jwksUri}: ${error.message}`, undefined, { cause: error });
  }
}

function explainClaim(claim: string, reason: string, payload: JWTPayload, token: string, expected: Expectations): string | undefined {
  if (reason === 'missing') return `it has no "${claim}" claim`;
  switch (claim) {
    case 'aud':
      return `wrong audience: the token is for ${JSON.stringify(payload.aud ?? null)}, not "${expected.audience}"`;
    case 'iss':
      return `wrong issuer: the token was issued by ${JSON.stringify(payload.iss ?? null)}, not "${expected.issuer}"`;
    case 'typ': {
      const typ = headerOf(token).typ;
      const hint = expected.typ === 'at+jwt' && typ === 'JWT' ? ' (an ID token? pass --id-token)' : '';
      return `wrong type: typ is ${JSON.stringify(typ ?? null)}, expected "${expected.typ}"${hint}`;
    }
    case 'nbf':
      return `not valid before ${timeOf(payload.nbf)}`;
    case 'iat':
      return `issued in the future (iat ${timeOf(payload.iat)})`;
    default:
      return undefined;
  }
}

/**
 * The --scope items the token's `scope` claim lacks. Role items compare in one form, so
 * `beta:readers` and `beta:role.readers` are the same requirement (docs/tokens.md, Scopes).
 */
export function missingScopeItems(required: string | undefined, granted: unknown): string[] {
  if (required === undefined) return [];
  const have = new Set((typeof granted === 'string' ? granted.split(/\s+/) : []).filter((item) => item !== '').map(canonicalScopeItem));
  return required.split(/\s+/).filter((item) => item !== '' && !have.has(canonicalScopeItem(item)));
}

/** A role item in its long form (the SDK's reading of the scope grammar); any other item as it is. */
export function canonicalScopeItem(item: string): string {
  const granted = scopeItemRole(item);
  return granted === null ? item : `${granted.domain}:role.${granted.role}`;
}

function headerOf(token: string): { alg?: unknown; kid?: unknown; typ?: unknown } {
  try {
    return decodeProtectedHeader(token);
  } catch {
    return {};
  }
}

function decodedClaim(token: string, claim: string): unknown {
  try {
    return (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>)[claim];
  } catch {
    return undefined;
  }
}

function timeOf(seconds: unknown): string {
  return typeof seconds === 'number' && Math.abs(seconds) <= 8.64e12 ? new Date(seconds * 1000).toISOString() : String(seconds);
}
