// Client certificates presented to Tessera (mutual TLS, RFC 8705): where they come from, whether
// they are trusted, and who they name. The token endpoint's certificate methods, certificate
// login and certificate renewal all use this surface; none of them validates certificates itself.

export { createClientCertificates, readCaFiles } from './peer-certificate.ts';
export { tesseraCaSource } from './tessera-cas.ts';
export type { TesseraCa } from './tessera-cas.ts';
export type {
  ClientCertificates,
  ClientCertificatesDeps,
  ExternalCa,
  PresentedCertificate,
  TlsRequest,
  VerifiedClientCertificate,
} from './peer-certificate.ts';
export { ClientCertificateError } from './errors.ts';
export type { ClientCertificateProblem } from './errors.ts';
export type { CertificateSource } from './chain.ts';
export { CLIENT_AUTH_EKU, certificateThumbprint, subjectText } from './identity.ts';
export type { CertificateNames, ClientAuthEkuRule } from './identity.ts';
export { compileMappings } from './mapping.ts';
export type { CertificateMapper } from './mapping.ts';
