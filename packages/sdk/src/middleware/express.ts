// Express: `app.use(auth())` for every route after it, `auth({ scope: [...] })` per route; the
// caller's AuthContext lands on `req.auth`. Written against node:http types, so the SDK does
// not depend on express and the same function works with connect-style frameworks.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthContext, Verifier } from '../verifier/create-verifier.ts';
import { VerifierError } from '../verifier/errors.ts';
import type { Requirement } from '../verifier/roles.ts';
import { createAuthenticator, type AuthOptions } from './authenticate.ts';

export type ExpressMiddleware = (req: IncomingMessage & { auth?: AuthContext }, res: ServerResponse, next: (error?: unknown) => void) => void;

/** Returns a factory: call it with a route's requirement (or none) to get the middleware. */
export function expressAuth(verifier: Verifier, options: AuthOptions = {}): (requirement?: Requirement) => ExpressMiddleware {
  const authenticator = createAuthenticator(verifier, options);
  return (requirement) => {
    const compiled = verifier.requirement(requirement ?? {});
    return (req, res, next) => {
      const check = async (): Promise<void> => {
        if (authenticator.produced(req.auth)) compiled.check(req.auth.roles);
        else req.auth = await authenticator.authenticate(req, compiled);
      };
      check().then(
        () => next(),
        (error: unknown) => {
          if (!(error instanceof VerifierError)) return next(error);
          const { status, headers, body } = authenticator.refusal(error);
          res.writeHead(status, headers).end(JSON.stringify(body));
        },
      );
    };
  };
}
