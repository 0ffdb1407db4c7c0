// What a verifier needs to check Tessera's tokens offline: the JWKS (RFC 7517) and the
// authorization server metadata (RFC 8414 / OpenID Connect Discovery).

import type { FastifyInstance } from 'fastify';
import type { SigningAlg } from '../storage/records.ts';
import { INTROSPECTION_PATH } from './introspect.ts';
import { REVOCATION_PATH } from './revoke.ts';
import { TOKEN_EXCHANGE_GRANT } from './grants/token_exchange.ts';
import { TOKEN_PATHS } from './token-endpoint.ts';

export const JWKS_PATHS = ['/oauth2/keys', '/.well-known/jwks.json'] as const;

export interface DiscoveryDeps {
  issuer: string;
  /** The serialized JWKS; changes only when the key set does. */
  jwksJson: () => string;
  jwksMaxAge: number;
  authMethods: () => readonly string[];
  /** Algorithms accepted on private_key_jwt client assertions. */
  authSigningAlgorithms: readonly string[];
  algorithms: readonly SigningAlg[];
}

export function discoveryRoutes(app: FastifyInstance, deps: DiscoveryDeps): void {
  for (const path of JWKS_PATHS) {
    app.get(path, { schema: { summary: 'The token-signing public keys (JWKS)', tags: ['keys'], hide: path !== JWKS_PATHS[0] } }, async (_request, reply) => {
      return reply
        .header('content-type', 'application/jwk-set+json; charset=utf-8')
        .header('cache-control', `public, max-age=${deps.jwksMaxAge}`)
        .send(deps.jwksJson());
    });
  }

  const metadata = (): Record<string, unknown> => ({
    issuer: deps.issuer,
    token_endpoint: `${deps.issuer}${TOKEN_PATHS[0]}`,
    jwks_uri: `${deps.issuer}${JWKS_PATHS[0]}`,
    grant_types_supported: ['client_credentials', TOKEN_EXCHANGE_GRANT],
    response_types_supported: ['token'],
    subject_types_supported: ['public'],
    token_endpoint_auth_methods_supported: deps.authMethods(),
    token_endpoint_auth_signing_alg_values_supported: deps.authSigningAlgorithms,
    // RFC 8705 §3.3; no mtls_endpoint_aliases: mutual TLS is optional on the one listener.
    tls_client_certificate_bound_access_tokens: deps.authMethods().includes('tls_client_auth'),
    introspection_endpoint: `${deps.issuer}${INTROSPECTION_PATH}`,
    introspection_endpoint_auth_methods_supported: deps.authMethods(),
    introspection_endpoint_auth_signing_alg_values_supported: deps.authSigningAlgorithms,
    revocation_endpoint: `${deps.issuer}${REVOCATION_PATH}`,
    revocation_endpoint_auth_methods_supported: deps.authMethods(),
    revocation_endpoint_auth_signing_alg_values_supported: deps.authSigningAlgorithms,
    id_token_signing_alg_values_supported: deps.algorithms,
    access_token_signing_alg_values_supported: deps.algorithms,
    scopes_supported: ['openid'],
    claims_supported: ['ver', 'iss', 'aud', 'sub', 'uid', 'client_id', 'iat', 'nbf', 'exp', 'jti', 'scp', 'scope', 'cnf', 'act', 'auth_time'],
  });
  for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
    app.get(path, { schema: { summary: 'Authorization server metadata (RFC 8414)', tags: ['keys'] } }, async (_request, reply) => {
      return reply.header('cache-control', 'public, max-age=300').send(metadata());
    });
  }
}
