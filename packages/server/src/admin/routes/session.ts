// DELETE /admin/v1/session: the caller ends its own admin session, the bearer token of this very
// request. The web console signs out with it, so it needs no client secret after sign-in (RFC 7009
// revocation authenticates the client). It gives no power the token does not already have, and
// takes no body and no token parameter: it can never name another token. The token is revoked by
// its jti until its exp, as /oauth2/revoke does, so tokens exchanged from it end too; audited as
// `session.revoke` under the caller's principal.

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import { forbidden } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses } from '../wire.ts';

export function sessionRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf } = deps;

  app.delete(
    '/session',
    {
      schema: {
        summary: "Revoke the request's own bearer token (sign out)",
        description:
          'Revokes exactly the access token this request is authenticated with, until it expires (and every token exchanged from it), ' +
          'as `POST /oauth2/revoke` would, without client authentication. It takes no body and cannot revoke any other token. ' +
          'Any admin token may call it; the next call with the token answers 401.',
        tags: ['session'],
        security: [{ bearerAuth: [] }],
        response: { 204: { type: 'null', description: 'Revoked' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      // As every admin route: a token without an admin role is not an admin session.
      if (caller.adminOf.size === 0) {
        throw forbidden(`${caller.principal} may not do this: the token carries no admin role; revoke a service's token with POST /oauth2/revoke`);
      }
      const { jti, expiresAt } = caller.token;
      await store.revokeToken({ jti, principal: caller.principal, expiresAt }, { actor: caller.principal }, 'session.revoke');
      return reply.code(204).send();
    },
  );
}
