// The plumbing every OAuth endpoint that takes a form shares (token, introspection,
// revocation): an application/x-www-form-urlencoded body parsed strictly (oauth2/form.ts), a
// media-type check before the body schema runs, 405 for other methods, RFC 6749 §5.2 error
// bodies with `Cache-Control: no-store`, and the Basic challenge on every 401 to a client that
// used the Authorization header.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { basicCredentials, formDecode } from '../http/authorization.ts';
import { errorHandler } from '../http/errors.ts';
import type { Service } from '../storage/records.ts';
import { authenticateClient, type ClientAuthMethod } from './client-auth/index.ts';
import type { ClientEndpoint, ClientGuard } from './client-guard.ts';
import { NO_STORE, OAuthError, invalidRequest, oauthDialect } from './errors.ts';
import { parseForm, type FormBody } from './form.ts';

const FORM = 'application/x-www-form-urlencoded';

export interface FormEndpoint {
  /** The first path is documented in /openapi.json; the others are aliases. */
  paths: readonly string[];
  /** The RFC section that defines the request, for error messages. */
  rfc: string;
  schema: Record<string, unknown>;
  bodyLimit: number;
  /** The JSON answer, or undefined for an empty 200. */
  handle(form: FormBody, request: FastifyRequest): Promise<object | undefined>;
}

export async function formEndpoint(app: FastifyInstance, endpoint: FormEndpoint): Promise<void> {
  const mediaTypeProblem = `the request must be ${FORM} (${endpoint.rfc})`;
  await app.register(async (scope) => {
    scope.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: endpoint.bodyLimit }, (_request, body, done) => {
      try {
        done(null, parseForm(body as string));
      } catch (error) {
        done(error as Error, undefined);
      }
    });
    scope.setErrorHandler(errorHandler(oauthDialect({ mediaTypeProblem, basicChallenge: true })));
    // preValidation: before the body schema, so a JSON or empty body hears what to send instead.
    // Callback style, not async: a hook that returns a promise costs a promise and a tick on every request.
    const requireForm = (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
      if (!request.headers['content-type']?.toLowerCase().startsWith(FORM)) done(invalidRequest(mediaTypeProblem));
      else done();
    };
    endpoint.paths.forEach((path, index) => {
      // endpoint.schema is any endpoint's, so the body's type is the form parser's (above), given as a route generic.
      scope.post<{ Body: FormBody }>(
        path,
        { schema: { ...endpoint.schema, hide: index > 0 }, preValidation: requireForm },
        async (request, reply: FastifyReply) => {
          const answer = await endpoint.handle(request.body, request);
          return answer === undefined ? reply.headers(NO_STORE).code(200).send() : reply.headers(NO_STORE).send(answer);
        },
      );
      scope.route({
        method: ['GET', 'PUT', 'DELETE', 'PATCH'],
        url: path,
        schema: { hide: true },
        handler: async () => {
          throw new OAuthError(405, 'invalid_request', `${path} takes POST only (${endpoint.rfc})`, { headers: { allow: 'POST' } });
        },
      });
    });
  });
}

export interface ClientFormDeps {
  methods: readonly ClientAuthMethod[];
  bodyLimit: number;
  /** The token endpoint's gates and observers: a client request here passes the same ones. */
  guard: ClientGuard;
}

/** A form endpoint for an authenticated client in good standing (introspection, revocation). */
export function clientFormEndpoint(
  app: FastifyInstance,
  deps: ClientFormDeps,
  endpoint: Omit<FormEndpoint, 'handle' | 'bodyLimit'> & {
    name: Exclude<ClientEndpoint, 'token'>;
    handle(form: FormBody, caller: Service): Promise<object | undefined>;
  },
): Promise<void> {
  const result = endpoint.name === 'introspect' ? 'answered' : 'revoked';
  return formEndpoint(app, {
    ...endpoint,
    bodyLimit: deps.bodyLimit,
    handle(form, request) {
      const authorization = request.headers.authorization;
      return deps.guard.run(
        {
          endpoint: endpoint.name,
          authenticate: (now) => authenticateClient(deps.methods, { form, authorization, now, http: request }),
          claimedClientId: claimedClientId(form, authorization),
          clientIp: request.ip,
        },
        async (client) => ({ answer: await endpoint.handle(form, client.service), result }),
      );
    },
  });
}

/** The client id a request names, unproven (form or Basic header), for limits, alerts and audit; undefined when unreadable. */
export function claimedClientId(form: FormBody, authorization: string | undefined): string | undefined {
  return form['client_id'] ?? basicClientId(authorization);
}

function basicClientId(authorization: string | undefined): string | undefined {
  const basic = basicCredentials(authorization);
  return typeof basic === 'object' ? formDecode(basic.user) : undefined;
}
