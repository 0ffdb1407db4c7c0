// The Fastify plugin and preHandler over real HTTP(S), with the shared contract and what is
// particular to Fastify: requirements declared in route config and checked at startup, public
// routes, a route-level preHandler after the plugin reusing request.auth, and encapsulation.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { fastifyAuth } from '../src/middleware/index.ts';
import { createVerifier, type AuthContext, type Verifier } from '../src/verifier/index.ts';
import { middlewareContract } from './middleware-contract.ts';
import { call, startIssuer, type TestIssuer, type TlsMaterial } from './verifier-fixtures.ts';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
}

const reply = async (request: FastifyRequest): Promise<unknown> => {
  const auth = request.auth as AuthContext;
  return { principal: auth.principal, kind: auth.kind, roles: auth.roles };
};

/** Over HTTPS asking for (not requiring) a client certificate when `tls` is given; typed as the plain instance either way. */
function fastify(tls?: TlsMaterial): FastifyInstance {
  return tls ? (Fastify({ https: { ...tls, requestCert: true, rejectUnauthorized: false } }) as unknown as FastifyInstance) : Fastify();
}

async function listen(app: FastifyInstance): Promise<{ url: string; close: () => Promise<void> }> {
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}

middlewareContract('Fastify (plugin, requirements in route config)', async (verifier: Verifier, tls?: TlsMaterial) => {
  const auth = fastifyAuth(verifier);
  const app = fastify(tls);
  await app.register(auth.plugin);
  app.get('/any', reply);
  app.get('/read', { config: { auth: { scope: ['beta:role.readers'] } } }, reply);
  app.get('/write', { config: { auth: { roles: { domain: 'beta', roles: ['writers'] } } } }, reply);
  return listen(app);
});

middlewareContract('Fastify (preHandler per route)', async (verifier: Verifier, tls?: TlsMaterial) => {
  const auth = fastifyAuth(verifier);
  const app = fastify(tls);
  app.get('/any', { preHandler: auth.require() }, reply);
  app.get('/read', { preHandler: auth.require({ scope: ['beta:role.readers'] }) }, reply);
  app.get('/write', { preHandler: [auth.require({ roles: { domain: 'beta', roles: ['writers'] } })] }, reply);
  return listen(app);
});

describe('Fastify middleware: composition', () => {
  let issuer: TestIssuer;
  before(async () => {
    issuer = await startIssuer();
  });
  after(() => issuer.close());

  it('config.auth: false leaves a route public; every other route of the scope needs a token', async () => {
    const app = Fastify();
    app.get('/early', reply);
    await app.register(fastifyAuth(createVerifier({ issuer: issuer.url, audience: 'beta' })).plugin);
    app.get('/health', { config: { auth: false } }, async (request) => ({ ok: true, auth: request.auth }));
    app.get('/data', reply);
    const server = await listen(app);
    try {
      const health = await call(`${server.url}/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(health.json, { ok: true, auth: null });
      assert.equal((await call(`${server.url}/data`)).status, 401);
      assert.equal((await call(`${server.url}/early`)).status, 401, 'a route declared before the plugin is guarded too');
    } finally {
      await server.close();
    }
  });

  it('guards routes declared right after a register that was not awaited (fails closed)', async () => {
    const app = Fastify();
    void app.register(fastifyAuth(createVerifier({ issuer: issuer.url, audience: 'beta' })).plugin);
    app.get('/x', reply);
    app.get('/y', { config: { auth: { scope: ['beta:role.admin'] } } }, reply);
    const server = await listen(app);
    try {
      assert.equal((await call(`${server.url}/x`)).status, 401);
      const token = await issuer.sign();
      assert.equal((await call(`${server.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      assert.equal((await call(`${server.url}/y`, { headers: { authorization: `Bearer ${token}` } })).status, 403);
    } finally {
      await server.close();
    }
  });

  it('the plugin guards only its encapsulation scope when registered inside one', async () => {
    const auth = fastifyAuth(createVerifier({ issuer: issuer.url, audience: 'beta' }));
    const app = Fastify();
    app.get('/open', async () => ({ open: true }));
    await app.register(async (scope) => {
      await scope.register(auth.plugin);
      scope.get('/closed', reply);
    });
    const server = await listen(app);
    try {
      assert.equal((await call(`${server.url}/open`)).status, 200);
      assert.equal((await call(`${server.url}/closed`)).status, 401);
      assert.equal((await call(`${server.url}/closed`, { headers: { authorization: `Bearer ${await issuer.sign()}` } })).status, 200);
    } finally {
      await server.close();
    }
  });

  it('a route preHandler after the plugin checks its requirement on the already verified caller', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'beta', cacheSize: 0 });
    let verifications = 0;
    const counting: Verifier = { ...verifier, verify: (token, options) => (verifications++, verifier.verify(token, options)) };
    const auth = fastifyAuth(counting);
    const app = Fastify();
    await app.register(auth.plugin);
    app.get('/admin', { preHandler: auth.require({ scope: ['beta:role.admin'] }) }, reply);
    app.get('/read', { preHandler: auth.require({ scope: ['beta:role.readers'] }) }, reply);
    const server = await listen(app);
    try {
      const token = await issuer.sign();
      assert.equal((await call(`${server.url}/read`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      assert.equal(verifications, 1);
      const admin = await call(`${server.url}/admin`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(admin.status, 403);
      assert.equal(admin.json.error_code, 'AUTH_102');
    } finally {
      await server.close();
    }
  });

  it('a malformed requirement in route config stops the server at startup', async () => {
    const app = Fastify();
    await app.register(fastifyAuth(createVerifier({ issuer: issuer.url, audience: 'beta' })).plugin);
    assert.throws(() => app.get('/x', { config: { auth: { scope: ['readers'] } } }, reply), /route \/x: config.auth: required scope "readers" is not/);
    await app.close();
  });

  it("runs the route's own preHandlers after authentication", async () => {
    const app = Fastify();
    await app.register(fastifyAuth(createVerifier({ issuer: issuer.url, audience: 'beta' })).plugin);
    const order: string[] = [];
    app.get('/x', { preHandler: async (request: FastifyRequest, _reply: FastifyReply) => void order.push(request.auth ? 'after auth' : 'before auth') }, reply);
    const server = await listen(app);
    try {
      assert.equal((await call(`${server.url}/x`, { headers: { authorization: `Bearer ${await issuer.sign()}` } })).status, 200);
      assert.equal((await call(`${server.url}/x`)).status, 401);
      assert.deepEqual(order, ['after auth']);
    } finally {
      await server.close();
    }
  });
});
