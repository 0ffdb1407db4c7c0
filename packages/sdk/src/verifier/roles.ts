// What a token grants, as domain → roles, read from both claims Tessera issues (docs/tokens.md, Access token):
//   scp    bare role names when the token covers one domain (the domain is `aud`), `<d>:<r>`
//          when it covers several;
//   scope  space-separated items `<d>:role.<r>` or `<d>:<r>`.
// Only roles of domains the token's `aud` names count: a token for `beta` carrying a
// `gamma:…` item is not a grant in `gamma`. Matching is exact, never by prefix or suffix.

import { InsufficientScopeError } from './errors.ts';

export type Roles = Readonly<Record<string, readonly string[]>>;

/** What a route requires of the caller. */
export interface Requirement {
  /** Scope items the caller must hold, every one: `<d>:role.<r>` or the short `<d>:<r>`. */
  scope?: readonly string[];
  /** Roles of one domain; holding any one is enough unless `match` is `'all'`. */
  roles?: { domain: string; roles: readonly string[]; match?: 'any' | 'all' };
}

export interface CompiledRequirement {
  /** Throws InsufficientScopeError when `roles` does not satisfy the requirement. */
  check(roles: Roles): void;
}

const NOTHING_REQUIRED: CompiledRequirement = { check() {} };
const ROLE_PART = /^[a-z0-9_][a-z0-9_-]*(?:\.[a-z0-9_][a-z0-9_-]*)*$/;

/** Checks a requirement once (a typo is a startup error, not a 403 at run time) and prepares it. */
export function compileRequirement(requirement: Requirement | undefined): CompiledRequirement {
  if (requirement === undefined) return NOTHING_REQUIRED;
  if (typeof requirement !== 'object' || requirement === null) throw new TypeError('a requirement is { scope: [...] } or { roles: { domain, roles } }');
  const all: { domain: string; role: string; item: string }[] = [];
  for (const item of requirement.scope ?? []) {
    const parsed = typeof item === 'string' ? parseScopeItem(item) : null;
    if (!parsed) throw new TypeError(`required scope ${JSON.stringify(item)} is not "<domain>:role.<role>" or "<domain>:<role>"`);
    all.push({ ...parsed, item });
  }
  const any: { domain: string; role: string; item: string }[] = [];
  if (requirement.roles !== undefined) {
    const { domain, roles, match = 'any' } = requirement.roles;
    if (typeof domain !== 'string' || !ROLE_PART.test(domain)) throw new TypeError(`required roles need a domain name; got ${JSON.stringify(domain)}`);
    if (!Array.isArray(roles) || roles.length === 0 || roles.some((r) => typeof r !== 'string' || !ROLE_PART.test(r))) {
      throw new TypeError(`required roles of ${domain} must be a non-empty list of role names`);
    }
    if (match !== 'any' && match !== 'all') throw new TypeError('roles.match is "any" or "all"');
    (match === 'all' ? all : any).push(...roles.map((role: string) => ({ domain, role, item: `${domain}:role.${role}` })));
  }
  if (all.length === 0 && any.length === 0) return NOTHING_REQUIRED;
  const required = [...all, ...any].map((r) => r.item);
  return {
    check(roles) {
      const missing = all.filter((r) => !hasRole(roles, r.domain, r.role));
      if (missing.length > 0) {
        throw new InsufficientScopeError(
          `the token does not grant ${list(missing.map((r) => r.item))}, which this request requires; ask for a token with that scope`,
          required,
        );
      }
      if (any.length > 0 && !any.some((r) => hasRole(roles, r.domain, r.role))) {
        throw new InsufficientScopeError(`the token grants none of ${list(any.map((r) => r.item))}; this request requires one of them`, required);
      }
    },
  };
}

/** Whether `roles` (an AuthContext's) holds role `role` of `domain`. */
export function hasRole(roles: Roles, domain: string, role: string): boolean {
  return Object.hasOwn(roles, domain) && (roles[domain]?.includes(role) ?? false);
}

/**
 * Domain → roles granted by `scp` and `scope`, limited to the domains in `audience`. Returns
 * null when either claim has the wrong type, which the verifier refuses as malformed. Runs on
 * every verification, so it parses by hand: the names come from a signed token, and an odd
 * name can only ever match itself.
 */
export function grantedRoles(claims: { scp?: unknown; scope?: unknown }, audience: readonly string[]): Roles | null {
  const { scp, scope } = claims;
  if (scp !== undefined && (!Array.isArray(scp) || scp.some((s) => typeof s !== 'string'))) return null;
  if (scope !== undefined && typeof scope !== 'string') return null;
  const byDomain = new Map<string, string[]>();
  const add = (domain: string, role: string): void => {
    if (!audience.includes(domain)) return;
    const roles = byDomain.get(domain);
    if (!roles) byDomain.set(domain, [role]);
    else if (!roles.includes(role)) roles.push(role);
  };
  const only = audience.length === 1 ? audience[0] : undefined;
  for (const item of (scp ?? []) as string[]) {
    if (item.includes(':')) addItem(item, add);
    else if (only !== undefined && item !== '') add(only, item);
  }
  if (scope) for (const item of (scope as string).split(' ')) addItem(item, add);
  const entries: [string, readonly string[]][] = [];
  for (const [domain, roles] of byDomain) entries.push([domain, Object.freeze(roles.sort())]);
  // fromEntries defines own properties, so a domain named "__proto__" stays an ordinary key.
  return Object.freeze(Object.fromEntries(entries));
}

/**
 * The role a scope item grants, in Tessera's scope grammar (docs/tokens.md, Scopes): `<d>:role.<r>`
 * and the short `<d>:<r>` → `{ domain, role }`; `<d>:domain`, `<d>:service.<s>`, `openid` and
 * anything else → null. The one reading of role items, for verifiers and the `tessera` CLI.
 */
export function scopeItemRole(item: string): { domain: string; role: string } | null {
  const colon = item.indexOf(':');
  if (colon <= 0) return null;
  const rest = item.slice(colon + 1);
  const role = rest.startsWith('role.') ? rest.slice('role.'.length) : rest === 'domain' || rest.startsWith('service.') ? '' : rest;
  return role === '' ? null : { domain: item.slice(0, colon), role };
}

/** Adds the role of a `<d>:role.<r>` or `<d>:<r>` item; `<d>:domain`, `<d>:service.<s>` and `openid` grant no role. */
function addItem(item: string, add: (domain: string, role: string) => void): void {
  const granted = scopeItemRole(item);
  if (granted !== null) add(granted.domain, granted.role);
}

/** `<d>:role.<r>` or `<d>:<r>` → its parts, for requirements; anything else → null. */
function parseScopeItem(item: string): { domain: string; role: string } | null {
  const parsed = scopeItemRole(item);
  return parsed !== null && ROLE_PART.test(parsed.domain) && ROLE_PART.test(parsed.role) ? parsed : null;
}

function list(items: readonly string[]): string {
  return items.join(', ');
}
