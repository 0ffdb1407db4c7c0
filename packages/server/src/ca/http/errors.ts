// The CA endpoints answer errors as the admin API does, JSON `{"error", "message"}`: 400
// invalid_request (the body or CSR is wrong), 401 invalid_proof (the proof proves nothing), 403
// forbidden (it proves a principal that may not have this certificate), 503
// temporarily_unavailable (something the proof depends on did not answer; retry), and 429
// rate_limited with Retry-After when one address sends too many requests.

import { EST_CHALLENGE } from '../../http/authorization.ts';
import { HttpError, jsonDialect, type ErrorDialect } from '../../http/errors.ts';
import { ClientCertificateError } from '../../mtls/index.ts';
import { InvalidCertificateRequestError } from '../errors.ts';

export class CaRequestError extends HttpError {
  constructor(status: number, error: string, message: string, headers: Readonly<Record<string, string>> = {}) {
    super(status, error, message, { headers });
  }
}

/** The admin API's `{"error", "message"}`; a 401 under EST tells the client how to authenticate (RFC 7030 §3.2.3). */
export const caDialect: ErrorDialect = jsonDialect({
  challenge: (request) => (request.url.startsWith('/.well-known/est/') ? EST_CHALLENGE : undefined),
});

/** The CA's refusals of a CSR or a client certificate, as the CA answers them; any other error as it is. */
export function caRefusal(error: unknown): unknown {
  if (error instanceof InvalidCertificateRequestError) return new CaRequestError(400, 'invalid_request', error.message);
  if (error instanceof ClientCertificateError) {
    if (error.problem === 'expired' || error.problem === 'revoked') {
      // "Renew it" is exactly what cannot work with this certificate: say how to start over.
      const reason = error.message.replace(/;\s*(renew it|get a new certificate)\.?$/, '');
      return new CaRequestError(
        401,
        'invalid_proof',
        `${reason}; renewal needs a valid certificate, so bootstrap a new one with a join token or a registered key`,
      );
    }
    return new CaRequestError(401, 'invalid_proof', `the client certificate was refused: ${error.message}`);
  }
  return error;
}
