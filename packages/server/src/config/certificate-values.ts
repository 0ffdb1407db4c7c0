// Parsers for the certificate settings (docs/configuration.md): the CA's names, PEM files of other CAs, the
// proxy header, and the structured lists read from the config file only (external OIDC issuers,
// certificate-login mappings). Each returns the value or every problem found, phrased as what to
// fix; load.ts prefixes where the value came from.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { canonicalDnsName, checkTrustDomain } from '../ca/names.ts';
import { describeNameRule, isPrincipalName } from '../policy/names.ts';
import { OIDC_ISSUER_USES, type CertLoginMapping, type OidcIssuerUse, type OidcProofIssuer } from './config.ts';
import { closest } from './did-you-mean.ts';
import { durationParser, got } from './values.ts';
import type { Parsed } from './values.ts';

export function parseTrustDomain(value: unknown): Parsed<string> {
  if (typeof value === 'string') {
    try {
      return { value: checkTrustDomain(value) };
    } catch {
      // Reported below with the rule.
    }
  }
  return { problem: `expected a SPIFFE trust domain (lower-case letters, digits, '.', '-' and '_'), e.g. "tessera.local", ${got(value)}` };
}

export function parseDnsSuffix(value: unknown): Parsed<string> {
  if (typeof value === 'string') {
    try {
      return { value: canonicalDnsName(value) };
    } catch {
      // Reported below with the rule.
    }
  }
  return { problem: `expected a DNS name such as "svc.tessera.local" (letters, digits and '-' in dot-separated labels, no trailing dot), ${got(value)}` };
}

/** Where a PEM file named in a setting lives, resolved the way load.ts resolves every path. */
export type ResolvePath = (path: string) => string;

/**
 * PEM files of CA certificates as a JSON array or, from the environment, a comma-separated list.
 * Each must exist and hold at least one certificate that parses: a typo here would otherwise
 * surface as every client certificate being refused.
 */
export function pemFileListParser(resolvePath: ResolvePath): (value: unknown) => Parsed<string[]> {
  return (value) => {
    const list =
      typeof value === 'string'
        ? value
            .split(',')
            .map((item) => item.trim())
            .filter((item) => item !== '')
        : value;
    if (!Array.isArray(list) || list.some((item) => typeof item !== 'string' || item === '')) {
      return { problem: `expected PEM files of CA certificates such as ["/etc/tessera/partner-ca.pem"] (comma-separated in the environment), ${got(value)}` };
    }
    const paths = (list as string[]).map(resolvePath);
    const problems = paths.map(pemFileProblem).filter((problem) => problem !== null);
    return problems.length > 0 ? { problem: problems.join('; ') } : { value: paths };
  };
}

function pemFileProblem(path: string): string | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return `cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message}`;
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return `${path} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`;
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return `${path}: certificate ${index + 1} does not parse`;
    }
  }
  return null;
}

const HEADER_TOKEN = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** An HTTP header name, lower-cased as Node presents request headers; unset is null. */
export function parseHeaderName(value: unknown): Parsed<string | null> {
  if (value === undefined || value === null || value === '') return { value: null };
  if (typeof value === 'string' && HEADER_TOKEN.test(value.toLowerCase())) return { value: value.toLowerCase() };
  return { problem: `expected an HTTP header name such as "x-ssl-client-cert", ${got(value)}` };
}

/** One object of a list, with a problem for each field name it does not know (a typo would otherwise be ignored). */
function checkFields(item: unknown, where: string, known: readonly string[], problems: string[]): Record<string, unknown> | null {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    problems.push(`${where}: expected an object, ${got(item)}`);
    return null;
  }
  for (const name of Object.keys(item)) {
    if (known.includes(name)) continue;
    const near = closest(name, known);
    problems.push(`${where}: unknown field "${name}"${near === undefined ? '' : ` (did you mean "${near}"?)`}; the fields are ${known.join(', ')}`);
  }
  return item as Record<string, unknown>;
}

function nonEmptyString(value: unknown, where: string, what: string, problems: string[]): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value;
  problems.push(`${where}: expected ${what}, ${got(value)}`);
  return undefined;
}

function urlString(value: unknown, where: string, schemes: readonly string[], problems: string[]): string | undefined {
  const url = typeof value === 'string' ? URL.parse(value) : null;
  if (url !== null && schemes.includes(url.protocol) && url.hostname !== '' && url.hash === '') return value as string;
  problems.push(`${where}: expected an ${schemes.map((scheme) => `${scheme}//`).join(' or ')} URL, ${got(value)}`);
  return undefined;
}

const OIDC_FIELDS = ['issuer', 'jwksUri', 'audience', 'claim', 'pattern', 'principals', 'uses', 'replay', 'maxLifetime'] as const;
/** The longest client assertion an issuer may be configured to accept: a day, the longest a Kubernetes kubelet keeps one token. */
const MAX_CLIENT_ASSERTION_LIFETIME = 86_400;
const parseMaxLifetime = durationParser({ min: 60, max: { seconds: MAX_CLIENT_ASSERTION_LIFETIME, why: 'a client assertion is a short-lived credential' } });

/** `oidcProofs`: trusted external OIDC issuers (the `oidc-token` proof). */
export function parseOidcProofs(value: unknown): Parsed<OidcProofIssuer[]> {
  if (!Array.isArray(value))
    return { problem: `expected a list of OIDC issuers [{"issuer", "jwksUri", "audience", "claim", "pattern" or "principals"}], ${got(value)}` };
  const problems: string[] = [];
  const issuers: OidcProofIssuer[] = [];
  const seen = new Set<string>();
  value.forEach((item, index) => {
    const where = `[${index}]`;
    const fields = checkFields(item, where, OIDC_FIELDS, problems);
    if (fields === null) return;
    const issuer = urlString(fields.issuer, `${where}.issuer`, ['https:'], problems);
    const jwksUri = urlString(fields.jwksUri, `${where}.jwksUri`, ['https:', 'http:'], problems);
    const audience = nonEmptyString(fields.audience, `${where}.audience`, 'the audience the tokens carry', problems);
    const claim = fields.claim === undefined ? 'sub' : nonEmptyString(fields.claim, `${where}.claim`, 'a claim name such as "sub"', problems);
    const pattern = fields.pattern === undefined ? undefined : checkPattern(fields.pattern, `${where}.pattern`, problems);
    const principals = fields.principals === undefined ? undefined : checkPrincipals(fields.principals, `${where}.principals`, problems);
    if (fields.pattern === undefined && fields.principals === undefined) {
      problems.push(`${where}: give "pattern" (a regular expression with named groups domain and service) or "principals" (claim value → principal), or both`);
    }
    const uses = fields.uses === undefined ? undefined : checkUses(fields.uses, `${where}.uses`, problems);
    const clientAssertions = uses?.includes('client-assertions') === true;
    let replay: OidcProofIssuer['replay'];
    if (fields.replay !== undefined) {
      if (fields.replay === 'jti' || fields.replay === 'token-hash') replay = fields.replay;
      else problems.push(`${where}.replay: expected "jti" or "token-hash", ${got(fields.replay)}`);
    }
    let maxLifetime: number | undefined;
    if (fields.maxLifetime !== undefined) {
      const parsed = parseMaxLifetime(fields.maxLifetime);
      if ('value' in parsed) maxLifetime = parsed.value;
      else problems.push(`${where}.maxLifetime: ${parsed.problem}`);
    }
    for (const name of ['replay', 'maxLifetime'] as const) {
      if (fields[name] !== undefined && !clientAssertions) {
        problems.push(`${where}.${name}: applies to client assertions only; add "client-assertions" to "uses", or remove ${name}`);
      }
    }
    if (issuer !== undefined && seen.has(issuer)) problems.push(`${where}.issuer: ${issuer} is listed twice; merge the two entries`);
    if (issuer !== undefined) seen.add(issuer);
    if (issuer === undefined || jwksUri === undefined || audience === undefined || claim === undefined) return;
    issuers.push({
      issuer,
      jwksUri,
      audience,
      claim,
      ...(pattern === undefined ? {} : { pattern }),
      ...(principals === undefined ? {} : { principals }),
      ...(uses === undefined ? {} : { uses }),
      ...(replay === undefined ? {} : { replay }),
      ...(maxLifetime === undefined ? {} : { maxLifetime }),
    });
  });
  return problems.length > 0 ? { problem: problems.join('; ') } : { value: issuers };
}

function checkUses(value: unknown, where: string, problems: string[]): OidcIssuerUse[] | undefined {
  const known = (item: unknown): item is OidcIssuerUse => typeof item === 'string' && (OIDC_ISSUER_USES as readonly string[]).includes(item);
  if (!Array.isArray(value) || value.length === 0 || !value.every(known) || new Set(value).size !== value.length) {
    const list = OIDC_ISSUER_USES.map((use) => `"${use}"`).join(', ');
    problems.push(`${where}: expected a non-empty list of distinct uses out of ${list}, e.g. ["certificates", "client-assertions"], ${got(value)}`);
    return undefined;
  }
  return [...value];
}

function checkPattern(value: unknown, where: string, problems: string[]): string | undefined {
  if (typeof value !== 'string' || value === '') {
    problems.push(`${where}: expected a regular expression, ${got(value)}`);
    return undefined;
  }
  let compiled: RegExp;
  try {
    compiled = new RegExp(value);
  } catch (error) {
    problems.push(`${where}: does not compile: ${(error as Error).message}`);
    return undefined;
  }
  const groups = ['domain', 'service'].filter((name) => !compiled.source.includes(`(?<${name}>`));
  if (groups.length > 0) {
    problems.push(
      `${where}: needs the named group(s) ${groups.map((name) => `(?<${name}>…)`).join(' and ')}, e.g. "^system:serviceaccount:(?<domain>[^:]+):(?<service>[^:]+)$"`,
    );
    return undefined;
  }
  return value;
}

function checkPrincipals(value: unknown, where: string, problems: string[]): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${where}: expected an object from claim value to principal, e.g. {"system:serviceaccount:prod:api": "prod.api"}, ${got(value)}`);
    return undefined;
  }
  const bad = Object.entries(value).find(([, principal]) => typeof principal !== 'string' || !isPrincipalName(principal));
  if (bad !== undefined) {
    problems.push(`${where}["${bad[0]}"]: expected a principal name (${describeNameRule('principal')}), ${got(bad[1])}`);
    return undefined;
  }
  return { ...(value as Record<string, string>) };
}

const MAPPING_FIELDS = ['cas', 'subject', 'san', 'fingerprint', 'principal'] as const;
const FINGERPRINT = /^[0-9a-f]{64}$/;

const NAME_THE_CAS =
  'name the CA files whose certificates this rule maps: add "cas": [...] with files from mtls.externalCas ' +
  '(the token endpoint) or certLogin.trustedCas (certificate login)';

/**
 * `certLogin.mappings`: client certificate → principal rules; every field given must match.
 * `cas` (required) names the CA files the rule applies to, resolved like the CA file settings;
 * certificateSettings checks that each is one of them.
 */
export function certLoginMappingsParser(resolvePath: ResolvePath): (value: unknown) => Parsed<CertLoginMapping[]> {
  return (value) => parseCertLoginMappings(value, resolvePath);
}

function parseCertLoginMappings(value: unknown, resolvePath: ResolvePath): Parsed<CertLoginMapping[]> {
  if (!Array.isArray(value)) {
    return { problem: `expected a list of mappings [{"cas", "subject" or "san" or "fingerprint", "principal"}], ${got(value)}` };
  }
  const problems: string[] = [];
  const mappings: CertLoginMapping[] = [];
  value.forEach((item, index) => {
    const where = `[${index}]`;
    const fields = checkFields(item, where, MAPPING_FIELDS, problems);
    if (fields === null) return;
    const mapping: Partial<CertLoginMapping> = {};
    const cas = fields.cas;
    if (cas === undefined) problems.push(`${where}: ${NAME_THE_CAS}`);
    else if (!Array.isArray(cas) || cas.length === 0 || cas.some((file) => typeof file !== 'string' || file === '')) {
      const example = '["/etc/tessera/partner-ca.pem"]';
      problems.push(`${where}.cas: expected a non-empty list of CA files such as ${example}, ${got(cas)}`);
    } else mapping.cas = [...new Set((cas as string[]).map(resolvePath))];
    if (typeof fields.principal === 'string' && isPrincipalName(fields.principal)) mapping.principal = fields.principal;
    else problems.push(`${where}.principal: expected a principal name (${describeNameRule('principal')}), ${got(fields.principal)}`);
    if (fields.subject !== undefined) mapping.subject = nonEmptyString(fields.subject, `${where}.subject`, 'a subject DN such as "CN=api,O=Example"', problems);
    if (fields.san !== undefined) mapping.san = nonEmptyString(fields.san, `${where}.san`, 'a DNS, URI or e-mail SAN value', problems);
    if (fields.fingerprint !== undefined) {
      const hex = typeof fields.fingerprint === 'string' ? fields.fingerprint.replaceAll(':', '').toLowerCase() : '';
      if (FINGERPRINT.test(hex)) mapping.fingerprint = hex;
      else problems.push(`${where}.fingerprint: expected the SHA-256 fingerprint in hex (64 digits, colons allowed), ${got(fields.fingerprint)}`);
    }
    if (fields.subject === undefined && fields.san === undefined && fields.fingerprint === undefined) {
      problems.push(`${where}: give at least one of "subject", "san" or "fingerprint" to match certificates by`);
    }
    if (mapping.principal !== undefined && mapping.cas !== undefined) mappings.push(mapping as CertLoginMapping);
  });
  return problems.length > 0 ? { problem: problems.join('; ') } : { value: mappings };
}
