// Who holds what: turns a parsed scope into the roles the caller actually holds right now.
// Role matching is exact (a set lookup, never prefix or suffix), and expired memberships are
// already excluded by the store. Failures follow Athenz: an unknown domain is 404, holding none
// of the requested roles is 403.
//
// A token must not outlive the memberships behind it, so the grant also says when the first of
// them ends. Token times are whole seconds: a membership that ends before the next whole second
// could only be honoured by a token that has already expired, so it grants nothing.

import type { HeldRole } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import type { ScopeRequest } from './scope.ts';

export interface Grant {
  /** The domain, or every domain when the token covers several. */
  audience: string | string[];
  /** Role names: bare for one domain, `<d>:<r>` for several. */
  scp: string[];
  /** Granted scope items, space-separated, in the form the caller asked for. */
  scope: string;
  /** The smallest token lifetime limit (seconds) of the granted roles and their domains; null when none is set. */
  maxLifetime: number | null;
  /** When the first membership behind a granted role ends (ms since the epoch); null when none ends. */
  expiresAt: number | null;
}

export class GrantDeniedError extends Error {
  readonly status: 403 | 404;
  constructor(status: 403 | 404, message: string) {
    super(message);
    this.status = status;
  }
}

/** Narrows a grant to the held roles `allows` keeps (policy/delegation.ts); `refusal` says why when it keeps none the caller holds. */
export interface GrantFilter {
  allows(held: HeldRole): boolean;
  refusal: string;
}

export async function resolveGrant(
  principal: string,
  request: ScopeRequest,
  now: number,
  store: Pick<Store, 'rolesHeld' | 'getDomain'>,
  filter?: GrantFilter,
): Promise<Grant> {
  const all = await store.rolesHeld(
    principal,
    request.domains.map((d) => d.domain),
    lastMillisecondOfSecond(now),
  );
  const held = filter ? all.filter((role) => filter.allows(role)) : all;
  // domain → role → the held role (its lifetime limit is already the smaller of the role's and the domain's)
  const heldByDomain = new Map<string, Map<string, HeldRole>>();
  for (const role of held) {
    let roles = heldByDomain.get(role.domain);
    if (!roles) heldByDomain.set(role.domain, (roles = new Map()));
    roles.set(role.role, role);
  }

  const granted: { domain: string; roles: string[]; items: string[] }[] = [];
  let maxLifetime: number | null = null;
  let expiresAt: number | null = null;
  for (const asked of request.domains) {
    const holds = heldByDomain.get(asked.domain);
    if (!holds) {
      // Existence is checked only on this (failure) path, so the common case costs one query.
      if (!(await store.getDomain(asked.domain))) {
        throw new GrantDeniedError(404, `domain "${asked.domain}" does not exist`);
      }
      continue;
    }
    const roles = (asked.all ? [...holds.keys()] : [...asked.roles.keys()].filter((r) => holds.has(r))).sort();
    if (roles.length === 0) continue;
    const items = roles.map((role) => (asked.roles.get(role) === 'short' ? `${asked.domain}:${role}` : `${asked.domain}:role.${role}`));
    granted.push({ domain: asked.domain, roles, items });
    // Only roles that end up in the token limit its lifetime; a held but unrequested role does not.
    for (const role of roles) {
      maxLifetime = smaller(maxLifetime, holds.get(role)?.maxLifetime ?? null);
      expiresAt = smaller(expiresAt, holds.get(role)?.expiresAt ?? null);
    }
  }

  if (granted.length === 0) {
    const where = request.domains.map((d) => d.domain).join(', ');
    // Whether the filter left out a requested role the caller holds: then it, not the holding, refused.
    const asked = (role: HeldRole): boolean => request.domains.some((d) => d.domain === role.domain && (d.all || d.roles.has(role.role)));
    if (filter && all.some(asked)) throw new GrantDeniedError(403, filter.refusal);
    throw new GrantDeniedError(403, `${principal} holds none of the requested roles in ${where}`);
  }
  const multi = granted.length > 1;
  const [only] = granted;
  return {
    audience: multi || !only ? granted.map((g) => g.domain) : only.domain,
    scp: multi ? granted.flatMap((g) => g.roles.map((r) => `${g.domain}:${r}`)) : (only?.roles ?? []),
    scope: granted.flatMap((g) => g.items).join(' '),
    maxLifetime,
    expiresAt,
  };
}

/** Memberships still held at the end of `now`'s whole second are the ones a token issued now can honour. */
function lastMillisecondOfSecond(now: number): number {
  return Math.floor(now / 1000) * 1000 + 999;
}

function smaller(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
