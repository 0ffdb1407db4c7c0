// The certificate sections of the Config (docs/configuration.md): `ca`, `mtls`, `joinTokens`, `oidcProofs` and
// `certLogin`, read through load.ts's setting reader so their problems are reported with every
// other one, and checked against each other.

import type { Config } from './config.ts';
import { certLoginMappingsParser, parseDnsSuffix, parseHeaderName, parseOidcProofs, parseTrustDomain, pemFileListParser } from './certificate-values.ts';
import { settingAndSource, sourceOf } from './sources.ts';
import type { RawValue, SettingKey } from './sources.ts';
import { durationParser, formatDuration, parseBoolean, parsePath } from './values.ts';
import type { Parsed } from './values.ts';

export interface ReadSetting {
  <T>(key: SettingKey, parse: (value: unknown) => Parsed<T>): { value: T; raw: RawValue | undefined; valid: boolean };
}

export interface SettingReader {
  setting: ReadSetting;
  pick(key: SettingKey): RawValue | undefined;
  /** A path from a setting, absolute: relative to the config file it was written in, else to cwd. */
  absolutePath(raw: RawValue | undefined, path: string): string;
  problems: string[];
}

type CertificateSections = Pick<Config, 'ca' | 'mtls' | 'joinTokens' | 'oidcProofs' | 'certLogin'>;

/**
 * A service certificate longer than this keeps an old CA's root in the bundle that long after a
 * rotation, and outlives any sensible renewal schedule; long-lived identities belong in keys.
 */
const LONGEST_CERT_LIFETIME = { seconds: 365 * 86_400, why: 'service certificates are short-lived and renewed' };

export function certificateSettings(reader: SettingReader, signing: Config['signing'], trustedProxies: readonly string[]): CertificateSections {
  const { setting, pick, absolutePath, problems } = reader;
  const lifetime = durationParser({ min: 60, max: LONGEST_CERT_LIFETIME });
  const certLifetime = setting('ca.certLifetime', lifetime);
  const maxCertLifetime = setting('ca.maxCertLifetime', lifetime);
  const prePublication = setting('ca.prePublication', durationParser({ min: 1 }));
  if (certLifetime.valid && maxCertLifetime.valid && certLifetime.value > maxCertLifetime.value) {
    problems.push(
      `${settingAndSource(certLifetime.raw!)} is ${formatDuration(certLifetime.value)} but ${settingAndSource(maxCertLifetime.raw!)} is ` +
        `${formatDuration(maxCertLifetime.value)}: the default certificate lifetime cannot exceed the maximum`,
    );
  }
  if (prePublication.valid && prePublication.value < signing.checkInterval) {
    problems.push(
      `${settingAndSource(prePublication.raw!)} is ${formatDuration(prePublication.value)} but must be at least signing.checkInterval ` +
        `(${formatDuration(signing.checkInterval)}): instances load a new CA up to one check interval late, and must have it before it signs`,
    );
  }

  const pemFiles = (key: SettingKey) =>
    setting(
      key,
      pemFileListParser((path) => absolutePath(pick(key), path)),
    );
  const proxyCertHeader = setting('mtls.proxyCertHeader', parseHeaderName);
  if (proxyCertHeader.value !== null && trustedProxies.length === 0) {
    problems.push(
      `${sourceOf(proxyCertHeader.raw!)}: a client certificate in a header is believed only from the proxies in trustedProxies ` +
        '(TESSERA_TRUSTED_PROXIES), which is empty; set it to the proxy addresses, or unset the header',
    );
  }

  const externalCas = pemFiles('mtls.externalCas');
  const trustedCas = pemFiles('certLogin.trustedCas');
  const mappingsParser = certLoginMappingsParser((path) => absolutePath(pick('certLogin.mappings'), path));
  const mappings = setting('certLogin.mappings', mappingsParser);
  if (mappings.valid) {
    const known = new Set([...externalCas.value, ...trustedCas.value]);
    mappings.value.forEach((mapping, index) => {
      for (const file of mapping.cas.filter((ca) => !known.has(ca))) {
        problems.push(
          `${sourceOf(mappings.raw!)}[${index}].cas names ${file}, which is not a file of mtls.externalCas or ` +
            'certLogin.trustedCas; a mapping applies only to certificates of a CA trusted there: list the file in one of ' +
            'them, or name one that is',
        );
      }
    });
  }

  const ttl = durationParser({ min: 1 });
  const defaultTtl = setting('joinTokens.defaultTtl', ttl);
  const maxTtl = setting('joinTokens.maxTtl', ttl);
  if (defaultTtl.valid && maxTtl.valid && defaultTtl.value > maxTtl.value) {
    problems.push(
      `${settingAndSource(defaultTtl.raw!)} is ${formatDuration(defaultTtl.value)} but ${settingAndSource(maxTtl.raw!)} is ` +
        `${formatDuration(maxTtl.value)}: the default join-token lifetime cannot exceed the maximum`,
    );
  }

  return {
    ca: {
      trustDomain: setting('ca.trustDomain', parseTrustDomain).value,
      dnsSuffix: setting('ca.dnsSuffix', parseDnsSuffix).value,
      certLifetime: certLifetime.value,
      maxCertLifetime: maxCertLifetime.value,
      prePublication: prePublication.value,
      import: caImport(reader),
    },
    mtls: { externalCas: externalCas.value, proxyCertHeader: proxyCertHeader.value },
    joinTokens: { defaultTtl: defaultTtl.value, maxTtl: maxTtl.value },
    oidcProofs: setting('oidcProofs', parseOidcProofs).value,
    certLogin: {
      enabled: setting('certLogin.enabled', parseBoolean).value,
      requireClientAuthEku: setting('certLogin.requireClientAuthEku', parseBoolean).value,
      trustedCas: trustedCas.value,
      mappings: mappings.value,
    },
  };
}

/** The key and the chain are one setting in two files: either alone cannot make a CA. */
function caImport({ pick, absolutePath, problems }: SettingReader): Config['ca']['import'] {
  const keyRaw = pick('ca.import.keyFile');
  const chainRaw = pick('ca.import.chainFile');
  if (keyRaw === undefined && chainRaw === undefined) return null;
  if (keyRaw === undefined || chainRaw === undefined) {
    const [set, unset] =
      keyRaw === undefined ? [chainRaw!, 'ca.import.keyFile (TESSERA_CA_KEY_FILE)'] : [keyRaw, 'ca.import.chainFile (TESSERA_CA_CHAIN_FILE)'];
    problems.push(
      `${settingAndSource(set)} is set but ${unset} is not: an imported CA needs both its private key and its certificate chain; set both, or neither to use the generated CA`,
    );
    return null;
  }
  const files: string[] = [];
  for (const raw of [keyRaw, chainRaw]) {
    const parsed = parsePath(raw.value);
    if ('problem' in parsed) problems.push(`${sourceOf(raw)}: ${parsed.problem}`);
    else files.push(absolutePath(raw, parsed.value));
  }
  const [keyFile, chainFile] = files;
  return keyFile === undefined || chainFile === undefined ? null : { keyFile, chainFile };
}
