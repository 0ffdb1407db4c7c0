// private_key_jwt (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OpenID Connect Core §9): the client
// signs a short-lived JWT with a private key whose public half is registered on its service.
//
// The assertion itself is checked by the one RFC 7523 verifier (oauth2/assertions), which the
// CA's key-assertion proof shares; this module adds what belongs to the token endpoint: the form
// parameters, the client lookup, the registered keys chosen by `kid`, and one answer for an
// unknown client, an unknown kid and a bad signature alike, given in the same time.
//
// An assertion whose `iss` is an external issuer trusted for client assertions (config
// `oidcProofs`, `uses` naming `client-assertions`) is a federated one instead: a Kubernetes
// service-account token, a SPIFFE JWT-SVID, a CI provider's OIDC token, verified against that
// issuer's JWKS and mapped to a principal by its configuration (assertions/federated-assertion.ts).
// Issuers are URLs and client ids never are, so the `iss` alone decides; with no such issuer
// configured the assertion is not even decoded for it.

import { decodeJwt } from 'jose';
import { JWS_ALGORITHMS } from '../../policy/key-types.ts';
import { publicKeyCache } from '../../policy/public-keys.ts';
import type { Service } from '../../storage/records.ts';
import type { ClientWithKeys, Store } from '../../storage/store.ts';
import { IssuerKeysUnavailableError, KEYS_RETRY_AFTER, UnmappedSubjectError, type FederatedAssertions } from '../assertions/federated-assertion.ts';
import { AssertionError, verifyAssertion, type AssertionChecks } from '../assertions/verify-assertion.ts';
import { OAuthError, invalidRequest } from '../errors.ts';
import type { ClientAuthMethod } from './method.ts';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What discovery advertises as token_endpoint_auth_signing_alg_values_supported. */
export const PRIVATE_KEY_JWT_ALGORITHMS: readonly string[] = JWS_ALGORITHMS;

export interface PrivateKeyJwtDeps {
  store: Pick<Store, 'getClientWithKeys' | 'getService' | 'consumeAssertionJti'>;
  /** Values `aud` may hold: the token endpoint URLs and the issuer. The first is named in errors. */
  audiences: readonly string[];
  /** Seconds of clock difference tolerated on exp, nbf and iat. */
  clockSkew: number;
  /** External issuers trusted for client assertions; absent or trusting none: registered keys only. */
  federated?: FederatedAssertions;
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
  const federated = deps.federated;
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
      if (federated !== undefined) {
        const issuer = issuerOf(assertion);
        if (federated.trusts(issuer)) {
          return { service: await authenticateFederated(federated, deps.store, assertion, formClientId, request.now), method: 'private_key_jwt' };
        }
        // A URL is never a client id: this is a token of an issuer not trusted for client
        // authentication (unknown, or trusted for certificates only; one answer for both).
        if (issuer.includes('://')) throw rejected(untrustedIssuer(issuer));
      }
      // Set by the key lookup: the client the assertion names, once it is known to exist.
      const found: { client?: ClientWithKeys } = {};
      try {
        await verifyAssertion(checks, {
          assertion,
          now: request.now,
          checkIssuer: (clientId) => {
            if (formClientId !== undefined && formClientId !== clientId) {
              throw new AssertionError(
                'invalid',
                `iss and sub ("${clientId.slice(0, 80)}") differ from the client_id parameter ("${formClientId.slice(0, 80)}")`,
              );
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

/** The assertion's iss, or '' when it has none to read (the registered-key path then says what is wrong). */
function issuerOf(assertion: string): string {
  try {
    const { iss } = decodeJwt(assertion);
    return typeof iss === 'string' ? iss : '';
  } catch {
    return '';
  }
}

/**
 * One answer for a subject the issuer's mapping does not cover and one that maps to a principal
 * with no service, so the endpoint does not reveal which services exist.
 */
const NOT_A_CLIENT = "check the issuer's principals or pattern in oidcProofs, and that the service is registered";

function untrustedIssuer(issuer: string): string {
  return (
    `its issuer "${issuer.slice(0, 200)}" is not trusted for client authentication; ` +
    'an operator must list it in oidcProofs with "client-assertions" in its uses'
  );
}

async function authenticateFederated(
  federated: FederatedAssertions,
  store: Pick<Store, 'getService'>,
  assertion: string,
  formClientId: string | undefined,
  now: number,
): Promise<Service> {
  try {
    const verified = await federated.verify(assertion, now);
    const { principal } = verified;
    const service = await store.getService(principal);
    // client_id, when sent, must name the client the assertion maps to (RFC 7521 §4.2): its
    // client_id or its principal. The message is the same whether or not the service exists.
    if (formClientId !== undefined && formClientId !== principal && formClientId !== service?.clientId) {
      throw new AssertionError(
        'invalid',
        `the client_id parameter ("${formClientId.slice(0, 80)}") is not the client the assertion maps to (${principal}); send that client_id, or none`,
      );
    }
    if (service === null) {
      const named = `${verified.claim} "${verified.subject.slice(0, 200)}" of issuer ${verified.issuer}`;
      throw new AssertionError('invalid', `${named} is not mapped to a client of this server; ${NOT_A_CLIENT}`);
    }
    await verified.spend();
    return service;
  } catch (error) {
    if (error instanceof IssuerKeysUnavailableError) {
      throw new OAuthError(503, 'temporarily_unavailable', `${error.message}; this is not the client's fault, retry shortly`, {
        headers: { 'retry-after': String(KEYS_RETRY_AFTER) },
      });
    }
    if (error instanceof UnmappedSubjectError) throw rejected(`${error.message}; ${NOT_A_CLIENT}`);
    if (error instanceof AssertionError) throw rejected(error.message);
    throw error;
  }
}

function readAssertion(type: string | undefined, assertion: string | undefined): string {
  if (type === undefined)
    throw invalidRequest(`client_assertion was sent without client_assertion_type; send client_assertion_type=${JWT_BEARER_ASSERTION_TYPE}`);
  if (type !== JWT_BEARER_ASSERTION_TYPE) {
    throw invalidRequest(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE} (RFC 7523 §2.2), not "${type.slice(0, 80)}"`);
  }
  if (assertion === undefined || assertion === '')
    throw invalidRequest('client_assertion_type was sent without client_assertion; send the signed JWT as client_assertion');
  return assertion;
}
