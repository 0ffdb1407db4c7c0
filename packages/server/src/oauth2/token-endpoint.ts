// POST /oauth2/token (and Athenz's /zts/v1/oauth2/token): authenticate the client with exactly
// one method, check its standing, run the grant: client credentials (with Athenz's optional
// proxy_for_principal) or RFC 8693 token exchange. Every answer carries `Cache-Control: no-store`
// (RFC 6749 §5.1).

import type { FastifyInstance } from 'fastify';
import { authenticateClient, type ClientAuthMethod } from './client-auth/index.ts';
import { claimedClientId, formEndpoint } from './form-endpoint.ts';
import { ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from './grants/token_exchange.ts';
import type { FormBody } from './form.ts';
import type { TokenRequest, TokenService } from './token-service.ts';

export const TOKEN_PATHS = ['/oauth2/token', '/zts/v1/oauth2/token'] as const;

export interface TokenEndpointDeps {
  tokens: TokenService;
  methods: readonly ClientAuthMethod[];
  bodyLimit: number;
}

const tokenSchema = {
  summary: 'Get an access token (client credentials, or token exchange)',
  description:
    "client_credentials: a token of the client's own roles, or (proxy_for_principal) of another principal's roles whose role lists the client " +
    `in its actors. ${TOKEN_EXCHANGE_GRANT} (RFC 8693): a token acting for the subject of subject_token ` +
    '(an access token, or an ID token issued for the client), with an act claim naming the client; see docs/tokens.md, Token exchange.',
  tags: ['oauth2'],
  consumes: ['application/x-www-form-urlencoded'],
  body: {
    type: 'object',
    properties: {
      grant_type: { type: 'string', description: `client_credentials or ${TOKEN_EXCHANGE_GRANT}` },
      scope: { type: 'string', description: '<d>:domain, <d>:role.<r>, <d>:<r>, openid + <d>:service.<s>' },
      expires_in: { type: 'string', description: 'requested lifetime in seconds (capped by the server)' },
      proxy_for_principal: {
        type: 'string',
        description: "client_credentials: the principal to get a token for (Athenz); the client must be in the roles' actors",
      },
      subject_token: {
        type: 'string',
        description: "token exchange: a Tessera access token sent to the client's domain, or a Tessera ID token whose aud is the client",
      },
      subject_token_type: {
        type: 'string',
        description: `token exchange: ${ACCESS_TOKEN_TYPE}, or ${ID_TOKEN_TYPE} (only roles with idTokenSubjects: true are granted)`,
      },
      actor_token: { type: 'string', description: 'token exchange, optional: an access token of the client itself' },
      actor_token_type: { type: 'string', description: `token exchange, with actor_token: ${ACCESS_TOKEN_TYPE}` },
      requested_token_type: { type: 'string', description: `token exchange, optional: ${ACCESS_TOKEN_TYPE} (the only one issued)` },
      audience: { type: 'string', description: 'token exchange: the target domain (instead of, or with, a scope naming it)' },
      resource: { type: 'string', description: 'token exchange: not supported (invalid_target); name the domain with audience or scope' },
      impersonation: { type: 'string', description: 'token exchange: "true" asks for a token without act, where the roles list the client in impersonators' },
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
        issued_token_type: { type: 'string', description: `token exchange: ${ACCESS_TOKEN_TYPE}` },
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
        proxyForPrincipal: form['proxy_for_principal'],
        // Read only where it can matter: a client_credentials request never looks at them.
        exchange: form['grant_type'] === 'client_credentials' ? undefined : exchangeParams(form),
      });
    },
  });
}

function exchangeParams(form: FormBody): NonNullable<TokenRequest['exchange']> {
  return {
    subjectToken: form['subject_token'],
    subjectTokenType: form['subject_token_type'],
    actorToken: form['actor_token'],
    actorTokenType: form['actor_token_type'],
    requestedTokenType: form['requested_token_type'],
    resource: form['resource'],
    audience: form['audience'],
    impersonation: form['impersonation'],
  };
}
