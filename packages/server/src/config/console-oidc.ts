// `console.oidc`: OpenID Connect sign-in for people in the web console (docs/console.md), read from
// the config file only (an object with its own rules). Absent or null: off.

import { isDomainName } from '../policy/names.ts';
import { got } from './values.ts';
import type { Parsed } from './values.ts';

export interface ConsoleOidcConfig {
  /** The OpenID provider's issuer; its /.well-known/openid-configuration is fetched by the server. */
  issuer: string;
  clientId: string;
  /** Absolute path of a file holding the client secret (a confidential client); null: a public client, PKCE only. */
  clientSecretFile: string | null;
  scopes: string[];
  /** The ID token claim whose value, lower-cased, is the person's name in `domain`: principal `<domain>.<value>`. */
  principal: { claim: string; domain: string };
  /** IdP groups (an array claim) mapped to admin roles (`<domain>:role.admin`), as domains. */
  groups: { claim: string; roles: Record<string, string[]> } | null;
  /** Seconds a person's session token lasts. */
  sessionLifetime: number;
}

export const DEFAULT_OIDC_SCOPES = ['openid', 'profile', 'email'];
export const DEFAULT_SESSION_LIFETIME = 900;
export const MAX_SESSION_LIFETIME = 3600;
const ADMIN_ROLE_RE = /^(.+):role\.admin$/;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '' && value === value.trim();

/** `<d>:role.admin` → d; null for anything else. */
export function adminRoleDomain(role: string): string | null {
  const match = ADMIN_ROLE_RE.exec(role);
  return match && isDomainName(match[1]!) ? match[1]! : null;
}

/** A loopback host, where an http:// issuer is allowed (a provider on the same machine, as in tests). */
function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

export function consoleOidcParser(resolvePath: (path: string) => string): (value: unknown) => Parsed<ConsoleOidcConfig | null> {
  return (value) => {
    if (value === undefined || value === null) return { value: null };
    if (!isObject(value)) return { problem: `expected an object with issuer, clientId and principal, or null to turn it off, ${got(value)}` };
    const problems: string[] = [];
    const known = ['issuer', 'clientId', 'clientSecretFile', 'scopes', 'principal', 'groups', 'sessionLifetime'];
    for (const name of Object.keys(value)) if (!known.includes(name)) problems.push(`unknown field "${name}" (the fields are ${known.join(', ')})`);

    const issuerUrl = typeof value['issuer'] === 'string' ? URL.parse(value['issuer']) : null;
    const issuerOk =
      issuerUrl !== null &&
      (issuerUrl.protocol === 'https:' || (issuerUrl.protocol === 'http:' && isLoopback(issuerUrl.hostname))) &&
      issuerUrl.search === '' &&
      issuerUrl.hash === '' &&
      issuerUrl.username === '';
    if (!issuerOk) {
      problems.push(
        `issuer: expected the provider's https:// issuer URL (http:// only on a loopback address), without query or fragment, ${got(value['issuer'])}`,
      );
    }
    if (!nonEmpty(value['clientId'])) problems.push(`clientId: expected the client id registered at the provider, ${got(value['clientId'])}`);
    const secretFile = value['clientSecretFile'];
    if (secretFile !== undefined && secretFile !== null && !nonEmpty(secretFile)) {
      problems.push(`clientSecretFile: expected the path of a file holding the client secret, or no clientSecretFile for a public client, ${got(secretFile)}`);
    }

    let scopes = DEFAULT_OIDC_SCOPES;
    if (value['scopes'] !== undefined) {
      const raw = value['scopes'];
      const list = typeof raw === 'string' ? raw.split(' ').filter(Boolean) : raw;
      if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) || !list.includes('openid')) {
        problems.push(`scopes: expected a list of scope names including "openid" (or one space-separated string), ${got(raw)}`);
      } else scopes = list as string[];
    }

    const principal = value['principal'];
    let principalOut = { claim: '', domain: '' };
    if (!isObject(principal)) problems.push(`principal: expected {"claim": "preferred_username", "domain": "user"}, ${got(principal)}`);
    else {
      if (!nonEmpty(principal['claim']))
        problems.push(`principal.claim: expected a claim name such as "preferred_username", "email" or "sub", ${got(principal['claim'])}`);
      if (typeof principal['domain'] !== 'string' || !isDomainName(principal['domain'])) {
        problems.push(`principal.domain: expected a domain name such as "user" (the people's principals are <domain>.<name>), ${got(principal['domain'])}`);
      }
      for (const name of Object.keys(principal)) if (name !== 'claim' && name !== 'domain') problems.push(`principal: unknown field "${name}"`);
      principalOut = { claim: String(principal['claim']), domain: String(principal['domain']) };
    }

    let groups: ConsoleOidcConfig['groups'] = null;
    const rawGroups = value['groups'];
    if (rawGroups !== undefined && rawGroups !== null) {
      if (!isObject(rawGroups) || !isObject(rawGroups['roles'])) {
        problems.push(`groups: expected {"claim": "groups", "roles": {"<group>": ["sys.auth:role.admin"]}}, ${got(rawGroups)}`);
      } else {
        const claim = rawGroups['claim'] ?? 'groups';
        if (!nonEmpty(claim)) problems.push(`groups.claim: expected a claim name, ${got(claim)}`);
        const roles: Record<string, string[]> = {};
        for (const [group, list] of Object.entries(rawGroups['roles'])) {
          if (!Array.isArray(list) || list.length === 0 || !list.every((role) => typeof role === 'string' && adminRoleDomain(role) !== null)) {
            problems.push(`groups.roles["${group}"]: expected a list of admin roles, "sys.auth:role.admin" or "<domain>:role.admin", ${got(list)}`);
            continue;
          }
          roles[group] = list as string[];
        }
        for (const name of Object.keys(rawGroups)) if (name !== 'claim' && name !== 'roles') problems.push(`groups: unknown field "${name}"`);
        groups = { claim: String(claim), roles };
      }
    }

    let sessionLifetime = DEFAULT_SESSION_LIFETIME;
    const lifetime = value['sessionLifetime'];
    if (lifetime !== undefined) {
      if (typeof lifetime !== 'number' || !Number.isSafeInteger(lifetime) || lifetime < 60 || lifetime > MAX_SESSION_LIFETIME) {
        problems.push(`sessionLifetime: expected whole seconds from 60 to ${MAX_SESSION_LIFETIME}, ${got(lifetime)}`);
      } else sessionLifetime = lifetime;
    }

    if (problems.length > 0) return { problem: problems.join('; ') };
    return {
      value: {
        issuer: value['issuer'] as string,
        clientId: value['clientId'] as string,
        clientSecretFile: typeof secretFile === 'string' ? resolvePath(secretFile) : null,
        scopes,
        principal: principalOut,
        groups,
        sessionLifetime,
      },
    };
  };
}
