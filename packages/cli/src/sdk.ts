// The CLI's one door to @tessera/sdk: every CLI module takes SDK functions from here (types may be
// imported from '@tessera/sdk' directly, since they are erased). Run as TypeScript (the repository:
// bin/tessera.ts, the tests) the SDK must come from its sources, which only the `tessera-source`
// export condition reaches; a static import would be resolved before anything could set it, so
// the condition is set first and the SDK loaded after. Built into dist/ (the installed command)
// this is a plain import of the installed package. docs/packages.md describes the condition.

import * as nodeModule from 'node:module';

if (import.meta.url.endsWith('.ts')) {
  // A namespace import, as in bin/tessera.ts: registerHooks is missing before Node 22.15.
  nodeModule.registerHooks({
    resolve: (specifier, context, nextResolve) =>
      specifier === '@tessera/sdk' && !context.conditions.includes('tessera-source')
        ? nextResolve(specifier, { ...context, conditions: [...context.conditions, 'tessera-source'] })
        : nextResolve(specifier, context),
  });
}

export const {
  CERTIFICATE_FILES,
  CERTIFICATE_MODE,
  CLIENT_ASSERTION_TYPE,
  CertificateRefresherError,
  InvalidTokenError,
  KEY_TYPES,
  KEY_MODE,
  TEMP_FILE,
  TokenClientError,
  VerifierError,
  assertionAlgorithm,
  basicAuthorization,
  buildCsr,
  checkIssuedCertificate,
  createCertificateRefresher,
  createVerifier,
  generateKey,
  keyTypeOf,
  privateKeyPem,
  scopeItemRole,
  replaceCertificateFiles,
  requestTokenResponse,
  splitCertificates,
  signClientAssertion,
} = await import('@tessera/sdk');
