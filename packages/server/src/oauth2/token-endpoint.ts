// POST /oauth2/token (and Athenz's /zts/v1/oauth2/token): authenticate the client with exactly
// one method, check its standing, run the client credentials grant. Every answer carries
// `Cache-Control: no-store` (RFC 6749 §5.1).

import type { FastifyInstance } from 'fastify';
import { describeError } from '../http/errors.ts';
import type { Store } from '../storage/store.ts';
import { authenticateClient, type ClientAuthMethod } from './client-auth/index.ts';
import { checkClientStanding } from './client-standing.ts';
import { OAuthError, type OAuthErrorName } from './errors.ts';
import { parseForm, type FormBody } from './form.ts';
import { clientCredentialsGrant, type ClientCredentialsDeps } from './grants/client_credentials.ts';

export const TOKEN_PATHS = ['/oauth2/token', '/zts/v1/oauth2/token'] as const;

export interface TokenEndpointDeps extends ClientCredentialsDeps {
  store: Store;
  methods: readonly ClientAuthMethod[];
  now: () => number;
  bodyLimit: number;
  onResult?: (result: string) => void;
}

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

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
      client_secret: { type: 'string' },
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

export async function tokenEndpoint(app: FastifyInstance, deps: TokenEndpointDeps): Promise<void> {
  await app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: deps.bodyLimit }, (_request, body, done) => {
      try {
        done(null, parseForm(body as string));
      } catch (error) {
        done(error as Error, undefined);
      }
    });

    scope.setErrorHandler((error, request, reply) => {
      const oauth = error instanceof OAuthError ? error : fromGeneric(error, request.log);
      deps.onResult?.(oauth.errorCode ?? oauth.error);
      void reply.code(oauth.status).headers({ ...NO_STORE, ...oauth.headers }).send(oauth.toBody());
    });

    for (const path of TOKEN_PATHS) {
      scope.post(path, { schema: { ...tokenSchema, hide: path !== TOKEN_PATHS[0] } }, async (request, reply) => {
        const form = request.body as FormBody;
        if (!request.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
          throw new OAuthError(400, 'invalid_request', 'the token request must be application/x-www-form-urlencoded (RFC 6749 §4.4.2)');
        }
        const now = deps.now();
        const client = await authenticateClient(deps.methods, { form, authorization: request.headers.authorization, now });
        checkClientStanding(client.service, request.ip, now);
        const grantType = form['grant_type'];
        if (grantType === undefined) throw new OAuthError(400, 'invalid_request', 'grant_type is required: use grant_type=client_credentials');
        if (grantType !== 'client_credentials') {
          throw new OAuthError(400, 'unsupported_grant_type', `grant_type "${grantType.slice(0, 40)}" is not supported; use client_credentials`);
        }
        const response = await clientCredentialsGrant(deps, client, form, now);
        deps.onResult?.('issued');
        return reply.headers(NO_STORE).send(response);
      });
    }
  });
}

function fromGeneric(error: unknown, log: Parameters<typeof describeError>[1]): OAuthError {
  const described = describeError(error, log);
  const name: OAuthErrorName =
    described.status === 503 ? 'temporarily_unavailable' : described.status >= 500 ? 'server_error' : 'invalid_request';
  // Fastify's 415 for an unknown media type is answered 400 invalid_request, as RFC 6749 expects.
  const status = described.status === 415 ? 400 : described.status;
  const message = described.status === 415 ? 'the token request must be application/x-www-form-urlencoded (RFC 6749 §4.4.2)' : described.message;
  return new OAuthError(status, name, message);
}
