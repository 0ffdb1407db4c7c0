// RFC 6749 §4.4 client credentials grant. Shared by every command that needs an access token:
// `admin` with a client secret, `token` with any client authentication method.

import { CliError } from './errors.ts';
import { basicAuthorization } from './sdk.ts';
import type { HttpClient } from './http-client.ts';

export interface ClientSecretGrant {
  tokenEndpoint: URL;
  clientId: string;
  clientSecret: string;
  scope: string;
  expiresIn?: number;
}

/** How one request authenticates the client: headers (client_secret_basic), form parameters, or both. */
export interface ClientAuthentication {
  headers?: Record<string, string>;
  form?: Record<string, string>;
}

export interface TokenGrant {
  tokenEndpoint: URL;
  scope: string;
  expiresIn?: number;
  authentication: ClientAuthentication;
}

/** RFC 6749 §5.1 plus Tessera's optional ID token. */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  scope?: string;
  id_token?: string;
  [extra: string]: unknown;
}

export function requestClientCredentialsToken(http: HttpClient, grant: ClientSecretGrant): Promise<TokenResponse> {
  return requestToken(http, {
    tokenEndpoint: grant.tokenEndpoint,
    scope: grant.scope,
    expiresIn: grant.expiresIn,
    authentication: { headers: { authorization: basicAuthorization(grant.clientId, grant.clientSecret) } },
  });
}

export async function requestToken(http: HttpClient, grant: TokenGrant): Promise<TokenResponse> {
  const form: Record<string, string> = { grant_type: 'client_credentials', scope: grant.scope };
  if (grant.expiresIn !== undefined) form.expires_in = String(grant.expiresIn);
  const { body } = await http.send({
    method: 'POST',
    url: grant.tokenEndpoint,
    headers: grant.authentication.headers,
    form: { ...form, ...grant.authentication.form },
    label: `token request to ${grant.tokenEndpoint.href}`,
  });
  const token = body as Partial<TokenResponse> | null;
  if (typeof token?.access_token !== 'string' || token.access_token === '') {
    throw new CliError(`token endpoint ${grant.tokenEndpoint.href} answered without an access_token`);
  }
  return token as TokenResponse;
}
