// POST /oauth2/token (and Athenz's /zts/v1/oauth2/token): authenticate the client with exactly
// one method, check its standing, run the client credentials grant. Every answer carries
// `Cache-Control: no-store` (RFC 6749 §5.1).

import type { FastifyInstance } from 'fastify';
import { authenticateClient, type ClientAuthMethod } from './client-auth/index.ts';
import { claimedClientId, formEndpoint } from './form-endpoint.ts';
import type { TokenService } from './token-service.ts';

export const TOKEN_PATHS = ['/oauth2/token', '/zts/v1/oauth2/token'] as const;

export interface TokenEndpointDeps {
  tokens: TokenService;
  methods: readonly ClientAuthMethod[];
  bodyLimit: number;
}

const tokenSchema = {
  summary: 'Get an access token (client credentials)',
  tags: ['oauth2'],
  consumes: ['application/x-www-form-urlencoded'],
  body: {
    type: 'object',
    properties: {
      grant_type: { type: 'string', description: 'client_credentials' },
      scope: { type: 'string', description: '<d>:domain, <d>:role.<r>, <d>:<r>, openid + <d>:service.<s>' },
      expires_in: { type: 'string', description: 'requested lifetime in seconds (capped by the server)' },
      client_id: { type: 'string' },
      client_secret: { type: 'string', description: 'client_secret_post' },
      client_assertion_type: { type: 'string', description: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer (private_key_jwt)' },
      client_assertion: { type: 'string', description: 'a JWT signed with a key registered on the service (RFC 7523)' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        access_token: { type: 'string' },
        token_type: { type: 'string' },
        expires_in: { type: 'integer' },
        scope: { type: 'string' },
        id_token: { type: 'string' },
      },
      required: ['access_token', 'token_type', 'expires_in', 'scope'],
    },
    '4xx': {
      type: 'object',
      properties: { error: { type: 'string' }, error_description: { type: 'string' }, error_code: { type: 'string' } },
    },
  },
} as const;

export function tokenEndpoint(app: FastifyInstance, deps: TokenEndpointDeps): Promise<void> {
  return formEndpoint(app, {
    paths: TOKEN_PATHS,
    rfc: 'RFC 6749 §4.4.2',
    schema: tokenSchema,
    bodyLimit: deps.bodyLimit,
    handle(form, request) {
      const authorization = request.headers.authorization;
      return deps.tokens.issue({
        authenticate: (now) => authenticateClient(deps.methods, { form, authorization, now, http: request }),
        claimedClientId: claimedClientId(form, authorization),
        grantType: form['grant_type'],
        scope: form['scope'],
        expiresIn: form['expires_in'],
        clientIp: request.ip,
      });
    },
  });
}
