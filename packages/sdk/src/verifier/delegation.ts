// Delegation (RFC 8693 §4.1): a token one service got for another carries the acting service in
// `act.sub`, and any earlier actor nested inside it (`act.act.sub`, …). The verifier reads the
// chain into `AuthContext.actors`, outermost (the service that called this one) first, and a
// route may require a delegated call, cap the chain's length, or name the only services allowed
// to act for a caller.

import { InvalidTokenError } from './errors.ts';

/** Which delegated calls a route accepts; every field given must hold. */
export interface DelegationPolicy {
  /** Refuse a direct call: the token must name at least one actor. */
  required?: boolean;
  /** At most this many actors in the chain; 0 refuses every delegated token. */
  maxDepth?: number;
  /** Every actor in the chain must be one of these principals. */
  allowedActors?: readonly string[];
}

/** Nesting deeper than this is refused as malformed rather than walked. */
const MAX_NESTING = 16;

/** The actors of a token's `act` claim, outermost first; null when the claim is malformed. */
export function delegationChain(act: unknown): readonly string[] | null {
  const actors: string[] = [];
  let current = act;
  while (current !== undefined) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return null;
    const { sub } = current as { sub?: unknown };
    if (typeof sub !== 'string' || sub === '' || actors.length >= MAX_NESTING) return null;
    actors.push(sub);
    current = (current as { act?: unknown }).act;
  }
  return Object.freeze(actors);
}

/** Checks the policy's shape once; throws a TypeError saying what to fix. */
export function checkDelegationPolicy(policy: DelegationPolicy): void {
  if (policy === null || typeof policy !== 'object') throw new TypeError('delegation must be { required?, maxDepth?, allowedActors? }');
  if (policy.required !== undefined && typeof policy.required !== 'boolean') throw new TypeError('delegation.required must be true or false');
  if (policy.maxDepth !== undefined && !(Number.isSafeInteger(policy.maxDepth) && policy.maxDepth >= 0)) {
    throw new TypeError('delegation.maxDepth must be a whole number ≥ 0');
  }
  if (policy.allowedActors !== undefined && (!Array.isArray(policy.allowedActors) || !policy.allowedActors.every((a) => typeof a === 'string' && a !== ''))) {
    throw new TypeError('delegation.allowedActors must be an array of principal names');
  }
}

/** Throws InvalidTokenError (reason `delegation`) when `actors` does not satisfy `policy`. */
export function checkDelegation(actors: readonly string[], policy: DelegationPolicy | undefined): void {
  if (policy === undefined) return;
  checkDelegationPolicy(policy);
  if (policy.required && actors.length === 0) {
    throw new InvalidTokenError(
      'delegation',
      'the token was issued to the caller itself, but this route accepts only calls made on someone\'s behalf (an "act" claim)',
    );
  }
  if (policy.maxDepth !== undefined && actors.length > policy.maxDepth) {
    const what = policy.maxDepth === 0 ? 'accepts no delegated token' : `accepts at most ${policy.maxDepth} actor(s)`;
    throw new InvalidTokenError('delegation', `the token was passed through ${actors.length} actor(s) (${actors.join(' < ')}), and this route ${what}`);
  }
  if (policy.allowedActors !== undefined) {
    const stranger = actors.find((actor) => !policy.allowedActors!.includes(actor));
    if (stranger !== undefined) {
      throw new InvalidTokenError('delegation', `the token was obtained through ${JSON.stringify(stranger)}, which may not act for callers of this route`);
    }
  }
}
