// The CA over HTTP: the JSON API under /ca/v1 and EST under /.well-known/est, one fastify plugin.
// It speaks HTTP only: who may have a certificate is the proofs' business (ca/proofs), what a
// certificate says is the authority's (ca/authority.ts), and what was issued is the store's.

import type { FastifyInstance } from 'fastify';
import { errorHandler } from '../../http/errors.ts';
import type { Store } from '../../storage/store.ts';
import { certificateRoutes } from './certificates.ts';
import type { CrlIssuer } from './crl.ts';
import type { EnrollDeps } from './enroll.ts';
import { caDialect, caRefusal } from './errors.ts';
import { PKCS10_MEDIA_TYPE, estRoutes } from './est.ts';

export { BUNDLE_PATH, CERTIFICATES_PATH, CRL_PATH } from './certificates.ts';
export { crlIssuerOf } from './crl.ts';
export type { CrlIssuer } from './crl.ts';
export type { EnrollingCa } from './enroll.ts';
export { EST_PREFIX } from './est.ts';

export interface CaHttpDeps extends EnrollDeps {
  store: Pick<Store, 'listRevokedCertificates'>;
  /** The issuing CA's certificate and key, which sign the CRL. */
  crlIssuer(): Promise<CrlIssuer> | CrlIssuer;
  bodyLimit: number;
}

export async function caHttpApi(app: FastifyInstance, deps: CaHttpDeps): Promise<void> {
  await app.register(async (scope) => {
    // EST bodies are base64 text; the route decodes them.
    scope.addContentTypeParser(PKCS10_MEDIA_TYPE, { parseAs: 'string', bodyLimit: deps.bodyLimit }, (_request, body, done) => done(null, body));
    scope.setErrorHandler(errorHandler(caDialect, caRefusal));
    certificateRoutes(scope, deps);
    estRoutes(scope, deps);
  });
}
