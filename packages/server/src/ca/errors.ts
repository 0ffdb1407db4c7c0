// Errors the CA raises, each with a stable `code` callers branch on. A sealed key that does not
// open raises keys/master-key.ts's MasterKeyMismatchError (code MASTER_KEY_MISMATCH), so one
// wrong-master-key check covers the CA and the token-signing keys alike.

/** A certificate request the CA refuses: a malformed name, an empty SAN set, a bad lifetime. */
export class InvalidCertificateRequestError extends Error {
  readonly code = 'CA_INVALID_REQUEST';
}

/** A stored CA record that cannot serve: unparsable chain, key not matching it, other trust domain. */
export class InvalidCaRecordError extends Error {
  readonly code = 'CA_RECORD_INVALID';
}
