// The certificate refresher's public surface (docs/certificates.md).

export { createCertificateRefresher } from './refresher.ts';
export { CertificateRefresherError, type CertificateRefresherErrorCode, type CertificateRefresherErrorDetails } from './errors.ts';
export type { KeyType } from './keys.ts';
export type { CaClient, CertificateProof, IssueAnswer, IssueRequest } from './ca-client.ts';

// Building blocks of the refresher, public for tools that keep certificates their own way (the
// `tessera cert` command): the same keys, CSRs and renewal schedule as the refresher.
export { ACCEPTED_KEYS, KEY_TYPES, assertionAlgorithm, describeKey, generateKey, keyTypeOf, privateKeyPem } from './keys.ts';
export { buildCsr } from './csr.ts';
export { checkIssuedCertificate, splitCertificates, type IssuedCertificate } from './held.ts';
export { CERTIFICATE_FILES, CERTIFICATE_MODE, KEY_MODE, TEMP_FILE, replaceCertificateFiles, type CertificateFile } from './files.ts';
export {
  DEFAULT_POLICY,
  FIRST_RETRY_MS,
  MAX_RETRY_MS,
  MAX_TIMER_MS,
  MIN_RENEWAL_GAP_MS,
  nextRenewal,
  renewalTime,
  retryDelay,
  type RenewalPolicy,
} from './schedule.ts';
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
  RefresherTimers,
  RegisteredKeyBootstrap,
  RenewedEvent,
  SecureContextTarget,
  TlsMaterial,
} from './options.ts';
