// The certificate refresher's public surface (docs/certificates.md).

export { createCertificateRefresher } from './refresher.ts';
export { CertificateRefresherError, type CertificateRefresherErrorCode, type CertificateRefresherErrorDetails } from './errors.ts';
export type { KeyType } from './keys.ts';
export type {
  BundleEvent,
  CertificateBootstrap,
  CertificateInfo,
  CertificateRefresher,
  CertificateRefresherEvents,
  CertificateRefresherOptions,
  ExpiringEvent,
  FailedEvent,
  JoinTokenBootstrap,
  OidcTokenBootstrap,
  RegisteredKeyBootstrap,
  RenewedEvent,
  SecureContextTarget,
  TlsMaterial,
} from './options.ts';
