// POST /auth/token: the service-account JSON dialect's token request. Only the dialect is translated here; the
// request takes the one token path every endpoint shares (TokenService: gates, client
// authentication, standing, the grant, observers), so a token from here is the token
// /oauth2/token would have issued.
//
// Errors keep the HTTP status of the token endpoint (docs/errors.md) and read `{"error": "AUTH_101", "message": …}`: the
// AUTH_1xx code when one applies, else the OAuth error name; `message` is this dialect's
// error_description and keeps to the same grammar (errorDescription).

import type { FastifyInstance } from 'fastify';
import { errorHandler, type ErrorDialect } from '../http/errors.ts';
import type { SchemaTypes } from '../http/route-types.ts';
import { checkClientSecret, type SecretCheckDeps } from '../oauth2/client-auth/secret.ts';
import { NO_STORE, OAuthError, errorDescription } from '../oauth2/errors.ts';
import type { TokenService } from '../oauth2/token-service.ts';
import { errorResponses } from './wire.ts';

export interface TokenRouteDeps extends SecretCheckDeps {
  tokens: TokenService;
}

/** The method name observers and audit see for this dialect's credentials. */
const METHOD = 'client_secret_json';

const tokenSchema = {
  summary: 'Get an access token (client credentials, service-account JSON dialect)',
  tags: ['service-accounts'],
  body: {
    type: 'object',
    properties: {
      grantType: { type: 'string', maxLength: 64, description: 'client_credentials' },
      clientId: { type: 'string', maxLength: 256 },
      clientSecret: { type: 'string', maxLength: 512 },
      scope: { type: 'string', maxLength: 16_384, description: 'space-separated, e.g. "workflow:read validation:write"' },
      expiresIn: { type: 'integer', description: 'requested lifetime in seconds (capped by the server)' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        accessToken: { type: 'string' },
        expiresIn: { type: 'integer' },
        tokenType: { type: 'string' },
        scope: { type: 'string' },
        idToken: { type: 'string' },
      },
      required: ['accessToken', 'expiresIn', 'tokenType', 'scope'],
    },
    ...errorResponses,
  },
} as const;

// The shared path words its errors in RFC 6749's parameter names; this dialect's callers sent
// camelCase ones, and a message should name the field they can fix.
const FIELD_NAMES: readonly [RegExp, string][] = [
  [/\bgrant_type=([\w:.-]+)/g, "'grantType': '$1'"],
  [/\bscope=([\w:.-]+)/g, "'scope': '$1'"],
  [/\bgrant_type\b/g, 'grantType'],
  [/\bexpires_in\b/g, 'expiresIn'],
  [/\bclient_id\b/g, 'clientId'],
  [/\bclient_secret\b/g, 'clientSecret'],
];

export function dialectMessage(message: string): string {
  return FIELD_NAMES.reduce((text, [pattern, name]) => text.replace(pattern, name), message);
}

export async function tokenRoute(app: FastifyInstance, deps: TokenRouteDeps): Promise<void> {
  await app.register(async (scope) => {
    scope.setErrorHandler(errorHandler(tokenDialect));

    scope.withTypeProvider<SchemaTypes>().post('/token', { schema: tokenSchema }, async (request, reply) => {
      const body = request.body;
      const response = await deps.tokens.issue({
        async authenticate(now) {
          if (body.clientId === undefined || body.clientSecret === undefined) {
            throw new OAuthError(401, 'invalid_client', 'send clientId and clientSecret in the JSON body', { errorCode: 'AUTH_101' });
          }
          return { service: await checkClientSecret(deps, body.clientId, body.clientSecret, now, false), method: METHOD };
        },
        claimedClientId: body.clientId,
        grantType: body.grantType,
        scope: body.scope,
        expiresIn: body.expiresIn === undefined ? undefined : String(body.expiresIn),
        clientIp: request.ip,
      });
      return reply.headers(NO_STORE).send({
        accessToken: response.access_token,
        expiresIn: response.expires_in,
        tokenType: response.token_type,
        scope: response.scope,
        ...(response.id_token !== undefined && { idToken: response.id_token }),
      });
    });
  });
}

/**
 * The token endpoint's answer in this dialect: the AUTH_1xx code as `error` where there is one,
 * the message with this dialect's field names (a message the server described, e.g. a schema
 * violation, already names the JSON fields).
 */
export const tokenDialect: ErrorDialect = (answer) => {
  const message = !answer.generic
    ? dialectMessage(answer.message)
    : answer.status === 415
      ? 'send the token request as JSON with Content-Type: application/json'
      : answer.message;
  return {
    status: answer.status,
    headers: { ...NO_STORE, ...answer.headers },
    body: { error: answer.code ?? answer.error, message: errorDescription(message) },
  };
};
