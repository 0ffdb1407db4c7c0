// Storage errors the HTTP layer turns into 404 and 409. Anything else from storage is an
// outage (503), never a client error.

export class NotFoundError extends Error {
  readonly code = 'NOT_FOUND';
}

export class ConflictError extends Error {
  readonly code = 'CONFLICT';
}

export class StorageUnavailableError extends Error {
  readonly code = 'STORAGE_UNAVAILABLE';
}
