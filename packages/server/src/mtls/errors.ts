// Why a presented client certificate was refused. Each caller words the refusal in its own
// dialect (OAuth `invalid_client` at the token endpoint, the CA's errors for renewal); the
// `statusCode` makes any path that forgets to translate still answer 401, never 500.

export type ClientCertificateProblem = 'malformed' | 'untrusted' | 'expired' | 'not-yet-valid' | 'revoked' | 'wrong-usage';

export class ClientCertificateError extends Error {
  readonly code = 'CLIENT_CERTIFICATE_REJECTED';
  readonly statusCode = 401;
  readonly problem: ClientCertificateProblem;
  constructor(problem: ClientCertificateProblem, message: string) {
    super(message);
    this.problem = problem;
  }
}
