// Edge cases found in review, each proved over real HTTPS: RFC 6749 details of the token
// endpoint, rate limits and trusted proxies, NUL bytes on PostgreSQL, undecodable paths, the
// issuer's form, the last system admin, and authorization and client-authentication edges no
// other test exercises, so a refactor cannot quietly open them up.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { createTestDatabase, type TestDatabase } from '../storage/postgres-database.ts';

const form = 'application/x-www-form-urlencoded';
const ok = { grant_type: 'client_credentials', scope: 'beta:domain' };

function assertOAuthError(res: TestResponse, status: number, error: string, code?: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json?.error, error, res.text);
  assert.equal(res.json?.error_code, code, res.text);
  assert.equal(res.headers['cache-control'], 'no-store');
}

/**
 * alpha.api holds beta:role.readers; alpha.off is disabled; alpha.old has expired. One admin
 * token for the whole setup, so a server with a tight rate limit can still be seeded.
 */
async function seed(t: TestServer): Promise<Record<string, string>> {
  const root = await t.adminToken();
  const admin = (method: string, path: string, body?: unknown): Promise<TestResponse> => t.admin$(method, path, body, root);
  const secrets: Record<string, string> = {};
  for (const name of ['alpha', 'beta']) assert.equal((await admin('POST', '/domains', { name })).status, 201);
  for (const [name, extra] of [
    ['api', {}],
    ['off', {}],
    ['old', { expiresAt: new Date(Date.now() - 1000).toISOString() }],
  ] as const) {
    const res = await admin('POST', '/domains/alpha/services', { name, ...extra });
    assert.equal(res.status, 201, res.text);
    secrets[name] = res.json.clientSecret as string;
  }
  assert.equal((await admin('PATCH', '/domains/alpha/services/off', { status: 'DISABLED' })).status, 200);
  const members = ['api', 'off', 'old'].map((s) => ({ principal: `alpha.${s}` }));
  assert.equal((await admin('PUT', '/domains/beta/roles/readers', { members })).status, 201);
  return secrets;
}

describe('token endpoint details of RFC 6749 and docs/errors.md', () => {
  let t: TestServer;
  let secrets: Record<string, string>;
  const post = (body: string | undefined, headers: Record<string, string> = {}): Promise<TestResponse> =>
    t.send('/oauth2/token', { method: 'POST', headers, body });

  before(async () => {
    t = await startTestServer();
    secrets = await seed(t);
  });
  after(() => t.stop());

  // oauth2/client-standing.ts:10,13 — the AUTH_103 errors carry no headers. RFC 6749 §5.2
  // (invalid_client): a client that authenticated with the Authorization header MUST get 401
  // with a WWW-Authenticate challenge for that scheme.
  it('AUTH_103 over HTTP Basic carries a Basic WWW-Authenticate challenge (RFC 6749 §5.2)', async () => {
    for (const name of ['off', 'old']) {
      const res = await t.token(`alpha.${name}`, secrets[name]!, ok);
      assertOAuthError(res, 401, 'invalid_client', 'AUTH_103');
      assert.match(String(res.headers['www-authenticate']), /^Basic realm=/, `alpha.${name}: ${JSON.stringify(res.headers)}`);
    }
  });

  // oauth2/form.ts:12 keeps empty parameters, so client_secret_post.ts:10 sees an empty
  // client_secret as "present" and client_secret_basic.ts:26 compares an empty client_id.
  // RFC 6749 §3.2: "Parameters sent without a value MUST be treated as if they were omitted".
  it('an empty client_secret or client_id beside HTTP Basic is treated as omitted (RFC 6749 §3.2)', async () => {
    const headers = { 'content-type': form, authorization: basic('alpha.api', secrets['api']!) };
    const withEmptySecret = await post('grant_type=client_credentials&scope=beta:domain&client_secret=', headers);
    assert.equal(withEmptySecret.status, 200, withEmptySecret.text);
    const withEmptyId = await post('grant_type=client_credentials&scope=beta:domain&client_id=', headers);
    assert.equal(withEmptyId.status, 200, withEmptyId.text);
  });

  it('an empty grant_type is a missing parameter, not an unsupported grant type (RFC 6749 §3.2, §5.2)', async () => {
    const res = await t.token('alpha.api', secrets['api']!, { grant_type: '', scope: 'beta:domain' });
    assertOAuthError(res, 400, 'invalid_request');
  });

  // oauth2/token-endpoint.ts:76-80 — the body schema is validated before the handler checks the
  // media type, so a request without a form body is told "body must be object" or
  // "body.scope must be string", as if JSON were accepted.
  it('a request without a form body is told to send application/x-www-form-urlencoded', async () => {
    const auth = { authorization: basic('alpha.api', secrets['api']!) };
    const noBody = await post(undefined, auth);
    assertOAuthError(noBody, 400, 'invalid_request');
    assert.match(noBody.json.error_description, /x-www-form-urlencoded/, noBody.text);
    const jsonBody = await post('{"grant_type":"client_credentials","scope":1}', { ...auth, 'content-type': 'application/json' });
    assertOAuthError(jsonBody, 400, 'invalid_request');
    assert.match(jsonBody.json.error_description, /x-www-form-urlencoded/, jsonBody.text);
  });
});

describe('rate limit (AUTH_106, RFC 6585 §4)', () => {
  let t: TestServer;
  let secrets: Record<string, string>;
  before(async () => {
    t = await startTestServer({
      edit: (config) => {
        config.rateLimits = { client: { rate: 1, burst: 2 }, ip: { rate: 1000, burst: 1000 } };
      },
    });
    secrets = await seed(t);
  });
  after(() => t.stop());

  it('answers 429 with Retry-After and AUTH_106 once a client exceeds its bucket', async () => {
    const answers: TestResponse[] = [];
    for (let i = 0; i < 6; i++) answers.push(await t.token('alpha.api', secrets['api']!, ok));
    const limited = answers.find((res) => res.status === 429);
    assert.ok(limited, `statuses: ${answers.map((res) => res.status).join(', ')}`);
    assert.equal(limited.json.error_code, 'AUTH_106', limited.text);
    assert.match(String(limited.headers['retry-after']), /^\d+$/);
  });
});

describe('trusted proxies and allowedIps', () => {
  let proxied: TestServer;
  let direct: TestServer;
  let proxiedSecret = '';
  let directSecret = '';
  const setUp = async (t: TestServer): Promise<string> => {
    await t.admin$('POST', '/domains', { name: 'alpha' });
    const res = await t.admin$('POST', '/domains/alpha/services', { name: 'edge', allowedIps: ['198.51.100.0/24'] });
    await t.admin$('PUT', '/domains/alpha/roles/users', { members: [{ principal: 'alpha.edge' }] });
    return res.json.clientSecret as string;
  };
  const viaProxy = (t: TestServer, secret: string): Promise<TestResponse> =>
    t.send('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': form, authorization: basic('alpha.edge', secret), 'x-forwarded-for': '198.51.100.7' },
      body: 'grant_type=client_credentials&scope=alpha:domain',
    });

  before(async () => {
    proxied = await startTestServer({ edit: (config) => void (config.trustedProxies = ['127.0.0.0/8']) });
    direct = await startTestServer();
    proxiedSecret = await setUp(proxied);
    directSecret = await setUp(direct);
  });
  after(async () => {
    await proxied.stop();
    await direct.stop();
  });

  it('believes X-Forwarded-For from a trusted proxy when checking allowedIps', async () => {
    const res = await viaProxy(proxied, proxiedSecret);
    assert.equal(res.status, 200, res.text);
  });

  // Without trustedProxies the header must change nothing.
  it('ignores X-Forwarded-For when no proxy is trusted', async () => {
    assertOAuthError(await viaProxy(direct, directSecret), 403, 'access_denied', 'AUTH_104');
  });
});

describe('a NUL byte on PostgreSQL is a client error, never a 500', () => {
  let database: TestDatabase;
  let t: TestServer;
  before(async () => {
    database = await createTestDatabase();
    t = await startTestServer({ flags: { database: database.url }, env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') } });
    await t.admin$('POST', '/domains', { name: 'alpha' });
  });
  after(async () => {
    await t.stop();
    await database.drop();
  });

  it('token endpoint: a client_id with NUL is an unknown client (401 AUTH_101), not a 500', async () => {
    const postForm = await t.send('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': form },
      body: 'grant_type=client_credentials&scope=alpha:domain&client_id=alpha.a%00b&client_secret=x',
    });
    assertOAuthError(postForm, 401, 'invalid_client', 'AUTH_101');
    const viaBasic = await t.send('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': form, authorization: basic('alpha.a\u0000b', 'x') },
      body: 'grant_type=client_credentials&scope=alpha:domain',
    });
    assertOAuthError(viaBasic, 401, 'invalid_client', 'AUTH_101');
    // Their audit summary is stored too, the NUL replaced: one refused value would otherwise
    // hold back every token audit event after it.
    await t.server.flushAudit();
    const refused = (await t.admin$('GET', '/audit?type=token.refused.summary')).json.events as { after: { count: number; clientIds: string[] } }[];
    assert.deepEqual(
      refused.map((e) => [e.after.count, e.after.clientIds]),
      [[2, ['alpha.a\uFFFDb']]],
    );
  });

  it('admin API: NUL in a description or an audit filter is a client error, not a 500', async () => {
    for (const res of [
      await t.admin$('POST', '/domains', { name: 'beta', description: 'a\u0000b' }),
      await t.admin$('POST', '/domains/alpha/services', { name: 'x', description: 'a\u0000b' }),
      await t.admin$('GET', '/audit?principal=a%00b'),
    ]) {
      assert.ok(res.status < 500, `${res.status} ${res.text}`);
    }
  });
});

describe("an undecodable path is answered in the API's error shape", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it('GET /admin/v1/domains/%zz is 400 {"error":"invalid_request","message"}', async () => {
    const res = await t.admin$('GET', '/domains/%zz');
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error, 'invalid_request', res.text);
    assert.equal(typeof res.json.message, 'string');
    assert.deepEqual(Object.keys(res.json).sort(), ['error', 'message'], res.text);
  });
});

describe('the issuer and the discovery document (RFC 8414)', () => {
  it('either refuses the issuer or advertises endpoints this server serves', async () => {
    let t: TestServer;
    try {
      t = await startTestServer({ flags: { issuer: 'https://tessera.test/' } });
    } catch (error) {
      assert.match((error as Error).message, /issuer/);
      return;
    }
    try {
      const metadata = (await t.send('/.well-known/oauth-authorization-server')).json;
      assert.equal(new URL(metadata.token_endpoint as string).pathname, '/oauth2/token', metadata.token_endpoint);
      assert.equal(new URL(metadata.jwks_uri as string).pathname, '/oauth2/keys', metadata.jwks_uri);
      assert.equal(new URL(t.admin.tokenEndpoint).pathname, '/oauth2/token', t.admin.tokenEndpoint);
    } finally {
      await t.stop();
    }
  });
});

describe('the last system admin cannot be removed', () => {
  const lockouts: [string, string, string, unknown][] = [
    ['removing the last member', 'DELETE', '/domains/sys.auth/roles/admin/members/sys.auth.admin', undefined],
    ['deleting the role', 'DELETE', '/domains/sys.auth/roles/admin', undefined],
    ['replacing the members with none', 'PUT', '/domains/sys.auth/roles/admin', { members: [] }],
  ];
  for (const [what, method, path, body] of lockouts) {
    it(`refuses ${what} of sys.auth:role.admin`, async () => {
      const t = await startTestServer();
      try {
        const res = await t.admin$(method, path, body);
        assert.ok(res.status === 403 || res.status === 409, `${res.status} ${res.text}`);
        assert.equal((await t.admin$('GET', '/domains')).status, 200, 'the bootstrap admin still administers');
      } finally {
        await t.stop();
      }
    });
  }
});

describe('admin authorization edges and malformed client authentication', () => {
  let t: TestServer;
  let secrets: Record<string, string>;
  let alphaAdmin = '';
  let alphaAdminSecret = '';
  const post = (body: string, headers: Record<string, string>): Promise<TestResponse> =>
    t.send('/oauth2/token', { method: 'POST', headers: { 'content-type': form, ...headers }, body });

  before(async () => {
    t = await startTestServer();
    secrets = await seed(t);
    for (const name of ['alpha.x', 'alphax', 'sys']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const owner = await t.admin$('POST', '/domains/alpha/services', { name: 'owner' });
    alphaAdminSecret = owner.json.clientSecret as string;
    await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.owner' }] });
    await t.admin$('PUT', '/domains/alpha/roles/users', { members: [{ principal: 'alpha.owner' }] });
    const res = await t.token('alpha.owner', alphaAdminSecret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    alphaAdmin = res.json.access_token as string;
  });
  after(() => t.stop());

  it('a domain admin of alpha reaches neither alpha.x, alphax, sys nor sys.auth', async () => {
    for (const [method, path, body] of [
      ['GET', '/domains/alpha.x', undefined],
      ['POST', '/domains/alpha.x/services', { name: 'z' }],
      ['PUT', '/domains/alpha.x/roles/admin', { members: [{ principal: 'alpha.owner' }] }],
      ['GET', '/domains/alphax/services', undefined],
      ['PUT', '/domains/sys/roles/admin/members/alpha.owner', {}],
      ['POST', '/domains/sys.auth/services/admin/secrets', {}],
      ['PUT', '/domains/sys.auth/services/admin/keys/k1', { pem: 'x' }],
      ['PATCH', '/domains/sys.auth/services/admin', { status: 'DISABLED' }],
      ['GET', '/audit', undefined],
      ['GET', '/signing-keys', undefined],
      ['DELETE', '/domains/alpha', undefined],
    ] as const) {
      const res = await t.admin$(method, path, body, alphaAdmin);
      assert.equal(res.status, 403, `${method} ${path}: ${res.status} ${res.text}`);
    }
  });

  it('a token that did not ask for the admin role grants no admin rights, though the role is held', async () => {
    const res = await t.token('alpha.owner', alphaAdminSecret, { grant_type: 'client_credentials', scope: 'alpha:users' });
    assert.equal(res.status, 200, res.text);
    assert.equal((await t.admin$('GET', '/domains/alpha', undefined, res.json.access_token as string)).status, 403);
  });

  it('malformed HTTP Basic credentials fail as client authentication, never as a 500', async () => {
    const body = new URLSearchParams(ok).toString();
    for (const authorization of [
      `Basic ${Buffer.from('no-colon-here').toString('base64')}`,
      'Basic !!!not*base64***',
      `Basic ${Buffer.from([0xff, 0xfe, 0x3a, 0x78]).toString('base64')}`,
      'Basic',
      'Basic ',
    ]) {
      const res = await post(body, { authorization });
      assertOAuthError(res, 401, 'invalid_client', 'AUTH_101');
      assert.match(String(res.headers['www-authenticate']), /^Basic realm=/, authorization);
    }
    const badPercent = await post(body, { authorization: `Basic ${Buffer.from('alpha.api:%zz').toString('base64')}` });
    assertOAuthError(badPercent, 400, 'invalid_request');
  });

  it('scope oddities are 400 invalid_scope: tabs, bad percent-encoding, unicode, reserved words, too many items', async () => {
    const auth = basic('alpha.api', secrets['api']!);
    for (const scope of [
      'beta:domain\tbeta:readers',
      'beta:domain%zz',
      'béta:domain',
      'beta:role.domain',
      'beta:service.',
      'beta:role.role.x',
      Array.from({ length: 101 }, (_, i) => `d${i}:domain`).join(' '),
    ]) {
      const res = await post(new URLSearchParams({ grant_type: 'client_credentials', scope }).toString().replace('%25zz', '%zz'), { authorization: auth });
      assertOAuthError(res, 400, 'invalid_scope');
    }
  });
});

describe('a request the HTTP parser cannot read', () => {
  it("is answered 400 in the API's error shape", async () => {
    const { connect } = await import('node:tls');
    const t = await startTestServer();
    try {
      const url = new URL(t.url);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: url.hostname, port: Number(url.port), ca: t.ca, servername: 'localhost' }, () => {
          socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n');
        });
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      assert.match(answer, /^HTTP\/1\.1 400 /);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: string; message: string };
      assert.equal(body.error, 'invalid_request');
      assert.match(body.message, /malformed HTTP request/);
    } finally {
      await t.stop();
    }
  });
});
