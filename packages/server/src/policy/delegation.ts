// Who may act for whom (docs/tokens.md, Token exchange): RFC 8693 delegation and
// impersonation, and Athenz's proxy_for_principal. The one home of the rules; the grants
// (oauth2/grants/token_exchange.ts, client_credentials.ts) and token acceptance
// (oauth2/accept-token.ts) ask here.
//
// - A role lists the principals that may act for its members (`actors`) and those that may
//   impersonate them (`impersonators`). Nobody may do either by default.
// - A delegated token names its actors in the RFC 8693 §4.1 `act` claim, the current actor
//   outermost and each prior actor nested inside the one after it:
//   {"sub": "d.api", "act": {"sub": "c.api", "act": {"sub": "b.api"}}}.
// - It carries a role only when the role lists every actor of its chain: each hop had to be
//   allowed, so a chain shows only the roles every hop allowed.
// - An impersonation token has no `act` (its `client_id` alone names the impersonator); it is
//   made only from a token that has none either, so it never hides a chain.
// - A member's ID token is a subject token only for a role that says so (`idTokenSubjects`, off by
//   default), besides listing the actor in `actors`: an ID token proves its subject's identity to
//   its audience, which is a weaker thing than the subject's sending it a token for its roles.

import type { HeldRole } from '../storage/records.ts';

/** The most principals a role's actors or impersonators name. */
export const MAX_ROLE_ACTORS = 100;

/** The default of `tokenExchange.maxDepth`: actors in a delegated token's chain, at most. */
export const DEFAULT_MAX_DELEGATION_DEPTH = 4;

/** The deepest `tokenExchange.maxDepth` the configuration accepts. */
export const MAX_CONFIGURABLE_DEPTH = 16;

/** A chain deeper than this is never read (a token that claims one is malformed): well above any configurable depth. */
export const MAX_READABLE_DEPTH = 32;

/** RFC 8693 §4.1. */
export interface ActClaim {
  sub: string;
  act?: ActClaim;
}

/** The act claim for `actors`, current actor first; undefined for none. */
export function actClaim(actors: readonly string[]): ActClaim | undefined {
  let claim: ActClaim | undefined;
  for (let i = actors.length - 1; i >= 0; i--) claim = claim === undefined ? { sub: actors[i]! } : { sub: actors[i]!, act: claim };
  return claim;
}

/**
 * The actors an `act` claim names, current actor first: [] when there is none, null when it is
 * not one Tessera writes (not an object with a string `sub`, or nested too deep).
 */
export function actorsOf(act: unknown): string[] | null {
  const actors: string[] = [];
  let at = act;
  while (at !== undefined) {
    if (typeof at !== 'object' || at === null || Array.isArray(at)) return null;
    const { sub, act: inner } = at as { sub?: unknown; act?: unknown };
    if (typeof sub !== 'string' || sub === '' || actors.length >= MAX_READABLE_DEPTH) return null;
    actors.push(sub);
    at = inner;
  }
  return actors;
}

/** How a token stands for its subject when another principal holds it. */
export type ActingMode = 'delegation' | 'impersonation';

/** Whether `held` (a role the subject holds) may be carried by a token `actors` hold for it, in `mode`. */
export function roleAllows(held: HeldRole, actors: readonly string[], mode: ActingMode): boolean {
  const delegation = held.delegation;
  if (delegation === undefined || actors.length === 0) return false;
  if (mode === 'impersonation') return actors.length === 1 && delegation.impersonators.includes(actors[0]!);
  return actors.every((actor) => delegation.actors.includes(actor));
}

/** Whether `held` may be carried by a token exchanged from its member's ID token (besides roleAllows: the actor is listed). */
export function allowsIdTokenSubjects(held: HeldRole): boolean {
  return held.delegation?.idTokenSubjects === true;
}

/**
 * Who holds a token of Tessera's and how, from its claims: `actors` are the act chain (current
 * first); `mode` null for a token its subject holds itself. Null when the claims contradict each
 * other (an act chain whose current actor is not the client, or a client without one that is not
 * the subject and has no chain: then it is an impersonation).
 */
export function holderOf(claims: { sub: string; client_id: string; act?: unknown }): { actors: string[]; mode: ActingMode | null } | null {
  const actors = actorsOf(claims.act);
  if (actors === null) return null;
  if (actors.length > 0) return actors[0] === claims.client_id ? { actors, mode: 'delegation' } : null;
  if (claims.client_id === claims.sub) return { actors: [], mode: null };
  return { actors: [claims.client_id], mode: 'impersonation' };
}

/** RFC 8693 §4.4 `may_act`: undefined when absent; the principal it allows, or null when it is malformed. */
export function mayActOf(mayAct: unknown): string | null | undefined {
  if (mayAct === undefined) return undefined;
  if (typeof mayAct !== 'object' || mayAct === null) return null;
  const sub = (mayAct as { sub?: unknown }).sub;
  return typeof sub === 'string' && sub !== '' ? sub : null;
}

/** The jtis a token was exchanged from (`exchanged_from`, nearest first): [] when none, null when malformed. */
export function exchangedFromOf(value: unknown): string[] | null {
  return stringsOf(value);
}

/** The certificate thumbprints of the tokens a token was exchanged from (`exchanged_cnf`): [] when none, null when malformed. */
export function exchangedCnfOf(value: unknown): string[] | null {
  return stringsOf(value);
}

/** A list of at most MAX_READABLE_DEPTH non-empty strings, [] when absent, null when anything else. */
function stringsOf(value: unknown): string[] | null {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_READABLE_DEPTH) return null;
  return value.every((item) => typeof item === 'string' && item !== '') ? (value as string[]) : null;
}

/**
 * The roles an access token of Tessera's carries, as `<domain>:<role>`: its `scp` names them bare
 * when `aud` is one domain, `<d>:<r>` when it is several (docs/tokens.md). Empty when malformed.
 */
export function rolesCarried(claims: { aud?: unknown; scp?: unknown }): string[] {
  const { aud, scp } = claims;
  if (!Array.isArray(scp) || !scp.every((role) => typeof role === 'string')) return [];
  if (typeof aud === 'string') return scp.map((role: string) => `${aud}:${role}`);
  if (Array.isArray(aud) && aud.length === 1 && typeof aud[0] === 'string') return scp.map((role: string) => `${aud[0]}:${role}`);
  return Array.isArray(aud) ? scp.filter((role: string) => aud.includes(role.slice(0, role.lastIndexOf(':')))) : [];
}
