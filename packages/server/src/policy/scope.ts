// The scope grammar (docs/tokens.md, Scopes): Athenz's, plus the short `<d>:<r>` form of the
// service-account JSON dialect:
//   <d>:domain          every role the caller holds in d
//   <d>:role.<r>        role r of d
//   <d>:<r>             the same, short form
//   openid + <d>:service.<s>   also an ID token for audience <d>.<s>
// Parsing is strict: anything else is a malformed scope (400 invalid_scope), so a typo never
// silently narrows or widens what a caller gets.

import { isDomainName, isRoleName, isServiceName } from './names.ts';

/** How the caller wrote a role request; the granted scope echoes the same form. */
export type RoleForm = 'role' | 'short';

export interface DomainRequest {
  domain: string;
  /** `<d>:domain` was asked: every role held. */
  all: boolean;
  /** Specific roles asked for, with the form used. */
  roles: Map<string, RoleForm>;
}

export interface ScopeRequest {
  /** In the order first mentioned. */
  domains: DomainRequest[];
  openid: boolean;
  /** `<d>.<s>` of each `<d>:service.<s>` item. */
  idTokenAudiences: string[];
}

export class ScopeSyntaxError extends Error {
  readonly code = 'INVALID_SCOPE';
}

export const MAX_SCOPE_ITEMS = 100;

export function parseScope(scope: string): ScopeRequest {
  const items = scope.split(' ').filter((item) => item !== '');
  if (items.length === 0) throw new ScopeSyntaxError('scope is empty: ask for "<domain>:domain" or "<domain>:role.<role>"');
  if (items.length > MAX_SCOPE_ITEMS) throw new ScopeSyntaxError(`scope has ${items.length} items; at most ${MAX_SCOPE_ITEMS} are allowed`);

  const byDomain = new Map<string, DomainRequest>();
  const request: ScopeRequest = { domains: [], openid: false, idTokenAudiences: [] };
  const domainEntry = (domain: string): DomainRequest => {
    let entry = byDomain.get(domain);
    if (!entry) {
      entry = { domain, all: false, roles: new Map() };
      byDomain.set(domain, entry);
      request.domains.push(entry);
    }
    return entry;
  };

  for (const item of items) {
    if (item === 'openid') {
      request.openid = true;
      continue;
    }
    const colon = item.indexOf(':');
    const domain = colon > 0 ? item.slice(0, colon) : '';
    const rest = colon > 0 ? item.slice(colon + 1) : '';
    if (!isDomainName(domain) || rest === '') {
      throw new ScopeSyntaxError(`scope item "${clip(item)}" is not "<domain>:domain", "<domain>:role.<role>", "<domain>:<role>" or "openid"`);
    }
    if (rest === 'domain') {
      domainEntry(domain).all = true;
    } else if (rest.startsWith('service.')) {
      const service = rest.slice('service.'.length);
      if (!isServiceName(service)) throw new ScopeSyntaxError(`scope item "${clip(item)}" names an invalid service`);
      request.idTokenAudiences.push(`${domain}.${service}`);
    } else {
      const form: RoleForm = rest.startsWith('role.') ? 'role' : 'short';
      const role = form === 'role' ? rest.slice('role.'.length) : rest;
      if (!isRoleName(role)) throw new ScopeSyntaxError(`scope item "${clip(item)}" names an invalid role`);
      const entry = domainEntry(domain);
      if (!entry.roles.has(role)) entry.roles.set(role, form);
    }
  }

  if (request.domains.length === 0) {
    throw new ScopeSyntaxError('scope asks for no domain or role: add "<domain>:domain" or "<domain>:role.<role>"');
  }
  if (request.idTokenAudiences.length > 0 && !request.openid) {
    throw new ScopeSyntaxError('"<domain>:service.<service>" asks for an ID token and needs "openid" in the scope too');
  }
  if (request.openid && request.idTokenAudiences.length !== 1) {
    throw new ScopeSyntaxError('"openid" needs exactly one "<domain>:service.<service>" item naming the ID token audience');
  }
  const audience = request.idTokenAudiences[0];
  if (audience !== undefined && !byDomain.has(audience.slice(0, audience.lastIndexOf('.')))) {
    throw new ScopeSyntaxError(`the ID token audience ${audience} must be a service of a domain the scope asks roles of`);
  }
  return request;
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
