// The behaviour every middleware adapter must show, as one suite each framework's test file runs
// against its own server: RFC 6750 answers (status, challenge, JSON body with error_code), the
// caller on the request, per-route requirements, API keys, 503 when the issuer is down, and the
// certificate binding checked against the TLS socket's client certificate.

import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createVerifier, type Verifier } from '../src/verifier/index.ts';
import { apiKey, call, challenge, rawToken, selfSignedCertificates, startIssuer, type Answer, type TestIssuer, type TlsMaterial } from './verifier-fixtures.ts';

/**
 * Routes each adapter serves:
 *   GET /any    any verified caller
 *   GET /read   requires scope beta:role.readers
 *   GET /write  requires role writers of beta (roles form)
 * each answering 200 `{ principal, kind, roles }` from the request's AuthContext.
 */
export type StartApp = (verifier: Verifier, tls?: TlsMaterial) => Promise<{ url: string; close: () => Promise<void> }>;

export function middlewareContract(framework: string, start: StartApp): void {
  describe(`${framework} middleware: RFC 6750 answers`, () => {
    let issuer: TestIssuer;
    let app: { url: string; close: () => Promise<void> };
    const get = (path: string, authorization?: string): Promise<Answer> =>
      call(`${app.url}${path}`, { headers: authorization === undefined ? {} : { authorization } });

    const assertRefused = (res: Answer, status: number, error: string, code: string, description: RegExp): Record<string, string> => {
      assert.equal(res.status, status, JSON.stringify(res.json));
      assert.equal(res.json.error, error);
      assert.equal(res.json.error_code, code);
      assert.match(res.json.error_description, description);
      assert.match(res.json.error_description, /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/, 'RFC 6749 §5.2 characters only');
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const params = challenge(res.headers['www-authenticate']);
      assert.equal(params['realm'], 'beta');
      if (error !== 'unauthorized') {
        assert.equal(params['error'], error);
        assert.match(params['error_description'] ?? '', description);
      }
      return params;
    };

    before(async () => {
      issuer = await startIssuer();
      app = await start(createVerifier({ issuer: issuer.url, audience: 'beta', apiKeys: { clientId: 'beta.rs', clientSecret: 'secret' } }));
    });
    after(async () => {
      await app.close();
      await issuer.close();
    });

    it('lets a verified caller through with its principal and roles on the request', async () => {
      const res = await get('/read', `Bearer ${await issuer.sign()}`);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.deepEqual(res.json, { principal: 'alpha.api', kind: 'access_token', roles: { beta: ['readers', 'writers'] } });
      assert.equal((await get('/write', `bearer ${await issuer.sign()}`)).status, 200, 'the scheme is case-insensitive');
    });

    it('answers a request without credentials 401 with a bare challenge (no error attribute, RFC 6750 §3.1)', async () => {
      const res = await get('/any');
      assertRefused(res, 401, 'unauthorized', 'AUTH_105', /needs an access token: send 'Authorization: Bearer <token>' or 'Authorization: ApiKey <key>'/);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="beta"');
    });

    it('answers another scheme like no credentials, saying which schemes work', async () => {
      const res = await get('/any', 'Basic YWxwaGEuYXBpOnNlY3JldA==');
      assertRefused(res, 401, 'unauthorized', 'AUTH_105', /accepts 'Authorization: Bearer <token>' .*the request used 'Basic'/);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="beta"');
    });

    it('answers a malformed Authorization header 400 invalid_request', async () => {
      assertRefused(await get('/any', 'Bearer'), 400, 'invalid_request', 'AUTH_105', /names Bearer but carries no credential/);
      assertRefused(await get('/any', 'Bearer two tokens'), 400, 'invalid_request', 'AUTH_105', /characters a token cannot have/);
      assertRefused(await get('/any', 'Bearer "quoted"'), 400, 'invalid_request', 'AUTH_105', /characters a token cannot have/);
      assertRefused(await get('/any', ',Bearer token'), 400, 'invalid_request', 'AUTH_105', /Authorization header is malformed/);
    });

    it('answers a forged, expired or oversized token 401 invalid_token with AUTH_105 and a reason', async () => {
      const none = rawToken({ alg: 'none', typ: 'at+jwt' }, issuer.claims());
      assertRefused(await get('/any', `Bearer ${none}`), 401, 'invalid_token', 'AUTH_105', /algorithm ["']none["'] is not accepted/);
      const now = Math.floor(Date.now() / 1000);
      assertRefused(await get('/any', `Bearer ${await issuer.sign({ iat: now - 7200, exp: now - 3600 })}`), 401, 'invalid_token', 'AUTH_105', /expired at/);
      assertRefused(await get('/any', `Bearer ${await issuer.sign({ pad: 'x'.repeat(9000) })}`), 401, 'invalid_token', 'AUTH_105', /refused unread/);
      assertRefused(await get('/any', `Bearer ${await issuer.sign({}, { typ: 'JWT' })}`), 401, 'invalid_token', 'AUTH_105', /not ["']at\+jwt["']/);
    });

    it('answers a token for another audience 401 invalid_token with AUTH_107', async () => {
      const res = await get('/any', `Bearer ${await issuer.sign({ aud: 'gamma' })}`);
      const params = assertRefused(res, 401, 'invalid_token', 'AUTH_107', /audience ["']gamma["'] is not beta/);
      // Quotes in a description would break the challenge: they are replaced there, and in the body
      // alike (RFC 6749 §5.2's grammar for error_description).
      assert.match(params['error_description'] ?? '', /audience 'gamma' is not beta/);
      assert.match(params['error_description'] ?? '', /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/);
      assert.equal(res.json.error_description, params['error_description']);
    });

    it('answers a missing scope 403 insufficient_scope with AUTH_102 and the scope the route needs', async () => {
      const token = await issuer.sign({ scp: ['writers'], scope: 'beta:role.writers' });
      const read = assertRefused(await get('/read', `Bearer ${token}`), 403, 'insufficient_scope', 'AUTH_102', /does not grant beta:role.readers/);
      assert.equal(read['scope'], 'beta:role.readers');
      const other = await issuer.sign({ scp: ['readers'], scope: 'beta:role.readers' });
      const write = assertRefused(await get('/write', `Bearer ${other}`), 403, 'insufficient_scope', 'AUTH_102', /grants none of beta:role.writers/);
      assert.equal(write['scope'], 'beta:role.writers');
      assert.equal((await get('/any', `Bearer ${token}`)).status, 200, 'the same token is fine where nothing is required');
    });

    it('accepts an API key through introspection, and refuses an inactive one', async () => {
      const key = apiKey();
      const answer = { active: true, sub: 'alpha.api', client_id: 'alpha.api', aud: 'beta', token_type: 'api_key', scope: 'beta:role.readers' };
      issuer.introspection.set(key, answer);
      const res = await get('/read', `ApiKey ${key}`);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.deepEqual(res.json, { principal: 'alpha.api', kind: 'api_key', roles: { beta: ['readers'] } });
      assertRefused(await get('/write', `ApiKey ${key}`), 403, 'insufficient_scope', 'AUTH_102', /beta:role.writers/);
      assertRefused(await get('/read', `ApiKey ${apiKey()}`), 401, 'invalid_token', 'AUTH_105', /not active/);
      assertRefused(await get('/read', 'ApiKey tsk_short'), 401, 'invalid_token', 'AUTH_105', /not a Tessera key/);
    });

    it('refuses an API key issued for another audience with AUTH_107, even where nothing is required', async () => {
      const key = apiKey();
      const answer = { active: true, sub: 'gamma.api', client_id: 'gamma.api', aud: 'gamma', token_type: 'api_key', scope: 'gamma:role.readers' };
      issuer.introspection.set(key, answer);
      assertRefused(await get('/any', `ApiKey ${key}`), 401, 'invalid_token', 'AUTH_107', /audience .gamma. is not beta/);
    });

    it('answers 503 VERIFIER_UNAVAILABLE with Retry-After when the issuer cannot be reached', async () => {
      const gone = await startIssuer();
      const url = gone.url;
      await gone.close();
      const down = await start(createVerifier({ issuer: url, audience: 'beta' }));
      try {
        const res = await call(`${down.url}/any`, { headers: { authorization: `Bearer ${await issuer.sign({ iss: url })}` } });
        assert.equal(res.status, 503);
        assert.equal(res.json.error, 'temporarily_unavailable');
        assert.equal(res.json.error_code, 'VERIFIER_UNAVAILABLE');
        assert.match(res.json.error_description, /could not be fetched/);
        assert.equal(res.headers['retry-after'], '5');
        assert.equal(res.headers['www-authenticate'], undefined);
      } finally {
        await down.close();
      }
    });

    describe('over mutual TLS: certificate-bound tokens', () => {
      const certs = selfSignedCertificates(['server', 'client', 'other']);
      const server = certs['server'] as TlsMaterial;
      const client = certs['client'] as TlsMaterial;
      const other = certs['other'] as TlsMaterial;
      const thumbprint = createHash('sha256').update(new X509Certificate(client.cert).raw).digest('base64url');
      let tlsApp: { url: string; close: () => Promise<void> };
      before(async () => {
        tlsApp = await start(createVerifier({ issuer: issuer.url, audience: 'beta' }), server);
      });
      after(() => tlsApp.close());
      const getTls = async (cert: TlsMaterial | null, token: string): Promise<Answer> =>
        call(`${tlsApp.url}/any`, { ca: server.cert, ...(cert ?? {}), headers: { authorization: `Bearer ${token}` } });

      it('accepts a bound token from the certificate it is bound to, read from the TLS socket', async () => {
        const res = await getTls(client, await issuer.sign({ cnf: { 'x5t#S256': thumbprint } }));
        assert.equal(res.status, 200, JSON.stringify(res.json));
      });

      it('refuses it from another certificate and from a caller without one', async () => {
        const token = await issuer.sign({ cnf: { 'x5t#S256': thumbprint } });
        assertRefused(await getTls(other, token), 401, 'invalid_token', 'AUTH_105', /bound to another client certificate/);
        assertRefused(await getTls(null, token), 401, 'invalid_token', 'AUTH_105', /came without one; call over mutual TLS/);
      });

      it('accepts an unbound token with or without a client certificate', async () => {
        assert.equal((await getTls(other, await issuer.sign())).status, 200);
        assert.equal((await getTls(null, await issuer.sign())).status, 200);
      });
    });
  });
}
