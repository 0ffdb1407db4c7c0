// How a claim of a token from a configured external issuer (config `oidcProofs`) becomes a Tessera
// principal: the one mapping behind the CA's `oidc-token` proof and federated client assertions
// at the token endpoint, so the two can never map one claim value to different principals.

import type { OidcProofIssuer } from '../../config/config.ts';
import { describeNameRule, isDomainName, isPrincipalName, isServiceName } from '../../policy/names.ts';

export interface PrincipalMapping {
  config: Pick<OidcProofIssuer, 'issuer' | 'principals' | 'pattern'>;
  pattern: RegExp | null;
}

/** The issuer's mapping, its pattern compiled; throws on a configuration the parser would refuse. */
export function principalMapping(config: Pick<OidcProofIssuer, 'issuer' | 'principals' | 'pattern'>): PrincipalMapping {
  return { config, pattern: compilePattern(config) };
}

/**
 * The exact table first, then the pattern. Each group is checked on its own before they are
 * joined: joined, `sys` + `auth.admin` would read as service `admin` of domain `sys.auth`, since a
 * principal's service is whatever follows its last dot (Kubernetes allows dots in account names).
 * Returns the principal, or why there is none.
 */
export function mapToPrincipal(mapping: PrincipalMapping, value: string): string | { reason?: string } {
  const listed = Object.hasOwn(mapping.config.principals ?? {}, value) ? mapping.config.principals?.[value] : undefined;
  if (listed !== undefined) return isPrincipalName(listed) ? listed : {};
  const match = mapping.pattern?.exec(value);
  // The whole claim must match, anchored or not: a pattern that matched a part would let
  // `system:serviceaccount:a:b:extra` borrow a:b's identity.
  const groups = match?.[0] === value ? match.groups : undefined;
  const domain = groups?.['domain'];
  const service = groups?.['service'];
  if (!domain || !service) return {};
  if (!isDomainName(domain)) {
    return { reason: `its domain "${domain.slice(0, 80)}" is not a domain name (${describeNameRule('domain')})` };
  }
  if (!isServiceName(service)) {
    return { reason: `its service "${service.slice(0, 80)}" is not a service name (${describeNameRule('service')})` };
  }
  const principal = `${domain}.${service}`;
  return isPrincipalName(principal) ? principal : { reason: `${principal} is longer than a principal may be` };
}

function compilePattern(config: Pick<OidcProofIssuer, 'issuer' | 'principals' | 'pattern'>): RegExp | null {
  if (config.pattern === undefined) {
    if (config.principals === undefined) throw new Error(`oidcProofs issuer ${config.issuer}: give a pattern, a principals table, or both`);
    return null;
  }
  let pattern: RegExp;
  try {
    pattern = new RegExp(config.pattern);
  } catch (cause) {
    throw new Error(`oidcProofs issuer ${config.issuer}: pattern is not a valid regular expression`, { cause });
  }
  if (!config.pattern.includes('(?<domain>') || !config.pattern.includes('(?<service>')) {
    throw new Error(`oidcProofs issuer ${config.issuer}: pattern needs the named groups (?<domain>…) and (?<service>…)`);
  }
  return pattern;
}
