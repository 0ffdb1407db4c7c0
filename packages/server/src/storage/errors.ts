// Storage errors the HTTP layer turns into 400, 404 and 409. Anything else from storage is an
// outage (503) or a bug (500).

export class NotFoundError extends Error {
  readonly code = 'NOT_FOUND';
}

export class ConflictError extends Error {
  readonly code = 'CONFLICT';
}

/** A decision on a pending change that another decision came before (or that expired meanwhile): nothing was changed. */
export class AlreadyDecidedError extends ConflictError {}

export class StorageUnavailableError extends Error {
  readonly code = 'STORAGE_UNAVAILABLE';
}

/**
 * A concurrent change got in the way and the database rolled the transaction back whole
 * (PostgreSQL: a deadlock, a serialization failure): nothing was written, and the same request
 * made again goes through. Not an outage.
 */
export class ConcurrentChangeError extends Error {
  readonly code = 'CONCURRENT_CHANGE';
}

/** A value the database cannot hold (PostgreSQL refuses a NUL byte in text, for one). */
export class InvalidValueError extends Error {
  readonly code = 'INVALID_VALUE';
}
