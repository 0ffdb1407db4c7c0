// Admin API errors: JSON `{"error", "message"}` with 400/401/403/404/409.

import { BEARER_CHALLENGE } from '../http/authorization.ts';
import { HttpError, jsonDialect, type ErrorDialect } from '../http/errors.ts';

export class AdminError extends HttpError {
  constructor(status: number, error: string, message: string) {
    super(status, error, message);
  }
}

export const badRequest = (message: string): AdminError => new AdminError(400, 'invalid_request', message);
export const notFound = (message: string): AdminError => new AdminError(404, 'not_found', message);
export const forbidden = (message: string): AdminError => new AdminError(403, 'forbidden', message);

/** `{"error", "message"}`; a 401 asks for a Bearer token (RFC 6750 §3). */
export const adminDialect: ErrorDialect = jsonDialect({ challenge: () => BEARER_CHALLENGE });
