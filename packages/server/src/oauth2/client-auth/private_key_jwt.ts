// private_key_jwt (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OpenID Connect Core §9): the client
// signs a short-lived JWT with a private key whose public half is registered on its service.
//
// The assertion itself is checked by the one RFC 7523 verifier (oauth2/assertions), which the
// CA's key-assertion proof shares; this module adds what belongs to the token endpoint: the form
// parameters, the client lookup, the registered keys chosen by `kid`, and one answer for an
// unknown client, an unknown kid and a bad signature alike, given in the same time.

import { JWS_ALGORITHMS } from '../../policy/key-types.ts';
import { publicKeyCache } from '../../policy/public-keys.ts';
import type { ClientWithKeys, Store } from '../../storage/store.ts';
import { AssertionError, verifyAssertion, type AssertionChecks } from '../assertions/verify-assertion.ts';
import { OAuthError, invalidRequest } from '../errors.ts';
import type { ClientAuthMethod } from './method.ts';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What discovery advertises as token_endpoint_auth_signing_alg_values_supported. */
export const PRIVATE_KEY_JWT_ALGORITHMS: readonly string[] = JWS_ALGORITHMS;

export interface PrivateKeyJwtDeps {
  store: Pick<Store, 'getClientWithKeys' | 'consumeAssertionJti'>;
  /** Values `aud` may hold: the token endpoint URLs and the issuer. The first is named in errors. */
  audiences: readonly string[];
  /** Seconds of clock difference tolerated on exp, nbf and iat. */
  clockSkew: number;
}

/**
 * One answer for an unknown client, an unknown kid and a bad signature alike, so the endpoint
 * does not reveal which client ids or key ids exist.
 */
const NOT_PROVEN = 'unknown client, or the assertion is not signed by a key registered for it; check iss, sub, kid, alg and the signing key';

function rejected(why: string): OAuthError {
  return new OAuthError(401, 'invalid_client', `client assertion rejected: ${why}`, { errorCode: 'AUTH_101' });
}

export function privateKeyJwt(deps: PrivateKeyJwtDeps): ClientAuthMethod {
  const keys = publicKeyCache();
  const checks: AssertionChecks = {
    audiences: deps.audiences,
    clockSkew: deps.clockSkew,
    words: { caller: 'the client_id', endpoint: 'this token endpoint', key: 'a key registered for the client' },
  };

  return {
    name: 'private_key_jwt',
    present: (request) => request.form['client_assertion'] !== undefined || request.form['client_assertion_type'] !== undefined,
    async authenticate(request) {
      const assertion = readAssertion(request.form['client_assertion_type'], request.form['client_assertion']);
      const formClientId = request.form['client_id'];
      // Set by the key lookup: the client the assertion names, once it is known to exist.
      const found: { client?: ClientWithKeys } = {};
      try {
        await verifyAssertion(checks, {
          assertion,
          now: request.now,
          checkIssuer: (clientId) => {
            if (formClientId !== undefined && formClientId !== clientId) {
              throw new AssertionError('invalid', `iss and sub ("${clientId.slice(0, 80)}") differ from the client_id parameter ("${formClientId.slice(0, 80)}")`);
            }
          },
          // One statement whether or not the client exists, and no fitting key (an unknown
          // client or kid) still costs a signature check: the time tells nothing (RFC 9700 §4).
          keysFor: async (clientId, kid) => {
            const client = await deps.store.getClientWithKeys(clientId);
            if (!client) return [];
            found.client = client;
            const chosen = kid === undefined ? client.publicKeys : client.publicKeys.filter((record) => record.kid === kid);
            return chosen.map((record) => keys.keyOf(record)).filter((key) => key !== null);
          },
          consumeJti: (_clientId, jti, keepUntil) =>
            found.client ? deps.store.consumeAssertionJti(found.client.service.clientId, jti, keepUntil, request.now) : Promise.resolve(false),
        });
      } catch (error) {
        if (!(error instanceof AssertionError)) throw error;
        throw rejected(error.code === 'unsigned' ? NOT_PROVEN : error.message);
      }
      if (!found.client) throw rejected(NOT_PROVEN);
      return { service: found.client.service, method: 'private_key_jwt' };
    },
  };
}

function readAssertion(type: string | undefined, assertion: string | undefined): string {
  if (type === undefined) throw invalidRequest(`client_assertion was sent without client_assertion_type; send client_assertion_type=${JWT_BEARER_ASSERTION_TYPE}`);
  if (type !== JWT_BEARER_ASSERTION_TYPE) {
    throw invalidRequest(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE} (RFC 7523 §2.2), not "${type.slice(0, 80)}"`);
  }
  if (assertion === undefined || assertion === '') throw invalidRequest('client_assertion_type was sent without client_assertion; send the signed JWT as client_assertion');
  return assertion;
}
