// Fastify: a plugin that puts every route of the scope that registers it behind the verifier,
// with each route's requirement declared beside the route (`config: { auth: { scope: [...] } }`,
// or `config: { auth: false }` for a public route), and a preHandler factory for one route.
//
// The plugin adds a scope-wide preHandler hook rather than editing routes as they are added:
// Fastify applies such a hook to every route of the scope, including routes declared before the
// plugin finished loading, so forgetting an `await` cannot leave a route open. Requirements are
// checked as routes are added where the plugin has loaded first (a typo stops startup), and on
// first use otherwise.
//
// Only structural types are used, so the SDK does not depend on fastify. To type `request.auth`:
//   declare module 'fastify' { interface FastifyRequest { auth: AuthContext | null } }

import type { IncomingMessage } from 'node:http';
import type { AuthContext, Verifier } from '../verifier/create-verifier.ts';
import { VerifierError } from '../verifier/errors.ts';
import type { CompiledRequirement, Requirement } from '../verifier/roles.ts';
import { createAuthenticator, type AuthOptions } from './authenticate.ts';

export interface FastifyRequestLike {
  raw: IncomingMessage;
  auth?: AuthContext | null;
  routeOptions?: { config?: unknown };
}

export interface FastifyReplyLike {
  code(statusCode: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
}

export type FastifyPreHandler = (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>;

interface RouteOptionsLike {
  url?: string;
  config?: unknown;
}

export interface FastifyInstanceLike {
  decorateRequest(property: string, value: null): unknown;
  addHook(name: 'onRoute', hook: (route: RouteOptionsLike) => void): unknown;
  addHook(name: 'preHandler', hook: FastifyPreHandler): unknown;
}

export type FastifyAuthPlugin = ((app: FastifyInstanceLike, options: unknown) => Promise<void>) & Record<symbol, unknown>;

export interface FastifyAuth {
  /**
   * `app.register(auth.plugin)`: every route of this scope requires a verified caller, with the
   * route's `config.auth` requirement; `config.auth: false` leaves a route public. Adds `request.auth`.
   */
  plugin: FastifyAuthPlugin;
  /** A preHandler for one route: `{ preHandler: auth.require({ scope: ['beta:role.writers'] }) }`. */
  require(requirement?: Requirement): FastifyPreHandler;
}

type RouteAuth = Requirement | false | undefined;

export function fastifyAuth(verifier: Verifier, options: AuthOptions = {}): FastifyAuth {
  const authenticator = createAuthenticator(verifier, options);
  const nothing = verifier.requirement({});
  // Keyed by the route's own `auth` object, which Fastify passes through unchanged.
  const compiled = new WeakMap<Requirement, CompiledRequirement>();
  const compile = (auth: Requirement, url: string | undefined): CompiledRequirement => {
    let requirement = compiled.get(auth);
    if (!requirement) {
      try {
        requirement = verifier.requirement(auth);
      } catch (error) {
        throw new TypeError(`route ${url ?? ''}: config.auth: ${(error as Error).message}`, { cause: error });
      }
      compiled.set(auth, requirement);
    }
    return requirement;
  };

  const guard = async (request: FastifyRequestLike, reply: FastifyReplyLike, requirement: CompiledRequirement): Promise<unknown> => {
    try {
      // A route-level check after the plugin's: the caller is already verified, only the requirement is new.
      if (authenticator.produced(request.auth)) requirement.check(request.auth.roles);
      else request.auth = await authenticator.authenticate(request.raw, requirement);
    } catch (error) {
      if (!(error instanceof VerifierError)) throw error;
      const { status, headers, body } = authenticator.refusal(error);
      return reply.code(status).headers(headers).send(body);
    }
    return undefined;
  };

  const plugin: FastifyAuthPlugin = Object.assign(
    async (app: FastifyInstanceLike): Promise<void> => {
      app.decorateRequest('auth', null);
      app.addHook('onRoute', (route) => {
        const auth = (route.config as { auth?: RouteAuth } | undefined)?.auth;
        if (auth) compile(auth, route.url);
      });
      app.addHook('preHandler', async function tesseraAuth(request, reply) {
        const config = request.routeOptions?.config as { auth?: RouteAuth; url?: string } | undefined;
        const auth = config?.auth;
        if (auth === false) return undefined;
        return guard(request, reply, auth ? compile(auth, config?.url) : nothing);
      });
    },
    // As fastify-plugin does: the hook and decorator apply to the scope that registers the plugin.
    { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'tessera-auth' },
  );

  return {
    plugin,
    require(requirement) {
      const prepared = verifier.requirement(requirement ?? {});
      return (request, reply) => guard(request, reply, prepared);
    },
  };
}
