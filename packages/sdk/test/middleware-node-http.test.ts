// The node:http wrapper over real HTTP(S), with the shared contract and what is particular to
// it: the AuthContext as the handler's third argument, and a throwing handler answered 500.

import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { nodeAuth } from '../src/middleware/index.ts';
import { createVerifier, type AuthContext, type Verifier } from '../src/verifier/index.ts';
import { middlewareContract } from './middleware-contract.ts';
import { call, startIssuer, type TestIssuer, type TlsMaterial } from './verifier-fixtures.ts';

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, tls?: TlsMaterial): Promise<{ url: string; close: () => Promise<void> }> {
  const server = tls ? createHttpsServer({ ...tls, requestCert: true, rejectUnauthorized: false }, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const reply = (res: ServerResponse, auth: AuthContext): void => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ principal: auth.principal, kind: auth.kind, roles: auth.roles }));
};

function startApp(verifier: Verifier, tls?: TlsMaterial): Promise<{ url: string; close: () => Promise<void> }> {
  const auth = nodeAuth(verifier);
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    '/any': auth((_req, res, context) => reply(res, context)),
    '/read': auth((req, res) => reply(res, req.auth), { scope: ['beta:role.readers'] }),
    '/write': auth((_req, res, context) => reply(res, context), { roles: { domain: 'beta', roles: ['writers'] } }),
  };
  return listen((req, res) => {
    const route = routes[req.url ?? ''];
    if (route) route(req, res);
    else res.writeHead(404).end();
  }, tls);
}

middlewareContract('node:http', startApp);

describe('node:http middleware: the wrapper', () => {
  let issuer: TestIssuer;
  before(async () => {
    issuer = await startIssuer();
  });
  after(() => issuer.close());

  it('answers 500 without details when the handler throws, and reports the error', async () => {
    const errors: unknown[] = [];
    const auth = nodeAuth(createVerifier({ issuer: issuer.url, audience: 'beta' }), { onError: (error) => errors.push(error) });
    const app = await listen(
      auth(async () => {
        throw new Error('database on fire');
      }),
    );
    try {
      const res = await call(`${app.url}/`, { headers: { authorization: `Bearer ${await issuer.sign()}` } });
      assert.equal(res.status, 500);
      assert.equal(res.json.error, 'server_error');
      assert.doesNotMatch(JSON.stringify(res.json), /fire/);
      assert.equal((errors[0] as Error).message, 'database on fire');
    } finally {
      await app.close();
    }
  });

  it('uses the configured realm and refuses apiKeys: true without a verifier for them', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'beta' });
    const app = await listen(nodeAuth(verifier, { realm: 'beta "api"' })(() => undefined));
    try {
      const res = await call(`${app.url}/`);
      assert.equal(res.headers['www-authenticate'], `Bearer realm="beta 'api'"`);
      assert.match(res.json.error_description, /send 'Authorization: Bearer <token>'$/);
    } finally {
      await app.close();
    }
    assert.throws(() => nodeAuth(verifier, { apiKeys: true }), /apiKeys: true needs a verifier created with the apiKeys option/);
    assert.throws(() => nodeAuth(verifier)(() => undefined, { scope: ['nope'] }), /required scope "nope"/);
  });

  it('takes the caller certificate from the peerCertificate option when given (behind a proxy)', async () => {
    const seen: string[] = [];
    const auth = nodeAuth(createVerifier({ issuer: issuer.url, audience: 'beta' }), {
      peerCertificate: (req) => {
        seen.push(String(req.headers['x-client-cert'] ?? ''));
        return null;
      },
    });
    const app = await listen(auth((_req, res, context) => reply(res, context)));
    try {
      const bound = await issuer.sign({ cnf: { 'x5t#S256': 'A'.repeat(43) } });
      const res = await call(`${app.url}/`, { headers: { authorization: `Bearer ${bound}`, 'x-client-cert': 'from-proxy' } });
      assert.equal(res.status, 401);
      assert.match(res.json.error_description, /came without one/);
      assert.deepEqual(seen, ['from-proxy']);
      const unbound = await call(`${app.url}/`, { headers: { authorization: `Bearer ${await issuer.sign()}` } });
      assert.equal(unbound.status, 200);
      assert.equal(seen.length, 1, 'asked only for a bound token');
    } finally {
      await app.close();
    }
  });
});
