// Plain node:http: wrap a handler, `http.createServer(auth(handler, { scope: [...] }))` or one
// wrap per route in your own router. The handler runs only for a verified caller and gets its
// AuthContext as a third argument (and on `req.auth`).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthContext, Verifier } from '../verifier/create-verifier.ts';
import { VerifierError } from '../verifier/errors.ts';
import type { Requirement } from '../verifier/roles.ts';
import { createAuthenticator, type AuthOptions } from './authenticate.ts';

export type AuthenticatedHandler = (req: IncomingMessage & { auth: AuthContext }, res: ServerResponse, auth: AuthContext) => unknown;

export interface NodeAuthOptions extends AuthOptions {
  /** Told about errors that are not refusals (a throwing handler, a verifier bug); the caller gets a 500. */
  onError?: (error: unknown, req: IncomingMessage) => void;
}

export function nodeAuth(
  verifier: Verifier,
  options: NodeAuthOptions = {},
): (handler: AuthenticatedHandler, requirement?: Requirement) => (req: IncomingMessage, res: ServerResponse) => void {
  const authenticator = createAuthenticator(verifier, options);
  return (handler, requirement) => {
    const compiled = verifier.requirement(requirement ?? {});
    return (req, res) => {
      const run = async (): Promise<void> => {
        const auth = await authenticator.authenticate(req, compiled);
        const authenticated = Object.assign(req, { auth });
        await handler(authenticated, res, auth);
      };
      run().catch((error: unknown) => {
        if (error instanceof VerifierError && !res.headersSent) {
          const { status, headers, body } = authenticator.refusal(error);
          res.writeHead(status, headers).end(JSON.stringify(body));
          return;
        }
        options.onError?.(error, req);
        if (!res.headersSent)
          res
            .writeHead(500, { 'content-type': 'application/json; charset=utf-8' })
            .end('{"error":"server_error","error_description":"the request failed inside the service"}');
        else res.destroy();
      });
    };
  };
}
