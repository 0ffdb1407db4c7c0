// Who holds what: turns a parsed scope into the roles the caller actually holds right now.
// Role matching is exact (a set lookup, never prefix or suffix), and expired memberships are
// already excluded by the store. Failures follow Athenz: an unknown domain is 404, holding none
// of the requested roles is 403.

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
}

export class GrantDeniedError extends Error {
  readonly status: 403 | 404;
  constructor(status: 403 | 404, message: string) {
    super(message);
    this.status = status;
  }
}

export async function resolveGrant(
  principal: string,
  request: ScopeRequest,
  now: number,
  store: Pick<Store, 'rolesHeld' | 'getDomain'>,
): Promise<Grant> {
  const held = await store.rolesHeld(principal, request.domains.map((d) => d.domain), now);
  // domain → role → that role's lifetime limit (already the smaller of the role's and the domain's)
  const heldByDomain = new Map<string, Map<string, number | null>>();
  for (const { domain, role, maxLifetime } of held) {
    let roles = heldByDomain.get(domain);
    if (!roles) heldByDomain.set(domain, (roles = new Map()));
    roles.set(role, maxLifetime);
  }

  const granted: { domain: string; roles: string[]; items: string[] }[] = [];
  let maxLifetime: number | null = null;
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
    for (const role of roles) maxLifetime = smaller(maxLifetime, holds.get(role) ?? null);
  }

  if (granted.length === 0) {
    const where = request.domains.map((d) => d.domain).join(', ');
    throw new GrantDeniedError(403, `${principal} holds none of the requested roles in ${where}`);
  }
  const multi = granted.length > 1;
  const [only] = granted;
  return {
    audience: multi || !only ? granted.map((g) => g.domain) : only.domain,
    scp: multi ? granted.flatMap((g) => g.roles.map((r) => `${g.domain}:${r}`)) : (only?.roles ?? []),
    scope: granted.flatMap((g) => g.items).join(' '),
    maxLifetime,
  };
}

function smaller(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
