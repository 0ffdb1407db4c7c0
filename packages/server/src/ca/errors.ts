// Errors the CA raises, each with a stable `code` callers branch on. A sealed key that does not
// open raises keys/master-key.ts's MasterKeyMismatchError (code MASTER_KEY_MISMATCH), so one
// wrong-master-key check covers the CA and the token-signing keys alike.
//
// `statusCode` is what an HTTP layer answers when it has no better mapping: http/errors.ts turns
// a 4xx statusCode into that status with the error's message, so a refused request is never a 500.

/** A certificate request the CA refuses: a malformed CSR or name, a name that is not the identity's, a bad lifetime. */
export class InvalidCertificateRequestError extends Error {
  readonly code = 'CA_INVALID_REQUEST';
  readonly statusCode = 400;
}

/** A stored CA record that cannot serve: unparsable chain, key not matching it, other trust domain. */
export class InvalidCaRecordError extends Error {
  readonly code = 'CA_RECORD_INVALID';
}

/** `ca.import` files that cannot be a CA: unreadable, mismatched key and certificate, broken or expired chain. */
export class CaImportError extends Error {
  readonly code = 'CA_IMPORT_INVALID';
}

/** A rotation Tessera cannot perform itself, e.g. of an imported CA (it holds no key to make a successor). */
export class CaRotationRefusedError extends Error {
  readonly code = 'CA_ROTATION_REFUSED';
  readonly statusCode = 409;
}
