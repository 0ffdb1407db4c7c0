// The CA's public surface for the rest of the server. issue-certificate.ts stays internal to
// the CA: other modules ask the CertificateAuthority for certificates, never sign directly.

export { loadCertificateAuthority } from './authority.ts';
export type { CaGenerationInfo, CaLogger, CaStore, CertificateAuthority, CertificateAuthorityOptions, ForcedCaRotationResult } from './authority.ts';
export type { IssuedCertificate, ServerCertificateRequest } from './server-certificate.ts';
export { caRotationPolicy, caSettings, MAX_SERVER_CERTIFICATE_LIFETIME_SECONDS } from './settings.ts';
export type { CaSettings } from './settings.ts';
export { writeBundleFile } from './bundle-file.ts';
export { createCa, INTERMEDIATE_LIFETIME_SECONDS, ROOT_LIFETIME_SECONDS } from './create-ca.ts';
export type { CreateCaOptions, NewCa } from './create-ca.ts';
export { MAX_CSR_BYTES, parseCsr } from './csr.ts';
export type { CertificateRequest, RequestedNames } from './csr.ts';
export { CaImportError, CaRotationRefusedError, InvalidCaRecordError, InvalidCertificateRequestError } from './errors.ts';
export type { IssuedServiceCertificate, ServiceCertificateRequest } from './service-certificate.ts';
export { serviceIdentity } from './service-identity.ts';
export type { ServiceIdentity } from './service-identity.ts';
export { thumbprintOf } from './x509.ts';
