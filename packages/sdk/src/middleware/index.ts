// Middleware answering RFC 6750 errors (docs/errors.md, Resource servers) for Fastify, Express and node:http.

export { createAuthenticator, refusal, type AuthOptions, type Authenticator, type Refusal } from './authenticate.ts';
export { expressAuth, type ExpressMiddleware } from './express.ts';
export { fastifyAuth, type FastifyAuth, type FastifyAuthPlugin, type FastifyPreHandler, type FastifyReplyLike, type FastifyRequestLike } from './fastify.ts';
export { nodeAuth, type AuthenticatedHandler, type NodeAuthOptions } from './node-http.ts';
