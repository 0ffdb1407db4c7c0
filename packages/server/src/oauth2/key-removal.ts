// Removing a registered key ends every token of the service issued up to and including the
// removal's second (and the REACH_SECONDS after it): bound or not, whatever the client authenticated with (a secret,
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
// within seconds. Removing a key is rare and deliberate; a token that outlives a compromised key is
// worse than one a client must renew. Resource servers that verify tokens offline learn only at
// `exp`, as for every revocation; those that introspect learn at once.
//
// How. The store dates the removal (`keyRemovedAt`, set in the deletePublicKey/putPublicKey
// transaction and again just after its commit; read with the service, which acceptance reads
// anyway: no further query), and acceptance (accept-token.ts) refuses a token whose `iat` is at
// or before the removal's second, or up to REACH_SECONDS after it (below).
// `iat` counts whole seconds, so a token of the removal's own second may come before it or after
// it: it is refused, and the token endpoint issues none until the reach has passed (503 with
// Retry-After), rather than hand out a token dead on arrival or stamp it with a later second
// (which made a token asked for between two removals in one second outlive the second). A token
// request that read the key before the removal committed began before the commit, so before the
// date set after it: its second is at or before the removal's, which ends it.
//
// Why a reach. The token endpoint reads keys from the registry cache (storage/registry-cache.ts):
// the instance the removal went through sees it at once, another one only within the cache's
// propagation bound (milliseconds on PostgreSQL with LISTEN, up to 250 ms on SQLite shared by
// processes, about 1.25 s on PostgreSQL without notifications). A stale instance could issue a
// token with the removed key in that window, in a later second than the removal; and instances'
// clocks differ. So the removal also ends the tokens of the REACH_SECONDS after its second, which
// covers the bound and a second of clock difference, and no instance that knows of the removal
// issues a token in them: the service's clients wait about three seconds for their next token.

import type { Service } from '../storage/records.ts';
import { OAuthError } from './errors.ts';

type KeyHistory = Pick<Service, 'principal' | 'keyRemovedAt'>;

/** Seconds after a removal's second whose tokens the removal ends too (see above). */
export const REACH_SECONDS = 2;

/** The last second (as `iat` counts) whose tokens the service's last key removal ends, or null when it never lost one. */
function lastEndedSecond(service: KeyHistory): number | null {
  return service.keyRemovedAt === null ? null : Math.floor(service.keyRemovedAt / 1000) + REACH_SECONDS;
}

/** Why a token of the service issued at `iat` (seconds) was ended by a key removal, or null. */
export function endedByKeyRemoval(service: KeyHistory, iat: number): string | null {
  const last = lastEndedSecond(service);
  if (last === null || iat > last) return null;
  return (
    `a public key registered on ${service.principal} was removed or replaced ` +
    `at ${new Date(service.keyRemovedAt!).toISOString()}, ` +
    'which ends every token the service was issued until then (and in the seconds after it); get a new token'
  );
}

/**
 * Refuses to issue a token the service's last key removal would end at once: 503
 * temporarily_unavailable with Retry-After (the seconds left), which the SDK's token client obeys.
 */
export function refuseIssuanceWithinRemovalReach(service: KeyHistory, now: number): void {
  const last = lastEndedSecond(service);
  const second = Math.floor(now / 1000);
  if (last === null || second > last) return;
  const wait = last + 1 - second;
  throw new OAuthError(
    503,
    'temporarily_unavailable',
    `a public key registered on ${service.principal} was just removed or replaced, which ends the tokens ` +
      `of the next seconds; retry in ${wait} second${wait === 1 ? '' : 's'}`,
    { headers: { 'retry-after': String(wait) } },
  );
}
