// DELETE /admin/v1/session: the caller ends its own admin session, the bearer token of this very
// request. The web console signs out with it, so it needs no client secret after sign-in (RFC 7009
// revocation authenticates the client). It gives no power the token does not already have, and
// takes no body and no token parameter: it can never name another token. The token is revoked by
// its jti until its exp, as /oauth2/revoke does, so tokens exchanged from it end too; audited as
// `session.revoke` under the caller's principal.
//
// DELETE /admin/v1/people/{principal}/binding: a system admin deletes the OpenID Connect identity a
// person principal is bound to (console/oidc.ts binds it at the first console sign-in), so that the
// person can sign in again with a new identity at the provider; the next sign-in binds again.
// Audited as `person.unbind`.

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import { NotFoundError } from '../../storage/errors.ts';
import { authorize } from '../authz.ts';
import { forbidden, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses, requireName } from '../wire.ts';

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

  app.delete(
    '/people/:principal/binding',
    {
      schema: {
        summary: "Delete a person principal's binding to its OpenID Connect identity (system admins)",
        description:
          "A person's first console sign-in binds their principal to the OpenID provider's issuer and subject (`iss`, `sub`); a later " +
          'sign-in to it with another identity is refused (403 `principal_bound`). Deleting the binding lets the next sign-in bind ' +
          "it again: do it only when the person's identity at the provider really changed. Audited as `person.unbind`.",
        tags: ['session'],
        security: [{ bearerAuth: [] }],
        params: { type: 'object', properties: { principal: { type: 'string', maxLength: 256 } }, required: ['principal'] },
        response: {
          200: {
            type: 'object',
            properties: { principal: { type: 'string' }, issuer: { type: 'string' }, subject: { type: 'string' }, boundAt: { type: 'string' } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      authorize(caller);
      const principal = requireName('principal', request.params.principal);
      try {
        const deleted = await store.deletePersonBinding(principal, { actor: caller.principal });
        return { principal, issuer: deleted.issuer, subject: deleted.subject, boundAt: new Date(deleted.boundAt).toISOString() };
      } catch (error) {
        if (error instanceof NotFoundError) throw notFound(`${principal} is bound to no OpenID Connect identity: its next console sign-in binds it`);
        throw error;
      }
    },
  );
}
