// Picks the one client authentication method a request uses. Adding a method means adding a
// module to the list the server is composed with, not growing a switch here.

import { BASIC_CHALLENGE } from '../../http/authorization.ts';
import { OAuthError, invalidRequest } from '../errors.ts';
import type { AuthenticatedClient, ClientAuthMethod, ClientAuthRequest } from './method.ts';

export async function authenticateClient(methods: readonly ClientAuthMethod[], request: ClientAuthRequest): Promise<AuthenticatedClient> {
  const used = methods.filter((method) => method.present(request));
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
