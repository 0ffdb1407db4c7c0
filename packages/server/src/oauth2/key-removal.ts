// Removing a registered key ends the tokens bound to the certificates it vouched for.
//
// A self-signed certificate (self_signed_tls_client_auth, RFC 8705 §2.2) is trusted for one
// reason: its public key is registered on the service. Deleting the key (the answer to a stolen
// one) or replacing it (PUT of the same kid with another PEM) takes that reason away, so the
// tokens bound to such a certificate (`cnf.x5t#S256`) must end with it, at the admin API and at
// introspection alike (accept-token.ts), as revoking a certificate Tessera issued ends its tokens.
//
// How the link is made. Tessera keeps no record of a self-signed certificate (a client may make
// any number from one key), and introspection sees only the token, never the certificate: the
// thumbprint cannot be traced back to a key there. So the service records when it last lost a
// key (`keyRemovedAt`, set in the store's deletePublicKey/putPublicKey transaction and read with
// the service, which acceptance reads anyway: no further query), and a bound token whose
// certificate Tessera has no record of, issued until that moment, is refused. Checking the
// request's certificate against the registered keys would cover the admin API only, and a new
// token claim naming the key would change the token format resource servers read.
//
// What that costs, decided deliberately:
// - it ends every such token of the service, not only those of the removed key: the holder of
//   a key still registered asks again and gets a new token at once. Tokens bound to
//   certificates from a configured external CA (tls_client_auth, certificate login) are among
//   them, since a thumbprint does not tell them apart; Tessera-issued certificates have their
//   own record and revocation and are not touched. Removing a key is rare and deliberate, and
//   a token that outlives a compromised key is worse than one the client must renew.
// - `iat` counts whole seconds, so a token of the removal's own second may come before it or
//   after it: it is refused. The token endpoint never issues such a token: a bound token asked
//   for within that second is stamped with the next one (`boundTokenIssuedAt`), a fraction of
//   a second ahead, well inside any verifier's clock skew. Without that, a client could be
//   handed a token that is dead on arrival, and token reuse would hand it out again.

import type { Service } from '../storage/records.ts';

type KeyHistory = Pick<Service, 'keyRemovedAt'>;

/**
 * Why a token bound to a certificate Tessera has no record of was ended by a key removal
 * (iat in seconds), or null when it was issued after the service last lost a key.
 */
export function endedByKeyRemoval(service: KeyHistory & Pick<Service, 'principal'>, iat: number): string | null {
  const removedAt = service.keyRemovedAt;
  if (removedAt === null || iat * 1000 > removedAt) return null;
  return (
    `a public key registered on ${service.principal} was removed or replaced ` +
    `at ${new Date(removedAt).toISOString()}, ` +
    'after the token was issued: the certificate it is bound to may be one that key vouched for; get a new token'
  );
}

/** The `iat` (seconds) of a bound token asked for at `now`: past the second the service last lost a key. */
export function boundTokenIssuedAt(service: KeyHistory, now: number): number {
  const second = Math.floor(now / 1000);
  return service.keyRemovedAt === null ? second : Math.max(second, Math.floor(service.keyRemovedAt / 1000) + 1);
}
