// The CA's public surface for the rest of the server. issue-certificate.ts stays internal to
// the CA: other modules ask the CertificateAuthority for certificates, never sign directly.

export { loadOrCreateCa, openCa } from './authority.ts';
export type { CaStore, CertificateAuthority, IssuedCertificate, ServerCertificateRequest } from './authority.ts';
export { createCa, INTERMEDIATE_LIFETIME_SECONDS, ROOT_LIFETIME_SECONDS } from './create-ca.ts';
export type { CreateCaOptions, NewCa } from './create-ca.ts';
export { InvalidCaRecordError, InvalidCertificateRequestError } from './errors.ts';
