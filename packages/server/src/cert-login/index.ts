// POST /auth/x509/login: certificate login (docs/http-api.md), the API Mediation Layer pattern.
// A client connects with mutual TLS and gets an access token for the principal its certificate
// maps to (authenticate.ts decides who that is). Off unless `certLogin.enabled`.
//
// It answers exactly what the token endpoint answers, through the same TokenService: gates,
// standing, the grant, audit and metrics all apply, and the token is certificate-bound
// (`cnf.x5t#S256`). The body is optional and may be form-encoded or JSON: `scope` and
// `expires_in` (seconds, a string or a number), plus explicit client credentials if the caller
// wants those to decide instead of the certificate (`client_id` + `client_secret`, or
// `client_assertion_type` + `client_assertion`; or HTTP Basic).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config.ts';
import { errorHandler } from '../http/errors.ts';
import type { CertificateMapper, ClientCertificates } from '../mtls/index.ts';
import type { ClientAuthMethod } from '../oauth2/client-auth/index.ts';
import { NO_STORE, invalidRequest, oauthDialect } from '../oauth2/errors.ts';
import { claimedClientId } from '../oauth2/form-endpoint.ts';
import { parseForm, type FormBody } from '../oauth2/form.ts';
import type { TokenService } from '../oauth2/token-service.ts';
import type { Store } from '../storage/store.ts';
import { authenticateLogin } from './authenticate.ts';

export const CERT_LOGIN_PATH = '/auth/x509/login';
const FORM = 'application/x-www-form-urlencoded';
const MEDIA_TYPES = `send the body as ${FORM} or application/json, or send none`;

export interface CertLoginDeps {
  config: Config['certLogin'];
  /** Client certificate checks trusting Tessera's CA and `certLogin.trustedCas` (server.ts reads them). */
  certificates: ClientCertificates;
  /** `certLogin.mappings`, compiled (they apply here to certificates of `certLogin.trustedCas`). */
  mapper: CertificateMapper;
  store: Pick<Store, 'getService'>;
  tokens: TokenService;
  /** The token endpoint's methods that take explicit credentials; they win over the certificate. */
  credentialMethods: readonly ClientAuthMethod[];
  bodyLimit: number;
}

const str = { type: 'string' } as const;

const loginSchema = {
  summary: 'Exchange a client certificate (mutual TLS) for an access token',
  description:
    "Certificate login (off unless certLogin.enabled). The certificate must come from Tessera's CA (its SPIFFE ID names the principal) " +
    'or a configured external CA (mapped by certLogin.mappings). Explicit client credentials in the same request take precedence. ' +
    "The answer is the token endpoint's; the token carries cnf.x5t#S256 when the certificate authenticated.",
  tags: ['oauth2'],
  consumes: ['application/x-www-form-urlencoded', 'application/json'],
  body: {
    type: ['object', 'null'],
    properties: {
      scope: { type: 'string', description: '<d>:domain, <d>:role.<r>, <d>:<r>, openid + <d>:service.<s>' },
      expires_in: { type: ['string', 'integer'], description: 'requested lifetime in seconds (capped by the server)' },
      client_id: str,
      client_secret: str,
      client_assertion_type: str,
      client_assertion: str,
    },
  },
  response: {
    200: {
      type: 'object',
      properties: { access_token: str, token_type: str, expires_in: { type: 'integer' }, scope: str, id_token: str },
      required: ['access_token', 'token_type', 'expires_in', 'scope'],
    },
    '4xx': { type: 'object', properties: { error: str, error_description: str, error_code: str, message: str } },
  },
} as const;

export async function certLogin(app: FastifyInstance, deps: CertLoginDeps): Promise<void> {
  if (!deps.config.enabled) {
    // onRequest: answered before any body is parsed, whatever its media type.
    const off = async (_request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      await reply.code(404).send({ error: 'not_found', message: 'certificate login is off on this server; an operator turns it on with certLogin.enabled' });
    };
    app.post(CERT_LOGIN_PATH, { schema: { hide: true }, onRequest: off }, async () => undefined);
    return;
  }

  await app.register(async (scope) => {
    scope.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: deps.bodyLimit }, (_request, body, done) => {
      try {
        done(null, parseForm(body as string));
      } catch (error) {
        done(error as Error, undefined);
      }
    });
    // The token endpoint's dialect, but no Basic challenge added to every 401: only a failed
    // client_secret_basic carries one here.
    scope.setErrorHandler(errorHandler(oauthDialect({ mediaTypeProblem: MEDIA_TYPES, basicChallenge: false })));

    // preValidation: before the body schema, so a text body hears which media types to use.
    const requireKnownMediaType = async (request: FastifyRequest): Promise<void> => {
      const type = request.headers['content-type']?.toLowerCase();
      if (type !== undefined && !type.startsWith(FORM) && !type.startsWith('application/json')) throw invalidRequest(MEDIA_TYPES);
    };
    scope.post(CERT_LOGIN_PATH, { schema: loginSchema, preValidation: requireKnownMediaType }, async (request, reply) => {
      const form = readBody(request.body);
      const authorization = request.headers.authorization;
      const response = await deps.tokens.issue({
        authenticate: (now) => authenticateLogin(deps, { form, authorization, now, http: request }),
        // The Basic user too, as at the token endpoint: failures against one client raise its alert.
        claimedClientId: claimedClientId(form, authorization),
        grantType: 'client_credentials',
        scope: form['scope'],
        expiresIn: form['expires_in'],
        clientIp: request.ip,
      });
      return reply.headers(NO_STORE).send(response);
    });
  });
}

/** Both body types as the string parameters the shared path reads; an empty value counts as omitted (RFC 6749 §3.2). */
function readBody(body: unknown): FormBody {
  if (body === undefined || body === null) return {};
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    if (value === '' || value === undefined || value === null) continue;
    if (typeof value === 'number') params[name] = String(value);
    else if (typeof value === 'string') params[name] = value;
    else throw invalidRequest(`"${name.slice(0, 40)}" must be a string`);
  }
  return params;
}
