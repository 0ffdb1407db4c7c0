// Removing a registered key ends every token of the service issued up to and including the
// removal's second: bound or not, whatever the client authenticated with (a secret,
// private_key_jwt, a certificate of any kind).
//
// Why so wide. A key is deleted (or replaced: PUT of its kid with another PEM) because it can no
// longer be trusted, and whoever held it may hold any token the service was issued: tokens it
// got with private_key_jwt signed by that key, tokens bound to self-signed certificates of it,
// tokens asked for with a certificate the key got from the CA (ca/proofs/key-assertion.ts; those
// certificates are revoked with the key, storage/sql/credentials.ts). Neither a token nor
// introspection tells which key stood behind a token: an unbound token names no key, a thumbprint
// does not say whether its certificate is self-signed, and a new claim would change the token
// format resource servers read. So the rule is per service, with no exception that an attacker
// could slip a token through: the service's every client simply asks again, and gets a new token
// at once. Removing a key is rare and deliberate; a token that outlives a compromised key is
// worse than one a client must renew. Resource servers that verify tokens offline learn only at
// `exp`, as for every revocation; those that introspect learn at once.
//
// How. The store dates the removal (`keyRemovedAt`, set in the deletePublicKey/putPublicKey
// transaction and again just after its commit; read with the service, which acceptance reads
// anyway: no further query), and acceptance (accept-token.ts) refuses a token whose `iat` is at
// or before the removal's second.
// `iat` counts whole seconds, so a token of the removal's own second may come before it or after
// it: it is refused, and the token endpoint issues none in that second (503 with Retry-After: 1),
// rather than hand out a token dead on arrival or stamp it with a later second (which made a
// token asked for between two removals in one second outlive the second). A token request that
// read the key before the removal committed began before the commit, so before the date set
// after it: its second is at or before the removal's, which ends it. (Across instances the
// comparison is only as good as their clocks agree.) The token endpoint reads keys from the
// registry cache (storage/registry-cache.ts): the instance the removal went through sees it at
// once, but another one only within the cache's propagation bound (milliseconds on PostgreSQL
// with LISTEN, up to 250 ms on SQLite shared by processes, about 1 s on PostgreSQL without
// notifications): a token it issues with the removed key in that window, in a later second than
// the removal, is not ended by it. The window is of the order of the clock difference above.

import type { Service } from '../storage/records.ts';
import { OAuthError } from './errors.ts';

type KeyHistory = Pick<Service, 'principal' | 'keyRemovedAt'>;

/** The second (as `iat` counts) of the service's last key removal, or null when it never lost one. */
function removalSecond(service: KeyHistory): number | null {
  return service.keyRemovedAt === null ? null : Math.floor(service.keyRemovedAt / 1000);
}

/** Why a token of the service issued at `iat` (seconds) was ended by a key removal, or null. */
export function endedByKeyRemoval(service: KeyHistory, iat: number): string | null {
  const removed = removalSecond(service);
  if (removed === null || iat > removed) return null;
  return (
    `a public key registered on ${service.principal} was removed or replaced ` +
    `at ${new Date(service.keyRemovedAt!).toISOString()}, ` +
    'which ends every token the service was issued until then; get a new token'
  );
}

/**
 * Refuses to issue a token in the second the service lost a key, which would end it at once:
 * 503 temporarily_unavailable with Retry-After: 1, which the SDK's token client obeys.
 */
export function refuseIssuanceInRemovalSecond(service: KeyHistory, now: number): void {
  const removed = removalSecond(service);
  if (removed === null || Math.floor(now / 1000) > removed) return;
  throw new OAuthError(
    503,
    'temporarily_unavailable',
    `a public key registered on ${service.principal} was just removed or replaced, which ends the tokens ` +
      'of this second; retry in a second',
    { headers: { 'retry-after': '1' } },
  );
}
