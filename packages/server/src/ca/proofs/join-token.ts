// Proof `join-token` (docs/certificates.md, Join token; Athenz "Copper Argos" / SPIRE `join_token`): a one-time
// token an administrator made for one principal (POST /admin/v1/join-tokens). The store consumes
// it atomically, so it works once across every instance sharing the database, and the first
// presentation spends it even if the request is refused afterwards: a token that has been shown
// to the server is never good again.
//
// The CSR's key is whatever key the new instance made: the token vouches for the principal, and
// the certificate binds that principal to the key of the request that spent it.

import type { SecretHasher } from '../../keys/client-secrets.ts';
import { parseJoinToken } from '../../keys/join-tokens.ts';
import type { Store } from '../../storage/store.ts';
import { notProven, requireActiveService, type CertificateProof } from './proof.ts';

export interface JoinTokenDeps {
  store: Pick<Store, 'getService' | 'consumeJoinToken'>;
  hasher: SecretHasher;
}

export function joinTokenProof(deps: JoinTokenDeps): CertificateProof {
  return {
    type: 'join-token',
    async prove({ value, now, clientIp }) {
      const parsed = value === undefined ? null : parseJoinToken(value);
      if (value === undefined || parsed === null) {
        throw notProven('proof.value is not a join token (tsj_<16 hex>_<43 base64url>, as POST /admin/v1/join-tokens returns it)');
      }
      // Unknown, wrong, used and expired look the same to the store, and need the same fix.
      const consumed = await deps.store.consumeJoinToken(parsed.id, deps.hasher.hash(value), now);
      if (consumed === null) throw notProven('the join token is unknown, already used or expired; ask an administrator for a new one');
      await requireActiveService(deps.store, consumed.principal, { clientIp, now });
      return { principal: consumed.principal };
    },
  };
}
