// Picks the one client authentication method a request uses. Adding a method means adding a
// module to the list the server is composed with, not growing a switch here.
//
// RFC 8705 lets a client that holds a certificate still authenticate another way, and RFC 6749
// §2.3 allows one method per request, so ambient credentials (a TLS client certificate) count
// only when the request carries no explicit ones; the certificate is then not even read.

import { BASIC_CHALLENGE } from '../../http/authorization.ts';
import { OAuthError, invalidRequest } from '../errors.ts';
import type { AuthenticatedClient, ClientAuthMethod, ClientAuthRequest } from './method.ts';

export async function authenticateClient(methods: readonly ClientAuthMethod[], request: ClientAuthRequest): Promise<AuthenticatedClient> {
  // The common case (one explicit method) allocates nothing: a list is made only for a second method.
  let method = presentMethods(methods, request, false);
  if (method === undefined) method = presentMethods(methods, request, true);
  if (Array.isArray(method)) {
    throw invalidRequest(`the request uses ${method.map((m) => m.name).join(' and ')} at once; use exactly one client authentication method`);
  }
  if (!method) {
    throw new OAuthError(401, 'invalid_client', `no client authentication: use one of ${methods.map((m) => m.name).join(', ')}`, {
      errorCode: 'AUTH_101',
      headers: { 'www-authenticate': BASIC_CHALLENGE },
    });
  }
  return method.authenticate(request);
}

/** The one method of the kind (ambient or explicit) the request presents, every one when several, undefined when none. */
function presentMethods(methods: readonly ClientAuthMethod[], request: ClientAuthRequest, ambient: boolean): ClientAuthMethod | ClientAuthMethod[] | undefined {
  let found: ClientAuthMethod | ClientAuthMethod[] | undefined;
  for (const method of methods) {
    if ((method.ambient === true) !== ambient || !method.present(request)) continue;
    if (found === undefined) found = method;
    else if (Array.isArray(found)) found.push(method);
    else found = [found, method];
  }
  return found;
}

export type { AuthenticatedClient, ClientAuthMethod, ClientAuthRequest } from './method.ts';
