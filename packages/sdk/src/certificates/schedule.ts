// When the refresher acts, computed in one place: renewal at about two thirds of a certificate's
// lifetime (SPIRE renews at half, step-ca's `renew --daemon` at two thirds), spread by jitter so
// a fleet started together does not renew together; retries that back off but speed up again as
// the end comes near; and the point after which a failing renewal is worth a louder event.

/** Renewal point and jitter, both shares of the lifetime; checked by the options. */
export interface RenewalPolicy {
  renewAt: number;
  jitter: number;
}

export const DEFAULT_POLICY: RenewalPolicy = { renewAt: 2 / 3, jitter: 0.1 };

/** `random` in [0, 1): the renewal point moves by up to `jitter` of itself, either way. */
export function renewalTime(notBefore: number, notAfter: number, policy: RenewalPolicy, random: number): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  const share = policy.renewAt * (1 + policy.jitter * (2 * random - 1));
  return notBefore + Math.round(lifetime * share);
}

/**
 * The least time between a certificate arriving and its renewal. A certificate already past its
 * renewal point when it arrives (the CA capped it at its own expiry, or the clocks disagree)
 * would otherwise be renewed again at once, in a loop against the CA.
 */
export const MIN_RENEWAL_GAP_MS = 60_000;

/** {@link renewalTime} for a certificate that has just been issued, at `now`. */
export function nextRenewal(notBefore: number, notAfter: number, now: number, policy: RenewalPolicy, random: number): number {
  const floor = now + Math.min(MIN_RENEWAL_GAP_MS, Math.max(0, notAfter - now) / 2);
  return Math.max(renewalTime(notBefore, notAfter, policy, random), Math.round(floor));
}

export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 5 * 60_000;

/**
 * The wait after failed attempt number `attempt` (1 for the first): doubling from 1 s up to
 * 5 min, spread by ±20 % so failing clients do not retry in step, never shorter than the CA's
 * Retry-After, and at most half of what is left of the certificate, so attempts get denser, not
 * sparser, as its end nears.
 */
export function retryDelay(attempt: number, random: number, remainingMs: number, retryAfterMs = 0): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  const backoff = Math.max(Math.round(base * (0.8 + 0.4 * random)), retryAfterMs);
  // The cap never goes below a second: attempts stay apart even in the last moments.
  return remainingMs > 0 ? Math.min(backoff, Math.max(FIRST_RETRY_MS, Math.floor(remainingMs / 2))) : backoff;
}

/**
 * `expiring` fires once renewal has failed past this share of the lifetime: half of the margin
 * the renewal point keeps is gone, and someone should look before the rest is.
 */
export const EXPIRING_SHARE = 5 / 6;

export function expiringFrom(notBefore: number, notAfter: number): number {
  return notBefore + Math.round((notAfter - notBefore) * EXPIRING_SHARE);
}

/**
 * Waits are cut into pieces of at most this long and the clock is read after each: a timer does
 * not run while the machine sleeps, so one long timer would renew late after a suspend. (It also
 * stays below setTimeout's limit of 2^31 - 1 ms.)
 */
export const MAX_TIMER_MS = 60 * 60_000;
