// The Express middleware over real HTTP(S), with the shared contract and what is particular to
// Express: app-wide authentication plus a route-level requirement verifying the token once, and
// errors that are not refusals passed to Express's error handling.

import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { expressAuth } from '../src/middleware/index.ts';
import { createVerifier, type AuthContext, type Verifier } from '../src/verifier/index.ts';
import { middlewareContract } from './middleware-contract.ts';
import { call, startIssuer, type TestIssuer, type TlsMaterial } from './verifier-fixtures.ts';

const authOf = (req: Request): AuthContext => (req as Request & { auth: AuthContext }).auth;
const reply = (req: Request, res: Response): void => {
  const auth = authOf(req);
  res.json({ principal: auth.principal, kind: auth.kind, roles: auth.roles });
};

async function listen(app: Express, tls?: TlsMaterial): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = tls ? createHttpsServer({ ...tls, requestCert: true, rejectUnauthorized: false }, app) : createHttpServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

middlewareContract('Express', (verifier: Verifier, tls?: TlsMaterial) => {
  const auth = expressAuth(verifier);
  const app = express();
  app.get('/any', auth(), reply);
  app.get('/read', auth({ scope: ['beta:role.readers'] }), reply);
  app.get('/write', auth({ roles: { domain: 'beta', roles: ['writers'] } }), reply);
  return listen(app, tls);
});

describe('Express middleware: composition', () => {
  let issuer: TestIssuer;
  before(async () => {
    issuer = await startIssuer();
  });
  after(() => issuer.close());

  it('app.use(auth()) guards every route after it; a route-level requirement reuses req.auth without verifying again', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'beta', cacheSize: 0 });
    let verifications = 0;
    const counting: Verifier = { ...verifier, verify: (token, options) => (verifications++, verifier.verify(token, options)) };
    const auth = expressAuth(counting);
    const app = express();
    app.get('/health', (_req, res) => void res.send('ok'));
    app.use(auth());
    app.get('/read', auth({ scope: ['beta:role.readers'] }), reply);
    app.get('/admin', auth({ scope: ['beta:role.admin'] }), reply);
    const server = await listen(app);
    try {
      assert.equal((await call(`${server.url}/health`)).status, 200, 'routes before app.use stay public');
      assert.equal((await call(`${server.url}/read`)).status, 401);
      const token = await issuer.sign();
      const ok = await call(`${server.url}/read`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      assert.equal(verifications, 1, 'verified once for both middleware');
      const admin = await call(`${server.url}/admin`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(admin.status, 403);
      assert.equal(admin.json.error_code, 'AUTH_102');
      assert.match(String(admin.headers['www-authenticate']), /scope="beta:role.admin"/);
    } finally {
      await server.close();
    }
  });

  it('passes an error that is not a refusal to Express, which answers it', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'beta' });
    const broken: Verifier = { ...verifier, verify: () => Promise.reject(new Error('bug in a custom verifier')) };
    const app = express();
    app.get('/', expressAuth(broken)(), reply);
    const seen: string[] = [];
    app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
      seen.push(error.message);
      res.status(500).json({ error: 'server_error' });
    });
    const server = await listen(app);
    try {
      const res = await call(`${server.url}/`, { headers: { authorization: `Bearer ${await issuer.sign()}` } });
      assert.equal(res.status, 500);
      assert.deepEqual(seen, ['bug in a custom verifier']);
    } finally {
      await server.close();
    }
  });
});
