// Proof `key-assertion` (docs/certificates.md, Key assertion; Athenz's `zts-svccert` flow): the CSR's public key is a
// key registered on the service, and the request carries a JWT signed by that very key. Holding
// the private key of a registered key is what proves the principal; the CSR then certifies that
// same key, never another one.
//
// The assertion is an RFC 7523 assertion checked by the same verifier as private_key_jwt
// (oauth2/assertions), with this endpoint as audience: iss = sub = the principal, aud =
// `<issuer>/ca/v1/certificates`, exp at most 5 minutes out, iat not in the future, and a jti that
// is accepted once (shared with private_key_jwt's replay store, so it holds across instances).
//
// The certificate records which registered key proved it: removing or replacing that key
// revokes it and its renewals, as a stolen key must not leave behind the certificates it got.

import { AssertionError, verifyAssertion, type AssertionChecks } from '../../oauth2/assertions/verify-assertion.ts';
import { isPrincipalName } from '../../policy/names.ts';
import { publicKeyCache } from '../../policy/public-keys.ts';
import type { ProvingKey } from '../../storage/records.ts';
import type { Store } from '../../storage/store.ts';
import { forbidden, notProven, requireActiveService, type CertificateProof } from './proof.ts';

export interface KeyAssertionDeps {
  store: Pick<Store, 'getService' | 'listPublicKeys' | 'consumeAssertionJti'>;
  /** The `aud` the assertion must carry: `<issuer>/ca/v1/certificates`. */
  audience: string;
  /** Seconds of clock difference tolerated on exp, nbf and iat. */
  clockSkew: number;
}

export function keyAssertionProof(deps: KeyAssertionDeps): CertificateProof {
  const keys = publicKeyCache();
  const checks: AssertionChecks = {
    audiences: [deps.audience],
    clockSkew: deps.clockSkew,
    words: { caller: 'the principal, e.g. "alpha.api"', endpoint: 'this certificates endpoint', key: "the CSR's key" },
  };
  return {
    type: 'key-assertion',
    async prove({ value, csrPublicKey, now, clientIp }) {
      if (value === undefined || value === '') throw notProven("proof.value must be a JWT signed by the CSR's key (a registered key of the service)");
      let principal: string;
      let provedBy: ProvingKey | undefined;
      try {
        ({ issuer: principal } = await verifyAssertion(checks, {
          assertion: value,
          now,
          checkIssuer: (issuer) => {
            if (!isPrincipalName(issuer)) {
              throw new AssertionError('invalid', `its iss "${issuer.slice(0, 80)}" is not a principal name ("<domain>.<service>")`);
            }
          },
          // The CSR's key is the only one that may have signed, and it must be registered. One
          // answer for an unknown service and an unregistered key, in the same time (one
          // statement, keys parsed once): the endpoint does not say which services exist.
          keysFor: async (issuer) => {
            const registered = await deps.store.listPublicKeys(issuer);
            const match = registered.find((record) => keys.keyOf(record)?.equals(csrPublicKey) === true);
            if (match === undefined) {
              throw forbidden(
                `the CSR's public key is not a key registered on ${issuer}; make the CSR with a registered key, ` +
                  'or register its public key first (PUT /admin/v1/domains/{d}/services/{s}/keys/{kid})',
              );
            }
            // Recorded on the certificate: removing this key revokes it (storage/sql/credentials.ts).
            provedBy = { kid: match.kid, pem: match.pem };
            return [csrPublicKey];
          },
          consumeJti: (issuer, jti, keepUntil) => deps.store.consumeAssertionJti(issuer, jti, keepUntil, now),
        }));
      } catch (error) {
        if (error instanceof AssertionError) throw notProven(`the key assertion was rejected: ${error.message}`, { cause: error });
        throw error;
      }
      await requireActiveService(deps.store, principal, { clientIp, now });
      return { principal, provedBy };
    },
  };
}
