// Name rules, after Athenz: a simple name is `[a-z0-9_][a-z0-9_-]*`; domains and roles are
// simple names joined by dots; services are simple names, so in a principal `<domain>.<service>`
// the service is always the part after the last dot. Names are lower-case, as Athenz
// lower-cases them, so `Beta` and `beta` can never be two different domains.

const SIMPLE = '[a-z0-9_][a-z0-9_-]*';
const DOTTED = `${SIMPLE}(?:\\.${SIMPLE})*`;

export const NAME_PATTERNS = {
  domain: `^${DOTTED}$`,
  service: `^${SIMPLE}$`,
  role: `^${DOTTED}$`,
  principal: `^${DOTTED}\\.${SIMPLE}$`,
} as const;

export const NAME_LIMITS = { domain: 128, service: 64, role: 128, principal: 193 } as const;

const DOMAIN_RE = new RegExp(NAME_PATTERNS.domain);
const SERVICE_RE = new RegExp(NAME_PATTERNS.service);
const ROLE_RE = new RegExp(NAME_PATTERNS.role);
const PRINCIPAL_RE = new RegExp(NAME_PATTERNS.principal);

/** Role names the scope grammar would read as something else (`d:domain`, `d:role.x`, `d:service.x`). */
const RESERVED_ROLE = /^(?:domain|openid)$|^(?:role|service)\./;

export function isDomainName(name: string): boolean {
  return name.length <= NAME_LIMITS.domain && DOMAIN_RE.test(name);
}

export function isServiceName(name: string): boolean {
  return name.length <= NAME_LIMITS.service && SERVICE_RE.test(name);
}

export function isRoleName(name: string): boolean {
  return name.length <= NAME_LIMITS.role && ROLE_RE.test(name) && !RESERVED_ROLE.test(name);
}

export function isPrincipalName(name: string): boolean {
  return name.length <= NAME_LIMITS.principal && PRINCIPAL_RE.test(name);
}

/** The system domain: its admin role (`sys.auth:role.admin`) makes system admins. */
export const SYSTEM_DOMAIN = 'sys.auth';

/** The role that makes its members a domain's admins (`<d>:role.admin`; `sys.auth`'s makes system admins). */
export const ADMIN_ROLE = 'admin';

/**
 * Whether membership of `<domain>:role.<role>` makes `principal` an admin of a domain other than its
 * own: whoever can act as the principal then administers that domain too (admin/authz.ts).
 */
export function isForeignAdminRole(principal: string, domain: string, role: string): boolean {
  return role === ADMIN_ROLE && splitPrincipal(principal)?.domain !== domain;
}

/** Splits `a.b.api` into domain `a.b` and service `api`; null when not a principal name. */
export function splitPrincipal(principal: string): { domain: string; service: string } | null {
  if (!isPrincipalName(principal)) return null;
  const dot = principal.lastIndexOf('.');
  return { domain: principal.slice(0, dot), service: principal.slice(dot + 1) };
}

/**
 * The label a domain takes in its services' certificate DNS names, `<service>.<label>.<suffix>`:
 * its dots become dashes. Not one-to-one (`pay.prod` and `pay-prod` share `pay-prod`), so the
 * store refuses a domain whose label another domain already has (storage/sql/domains.ts).
 */
export function dnsLabelOf(domain: string): string {
  return domain.replaceAll('.', '-');
}

/** Why a name is refused, in a sentence that says what to fix. */
export function describeNameRule(kind: 'domain' | 'service' | 'role' | 'principal'): string {
  switch (kind) {
    case 'domain':
      return `a domain name is lower-case letters, digits, '_' and '-', in dot-separated parts that do not start with '-' (at most ${NAME_LIMITS.domain} characters), e.g. "payments" or "sys.auth"`;
    case 'service':
      return `a service name is lower-case letters, digits, '_' and '-', not starting with '-', without dots (at most ${NAME_LIMITS.service} characters), e.g. "api"`;
    case 'role':
      return `a role name is lower-case letters, digits, '_' and '-', in dot-separated parts (at most ${NAME_LIMITS.role} characters); "domain", "openid" and names starting with "role." or "service." are reserved`;
    case 'principal':
      return `a principal is "<domain>.<service>", e.g. "alpha.api"`;
  }
}
