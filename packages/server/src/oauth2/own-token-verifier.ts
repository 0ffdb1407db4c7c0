// Verifies the signature of access tokens Tessera itself issued against the keys it publishes,
// with the same rules a resource server applies: fixed algorithm allow-list, `typ: at+jwt`, our
// issuer, bounded clock skew. With `typ: 'JWT'`, the same for Tessera's ID tokens (a token
// exchange's subject token, a revocation). Only the first step: whether such a token is acceptable now is
// oauth2/accept-token.ts's to say, and every consumer asks there.

import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { SigningAlg } from '../storage/records.ts';

export interface OwnTokenVerifierDeps {
  issuer: string;
  jwksJson: () => string;
  algorithms: readonly SigningAlg[];
  clockSkew: number;
  now: () => number;
}

export type OwnTokenVerifier = (token: string) => Promise<JWTPayload>;

/**
 * `kind`: Tessera's access tokens (`typ: at+jwt`, the default), its ID tokens (`typ: JWT`), or a
 * person's console session token (`typ` PERSON_SESSION_TYP, audience the admin API's), which only
 * the admin API verifies.
 */
export function createOwnTokenVerifier(deps: OwnTokenVerifierDeps, kind: { typ: string; audience?: string } = { typ: 'at+jwt' }): OwnTokenVerifier {
  let cachedJson = '';
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  const currentKeySet = (): ReturnType<typeof createLocalJWKSet> => {
    const json = deps.jwksJson();
    if (json !== cachedJson || !keySet) {
      keySet = createLocalJWKSet(JSON.parse(json) as JSONWebKeySet);
      cachedJson = json;
    }
    return keySet;
  };
  return async (token) => {
    const { payload } = await jwtVerify(token, currentKeySet(), {
      issuer: deps.issuer,
      typ: kind.typ,
      ...(kind.audience === undefined ? {} : { audience: kind.audience }),
      algorithms: [...deps.algorithms],
      clockTolerance: deps.clockSkew,
      currentDate: new Date(deps.now()),
      requiredClaims: ['sub', 'exp', 'iat'],
    });
    return payload;
  };
}
