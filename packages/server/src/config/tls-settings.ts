// The listener's certificate settings (`tls.*`): extra names for the self-issued certificate, or
// the operator's own certificate and key. Read through load.ts's setting reader so that their
// problems are reported with every other one. The files themselves are read when the server
// starts (http/server-certificate-files.ts), where a worker reads them again on every change.

import { isIP } from 'node:net';
import type { Config } from './config.ts';
import type { SettingReader } from './certificate-settings.ts';
import { settingAndSource, sourceOf } from './sources.ts';
import type { RawValue } from './sources.ts';
import { got, parsePath } from './values.ts';
import type { Parsed } from './values.ts';

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** What the URL standard reads as a number in the last label of a host, making it an IPv4 address. */
const NUMERIC_LABEL = /^(\d+|0x[0-9a-f]*)$/;
const NAMES_EXAMPLE = 'a list of DNS names or IP addresses such as ["auth.example.internal", "10.0.0.5"] (comma-separated in the environment)';

export function tlsSettings(reader: SettingReader, listen: URL): Config['tls'] {
  const { setting, pick, problems } = reader;
  const names = setting('tls.names', parseTlsNames);
  const files = ownFiles(reader);
  const extraNames = names.value.length > 0 ? names.raw : undefined;
  if (listen.protocol !== 'https:') {
    for (const raw of [extraNames, pick('tls.certFile') ?? pick('tls.keyFile')]) {
      if (raw === undefined) continue;
      problems.push(`${sourceOf(raw)}: only an https:// listener has a certificate, and the listen URL is ${listen.origin}; unset it, or listen on https://`);
    }
  } else if (extraNames !== undefined && files !== null) {
    // Silently ignored, they would leave the operator believing the certificate covers them.
    problems.push(
      `${sourceOf(extraNames)}: names are added to the self-issued certificate only, and ${settingAndSource(pick('tls.certFile')!)} is set: ` +
        'put the names in your certificate and unset them here, or unset the certificate files',
    );
  }
  return { names: names.value, files };
}

/**
 * Lower-case DNS names and IP addresses (IPv6 with or without brackets). Wildcards are refused:
 * the certificate's key would then answer for every name under the domain, and Tessera is
 * reached by a handful of names that can each be listed.
 */
export function parseTlsNames(value: unknown): Parsed<string[]> {
  const list =
    typeof value === 'string'
      ? value
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item !== '')
      : value;
  if (!Array.isArray(list) || list.some((item) => typeof item !== 'string')) return { problem: `expected ${NAMES_EXAMPLE}, ${got(value)}` };
  const names: string[] = [];
  for (const item of list as string[]) {
    const name = item
      .trim()
      .toLowerCase()
      .replace(/^\[(.*)\]$/, '$1');
    const zone = name.indexOf('%');
    if (zone !== -1) {
      return {
        problem:
          `${JSON.stringify(item)} has a zone id (${name.slice(zone)}): a zone names an interface of one machine, and a certificate ` +
          'names addresses only; write the address without it',
      };
    }
    if (isIP(name) !== 0) {
      names.push(new URL(`http://${isIP(name) === 6 ? `[${name}]` : name}`).hostname.replace(/^\[|\]$/g, ''));
    } else if (name.startsWith('*.')) {
      return {
        problem:
          `${JSON.stringify(item)} is a wildcard: the self-issued certificate covers named hosts only (a wildcard's key answers ` +
          'for every name under the domain); list each name, or bring a certificate with --tls-cert and --tls-key',
      };
    } else if (NUMERIC_LABEL.test(name.slice(name.lastIndexOf('.') + 1))) {
      return { problem: numericName(item, name) };
    } else if (name.length > 253 || !name.split('.').every((label) => DNS_LABEL.test(label))) {
      return {
        problem: `${JSON.stringify(item)} is neither a DNS name (letters, digits and hyphens in dot-separated labels) nor an IP address; fix or remove it`,
      };
    } else {
      names.push(name);
    }
  }
  return { value: [...new Set(names)] };
}

/**
 * A name whose last label is a number is an IPv4 address to URL parsers (`127.1`, `0x7f.0.0.1`)
 * or to none at all (`1.2.3.4.5`): clients would dial an address, never match a DNS name.
 */
function numericName(item: string, name: string): string {
  const address = URL.parse(`http://${name}`)?.hostname;
  if (address !== undefined && isIP(address) === 4) {
    return `${JSON.stringify(item)} is the IPv4 address ${address} in a short or hex form, which clients do not all read alike; write ${address}`;
  }
  return `${JSON.stringify(item)} ends in an all-numeric label, which no host name does (clients read such a name as an IPv4 address); fix or remove it`;
}

/** The certificate and its key are one setting in two files: either alone cannot serve TLS. */
function ownFiles({ pick, absolutePath, problems }: SettingReader): Config['tls']['files'] {
  const certRaw = pick('tls.certFile');
  const keyRaw = pick('tls.keyFile');
  if (certRaw === undefined && keyRaw === undefined) return null;
  if (certRaw === undefined || keyRaw === undefined) {
    const [set, unset] =
      certRaw === undefined ? [keyRaw!, 'tls.certFile (--tls-cert, TESSERA_TLS_CERT)'] : [certRaw, 'tls.keyFile (--tls-key, TESSERA_TLS_KEY)'];
    problems.push(
      `${settingAndSource(set)} is set but ${unset} is not: serving your own certificate needs both the certificate and its ` +
        "private key; set both, or neither to serve a certificate from Tessera's CA",
    );
    return null;
  }
  const paths = [certRaw, keyRaw].map((raw: RawValue) => {
    const parsed = parsePath(raw.value);
    if ('problem' in parsed) problems.push(`${sourceOf(raw)}: ${parsed.problem}`);
    return 'value' in parsed ? absolutePath(raw, parsed.value) : undefined;
  });
  const [certFile, keyFile] = paths;
  return certFile === undefined || keyFile === undefined ? null : { certFile, keyFile };
}
