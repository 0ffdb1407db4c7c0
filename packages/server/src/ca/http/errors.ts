// The CA endpoints answer errors as the admin API does, JSON `{"error", "message"}`: 400
// invalid_request (the body or CSR is wrong), 401 invalid_proof (the proof proves nothing), 403
// forbidden (it proves a principal that may not have this certificate), 503
// temporarily_unavailable (something the proof depends on did not answer; retry), and 429
// rate_limited with Retry-After when one address sends too many requests.

import type { FastifyBaseLogger } from 'fastify';
import { HttpError, describeError, type ClientFacingError } from '../../http/errors.ts';
import { ClientCertificateError } from '../../mtls/index.ts';
import { InvalidCertificateRequestError } from '../errors.ts';
import { ProofError } from '../proofs/index.ts';

export class CaRequestError extends HttpError {
  constructor(status: number, error: string, message: string, headers: Readonly<Record<string, string>> = {}) {
    super(status, error, message, { headers });
  }
}

export function caErrorAnswer(error: unknown, log: FastifyBaseLogger): ClientFacingError & { headers?: CaRequestError['headers'] } {
  if (error instanceof CaRequestError) {
    return { status: error.status, error: error.error, message: error.message, headers: error.headers };
  }
  if (error instanceof ProofError) {
    if (error.status === 503) log.warn({ err: error.cause }, error.message);
    return { status: error.status, error: error.error, message: error.message };
  }
  if (error instanceof InvalidCertificateRequestError) return { status: 400, error: 'invalid_request', message: error.message };
  if (error instanceof ClientCertificateError) {
    if (error.problem === 'expired' || error.problem === 'revoked') {
      // "Renew it" is exactly what cannot work with this certificate: say how to start over.
      const reason = error.message.replace(/;\s*(renew it|get a new certificate)\.?$/, '');
      return { status: 401, error: 'invalid_proof', message: `${reason}; renewal needs a valid certificate, so bootstrap a new one with a join token or a registered key` };
    }
    return { status: 401, error: 'invalid_proof', message: `the client certificate was refused: ${error.message}` };
  }
  return describeError(error, log);
}
