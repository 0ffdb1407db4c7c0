// `tessera admin join-token create` and `tessera admin certificate get|revoke` send the SPEC
// §4.1 requests and print the answers; bad arguments are usage errors before any request.

import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, beforeEach, describe, it } from 'node:test';

import { makeWorkspace, runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';
import { startFakeTessera } from './helpers/fake-tessera.ts';
import type { FakeTessera } from './helpers/fake-tessera.ts';

describe('tessera admin join-token and certificate', () => {
  let server: FakeTessera;
  let cwd: string;

  before(async () => {
    server = await startFakeTessera({ clientId: 'sys.auth.admin', clientSecret: 's3cret' });
    cwd = await makeWorkspace({ clientId: 'sys.auth.admin', clientSecret: 's3cret', tokenEndpoint: `${server.url}/oauth2/token` });
  });
  after(async () => {
    await server.close();
    await rm(cwd, { recursive: true, force: true });
  });
  beforeEach(() => {
    server.requests.length = 0;
  });

  const admin = (...argv: string[]): Promise<CliResult> => runCli(['admin', ...argv], { cwd });

  it('join-token create posts the principal and --ttl, prints the token and says it works once', async () => {
    server.answer('POST /join-tokens', {
      status: 201,
      body: { token: 'tsj_0123456789abcdef_secret', id: '0123456789abcdef', principal: 'alpha.api', expiresAt: '2030-01-01T00:15:00.000Z' },
    });
    const result = await admin('join-token', 'create', 'alpha.api', '--ttl', '15m');
    assert.equal(result.code, 0, result.stderr);
    const [req] = server.adminRequests();
    assert.deepEqual([req?.method, req?.path, req?.body], ['POST', '/join-tokens', { principal: 'alpha.api', ttlSeconds: 900 }]);
    assert.match(result.stdout, /^token: +tsj_0123456789abcdef_secret$/m);
    assert.equal(result.stderr,
      'note: the join token is shown only this once and works once: tessera cert --principal alpha.api --join-token <token> --out-dir <dir>\n');
  });

  it('join-token create without --ttl leaves the lifetime to the server; --json prints the answer', async () => {
    server.answer('POST /join-tokens', { status: 201, body: { token: 'tsj_x', id: 'x', principal: 'alpha.api', expiresAt: 'e' } });
    const result = await admin('join-token', 'create', 'alpha.api', '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(server.adminRequests()[0]?.body, { principal: 'alpha.api' });
    assert.equal((JSON.parse(result.stdout) as { token: string }).token, 'tsj_x');
  });

  it('join-token create shows a refusal of the server with exit 1', async () => {
    server.answer('POST /join-tokens', { status: 404, body: { error: 'not_found', message: 'service "alpha.nope" does not exist' } });
    const result = await admin('join-token', 'create', 'alpha.nope');
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: POST /admin/v1/join-tokens: HTTP 404 not_found: service "alpha.nope" does not exist\n');
  });

  for (const [what, argv, message] of [
    ['a principal without a dot', ['alpha'], /value 'alpha' is invalid for argument 'principal'\. expected <domain>\.<service>/],
    ['a --ttl of 0', ['alpha.api', '--ttl', '0'], /argument '0' is invalid\. expected seconds or a duration such as 15m, 2h, 1d/],
    ['a --ttl in weeks', ['alpha.api', '--ttl', '2w'], /argument '2w' is invalid/],
  ] as const) {
    it(`join-token create refuses ${what} (exit 2, nothing sent)`, async () => {
      const result = await admin('join-token', 'create', ...argv);
      assert.equal(result.code, 2);
      assert.match(result.stderr, message);
      assert.equal(server.requests.length, 0);
    });
  }

  it('certificate get and revoke name the serial in the path and send the reason', async () => {
    const record = { serial: '4a3b', principal: 'alpha.api', revokedAt: null };
    server.answer('GET /certificates/4a3b', { status: 200, body: record });
    server.answer('POST /certificates/4a3b/revoke', { status: 200, body: { ...record, revokedAt: '2030-01-01T00:00:00.000Z', revocationReason: 'keyCompromise' } });
    const got = await admin('certificate', 'get', '4a3b');
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /^principal: +alpha\.api$/m);

    const revoked = await admin('certificate', 'revoke', '4a3b', '--reason', 'keyCompromise');
    assert.equal(revoked.code, 0, revoked.stderr);
    const [, req] = server.adminRequests();
    assert.deepEqual([req?.method, req?.path, req?.body], ['POST', '/certificates/4a3b/revoke', { reason: 'keyCompromise' }]);
    assert.match(revoked.stdout, /^revocationReason: +keyCompromise$/m);
  });

  it('certificate revoke without --reason sends an empty body; an unknown serial is exit 1', async () => {
    server.answer('POST /certificates/ff/revoke', { status: 404, body: { error: 'not_found', message: "Tessera's CA issued no certificate with serial ff" } });
    const result = await admin('certificate', 'revoke', 'ff');
    assert.equal(result.code, 1);
    assert.deepEqual(server.adminRequests()[0]?.body, {});
    assert.equal(result.stderr, "error: POST /admin/v1/certificates/ff/revoke: HTTP 404 not_found: Tessera's CA issued no certificate with serial ff\n");
  });
});
