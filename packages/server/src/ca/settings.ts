// The CA's settings, taken from the Config once, and the rotation timings derived from them.

import type { Config } from '../config/config.ts';
import { serverCertificateNames } from '../config/own-names.ts';
import type { CaImportFiles } from './import-ca.ts';
import type { RotationPolicy } from '../rotation/plan.ts';
import type { ServiceCertificateSettings } from './service-certificate.ts';

/** Tessera's own TLS certificate lasts at most this long, so an old CA's retention covers it too. */
export const MAX_SERVER_CERTIFICATE_LIFETIME_SECONDS = 30 * 86_400;

export interface CaSettings extends ServiceCertificateSettings {
  /** Seconds a prepared CA is in the bundle before it signs. */
  prePublication: number;
  /** Seconds of clock difference allowed to verifiers. */
  clockSkew: number;
  import: CaImportFiles | null;
}

export function caSettings(config: Pick<Config, 'ca' | 'clockSkew'> & Partial<Pick<Config, 'listen' | 'issuer' | 'tls'>>): CaSettings {
  const { trustDomain, dnsSuffix, certLifetime, maxCertLifetime, prePublication } = config.ca;
  // Tessera's own names are reserved whoever serves its certificate (self-issued or the
  // operator's files): clients dial them either way, and may trust the CA for them.
  const reservedDnsNames =
    config.listen === undefined || config.issuer === undefined ? [] : serverCertificateNames(config.listen, config.issuer, config.tls?.names ?? []).dnsNames;
  return { trustDomain, dnsSuffix, certLifetime, maxCertLifetime, prePublication, clockSkew: config.clockSkew, import: config.ca.import, reservedDnsNames };
}

export function caRotationPolicy(settings: CaSettings): RotationPolicy {
  const longestLeaf = Math.max(settings.maxCertLifetime, MAX_SERVER_CERTIFICATE_LIFETIME_SECONDS);
  return { prePublication: settings.prePublication * 1000, retention: (longestLeaf + settings.clockSkew) * 1000 };
}
