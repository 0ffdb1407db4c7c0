// Showing a JWT to a person: header and claims decoded (never verified here), and NumericDate
// claims followed by the time they stand for.

import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { JWTPayload, ProtectedHeaderParameters } from 'jose';

import { CliError } from './errors.ts';
import { formatHuman } from './output.ts';

export interface DecodedJwt {
  header: ProtectedHeaderParameters;
  claims: JWTPayload;
}

/** Decodes without verifying; `what` names the token in the error ("access token"). */
export function decodeUnverified(token: string, what: string): DecodedJwt {
  try {
    return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
  } catch {
    throw new CliError(`the ${what} is not a JWT (expected three base64url parts separated by dots)`);
  }
}

// The largest time a JavaScript Date can hold, in seconds.
const MAX_DATE_SECONDS = 8.64e12;
const TIME_CLAIMS: ReadonlySet<string> = new Set(['iat', 'nbf', 'exp', 'auth_time']);

/** `key: value` lines; `exp: 1893456000 (2030-01-01T00:00:00.000Z)`. */
export function formatClaims(claims: JWTPayload): string {
  const shown = Object.fromEntries(
    Object.entries(claims).map(([name, value]) =>
      TIME_CLAIMS.has(name) && typeof value === 'number' && Math.abs(value) <= MAX_DATE_SECONDS
        ? [name, `${value} (${new Date(value * 1000).toISOString()})`]
        : [name, value],
    ),
  );
  return formatHuman(shown);
}
