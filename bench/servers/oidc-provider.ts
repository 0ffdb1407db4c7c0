// oidc-provider (panva), the reference OAuth server in Node, set up for the same job as
// Tessera: client_credentials with client_secret_basic, and JWT access tokens signed with
// ES256. oidc-provider issues JWTs only for a resource server (RFC 8707 resource indicators),
// so every request gets the default resource `beta`, whose roles are the scopes.

import { createServer } from 'node:http';
import type { JWK } from 'jose';
import Provider from 'oidc-provider';
import { serve, serverArgs } from './cluster.ts';

interface OidcArgs {
  port: number;
  processes: number;
  clientId: string;
  clientSecret: string;
  signingJwk: JWK;
  audience: string;
  roles: string[];
}

const args = serverArgs<OidcArgs>();
const resource = `urn:tessera-bench:${args.audience}`;

await serve({
  processes: args.processes,
  async start() {
    const provider = new Provider(`http://127.0.0.1:${args.port}`, {
      clients: [
        {
          client_id: args.clientId,
          client_secret: args.clientSecret,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: 'client_secret_basic',
          id_token_signed_response_alg: 'ES256',
          scope: args.roles.join(' '),
        },
      ],
      jwks: { keys: [{ ...args.signingJwk, use: 'sig', alg: 'ES256' }] },
      scopes: args.roles,
      ttl: { ClientCredentials: 3600 },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => resource,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: args.roles.join(' '),
            audience: args.audience,
            accessTokenTTL: 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          }),
        },
      },
    });
    const server = createServer(provider.callback());
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => server.listen(args.port, '127.0.0.1', resolve));
    return {
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  },
});
