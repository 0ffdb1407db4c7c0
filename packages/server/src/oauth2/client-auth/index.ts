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
  const explicit = methods.filter((method) => method.ambient !== true && method.present(request));
  const used = explicit.length > 0 ? explicit : methods.filter((method) => method.ambient === true && method.present(request));
  if (used.length > 1) {
    throw invalidRequest(`the request uses ${used.map((m) => m.name).join(' and ')} at once; use exactly one client authentication method`);
  }
  const [method] = used;
  if (!method) {
    throw new OAuthError(401, 'invalid_client', `no client authentication: use one of ${methods.map((m) => m.name).join(', ')}`, {
      errorCode: 'AUTH_101',
      headers: { 'www-authenticate': BASIC_CHALLENGE },
    });
  }
  return method.authenticate(request);
}

export type { AuthenticatedClient, ClientAuthMethod, ClientAuthRequest } from './method.ts';
