// Tessera's own host names: the ones its self-issued certificate carries, and the rule that keeps
// them out of the zone where its CA names services (ca.dnsSuffix). Clients trust Tessera's CA
// (ca.pem) to check Tessera's host, and the same CA gives each service a serverAuth certificate
// for `<service>.<domain>.<dnsSuffix>`: a Tessera host name inside that zone could be one a
// domain admin's service gets a certificate for, and that service could then answer as Tessera.

import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { settingAndSource, sourceOf } from './sources.ts';
import type { RawValue } from './sources.ts';

export interface CertificateNames {
  dnsNames: string[];
  ipAddresses: string[];
}

const bare = (host: string): string => host.replace(/^\[|\]$/g, '');

/**
 * A DNS name as compared: lower case, without the one trailing dot of an absolute name
 * (`host.example.` and `host.example` are the same host to a resolver and to TLS name checks).
 */
export function normalizeDnsName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/**
 * True for every spelling of "all interfaces" once parsed: the all-zero IPv4 address, the
 * all-zero IPv6 address, and the IPv4-mapped all-zero address (`::ffff:0.0.0.0`, on which Node
 * listens on every interface too). The URL parser has already folded `0`, `[::0]` and the like
 * into `0.0.0.0` and `[::]`; a bare host is folded the same way before it is compared.
 */
export function listensOnEveryInterface(host: string): boolean {
  const address = bare(host);
  if (address.includes('%')) return false;
  const parsed = URL.parse(`http://${isIP(address) === 6 ? `[${address}]` : address}`)?.hostname;
  return parsed === '0.0.0.0' || parsed === '[::]' || parsed === '[::ffff:0:0]';
}

/**
 * Names the self-issued certificate is valid for: loopback always, the listen host, the
 * issuer's host (the name clients following the issuer dial), the operator's extra names, and
 * this host's name when listening on every interface.
 */
export function serverCertificateNames(listen: URL, issuer: string, extra: readonly string[]): CertificateNames {
  const listenHost = bare(listen.hostname);
  const hosts = [...(listensOnEveryInterface(listenHost) ? [hostname()] : [listenHost]), bare(new URL(issuer).hostname), ...extra];
  return {
    dnsNames: [...new Set(['localhost', ...hosts.filter((host) => isIP(host) === 0).map(normalizeDnsName)])],
    ipAddresses: [...new Set(['127.0.0.1', '::1', ...hosts.filter((host) => isIP(host) !== 0)])],
  };
}

/** True when `name` is `suffix` or a name under it (label-wise: `notexample.internal` is not under `example.internal`). */
export function isInZone(name: string, suffix: string): boolean {
  const lower = normalizeDnsName(name);
  return lower === suffix || lower.endsWith(`.${suffix}`);
}

export interface OwnNameSettings {
  listen: URL;
  issuer: string;
  tlsNames: readonly string[];
  dnsSuffix: string;
  raw: { listen?: RawValue; issuer?: RawValue; tlsNames?: RawValue; dnsSuffix?: RawValue };
}

/**
 * A problem for each of Tessera's own DNS names inside ca.dnsSuffix: the issuer's host, the
 * listen host and each tls.names entry, each named once under the first setting that gives it.
 */
export function ownNameProblems({ listen, issuer, tlsNames, dnsSuffix, raw }: OwnNameSettings): string[] {
  const zone =
    raw.dnsSuffix === undefined || raw.dnsSuffix.origin.kind === 'default'
      ? `ca.dnsSuffix ${dnsSuffix} (the default)`
      : `${settingAndSource(raw.dnsSuffix)} ${dnsSuffix}`;
  const where = (value: RawValue | undefined, key: string): string => (value === undefined || value.origin.kind === 'default' ? key : sourceOf(value));
  const candidates: { name: string; what: string; source: string }[] = [
    {
      name: bare(URL.parse(issuer)?.hostname ?? ''),
      what: 'the issuer host',
      source: where(raw.issuer ?? raw.listen, raw.issuer === undefined ? 'listen' : 'issuer'),
    },
    { name: bare(listen.hostname), what: 'the listen host', source: where(raw.listen, 'listen') },
    ...tlsNames.map((name) => ({ name, what: 'the name', source: where(raw.tlsNames, 'tls.names') })),
  ];
  // With no --issuer the issuer is the listen origin: one name, reported as the listen host.
  if (raw.issuer === undefined) candidates.shift();
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const { name, what, source } of candidates) {
    if (isIP(name) !== 0 || seen.has(name.toLowerCase())) continue;
    seen.add(name.toLowerCase());
    // Refused rather than folded: clients differ on whether `host.` matches a certificate for
    // `host`, and a name that some clients dial with the dot would slip past checks written without it.
    if (name.endsWith('.')) {
      problems.push(`${source}: ${what} ${name} ends with a dot (an absolute DNS name): write it without the trailing dot (${name.slice(0, -1)})`);
    }
    const lower = normalizeDnsName(name);
    if (!isInZone(lower, dnsSuffix)) continue;
    problems.push(
      `${source}: ${what} ${lower} is inside ${zone}, the zone where Tessera's CA names services (<service>.<domain>.${dnsSuffix}): ` +
        `a service${exampleService(lower, dnsSuffix)} could get a certificate for Tessera's own host and answer as Tessera to every ` +
        `client that trusts its CA. Set ca.dnsSuffix to a zone of its own that none of Tessera's names are in, ` +
        `or serve Tessera under a name outside ${dnsSuffix}`,
    );
  }
  return problems;
}

/** The principal whose certificate would carry `name` today, when one can. */
function exampleService(name: string, suffix: string): string {
  const labels = name === suffix ? [] : name.slice(0, -(suffix.length + 1)).split('.');
  if (labels.length !== 2) return '';
  const [service, domain] = labels;
  return ` (here ${domain}.${service})`;
}
