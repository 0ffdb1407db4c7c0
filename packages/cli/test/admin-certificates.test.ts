// `tessera admin join-token create` and `tessera admin certificate get|revoke|list|revoke-all`
// send the admin API's requests and print the answers; bad arguments are usage errors before
// any request.

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
    assert.equal(
      result.stderr,
      'note: the join token is shown only this once and works once: tessera cert --principal alpha.api --join-token <token> --out-dir <dir>\n',
    );
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
    server.answer('POST /certificates/4a3b/revoke', {
      status: 200,
      body: { ...record, revokedAt: '2030-01-01T00:00:00.000Z', revocationReason: 'keyCompromise' },
    });
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

  const listed = (serial: string, renewedFrom: string | null = null) => ({
    serial,
    principal: 'alpha.api',
    issuedAt: '2030-01-01T00:00:00.000Z',
    notAfter: '2030-01-02T00:00:00.000Z',
    revokedAt: null,
    revocationReason: null,
    renewedFrom,
  });

  it('certificate list follows nextCursor to the last page and prints one table, newest first', async () => {
    server.answer('GET /domains/alpha/services/api/certificates', (req) =>
      req.query.get('cursor') === null
        ? { status: 200, body: { certificates: [listed('0c', '0b'), listed('0b', '0a')], nextCursor: 'page-2' } }
        : { status: 200, body: { certificates: [listed('0a')], nextCursor: null } },
    );
    const result = await admin('certificate', 'list', 'alpha.api');
    assert.equal(result.code, 0, result.stderr);
    const requests = server.adminRequests();
    assert.deepEqual(
      requests.map((req) => [req.method, req.path, req.query.toString()]),
      [
        ['GET', '/domains/alpha/services/api/certificates', 'limit=1000'],
        ['GET', '/domains/alpha/services/api/certificates', 'limit=1000&cursor=page-2'],
      ],
    );
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^serial +issuedAt +notAfter +revokedAt +revocationReason +renewedFrom$/);
    assert.deepEqual(
      lines.slice(1).map((line) => line.split(/ +/)[0]),
      ['0c', '0b', '0a'],
    );
    assert.match(lines[1] ?? '', / 0b$/);
    assert.doesNotMatch(result.stdout, /nextCursor|page-2/);
  });

  it('certificate list --json prints every page as one list; --status is sent as a filter', async () => {
    server.answer('GET /domains/alpha/services/api/certificates', { status: 200, body: { certificates: [listed('0a')], nextCursor: null } });
    const result = await admin('certificate', 'list', 'alpha.api', '--status', 'revoked', '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(server.adminRequests()[0]?.query.get('status'), 'revoked');
    assert.deepEqual(JSON.parse(result.stdout), { certificates: [listed('0a')] });
  });

  for (const [what, argv, message] of [
    ['a principal without a dot', ['list', 'alpha'], /expected <domain>\.<service>/],
    ['an unknown --status', ['list', 'alpha.api', '--status', 'live'], /argument 'live' is invalid\. Allowed choices are active, revoked, expired/],
    ['a principal without a dot', ['revoke-all', 'alpha'], /expected <domain>\.<service>/],
  ] as const) {
    it(`certificate ${argv[0]} refuses ${what} (exit 2, nothing sent)`, async () => {
      const result = await admin('certificate', ...argv);
      assert.equal(result.code, 2);
      assert.match(result.stderr, message);
      assert.equal(server.requests.length, 0);
    });
  }

  it('certificate revoke-all posts the reason to the service and prints how many were revoked', async () => {
    server.answer('POST /domains/alpha/services/api/certificates/revoke', { status: 200, body: { revoked: 3 } });
    const result = await admin('certificate', 'revoke-all', 'alpha.api', '--reason', 'keyCompromise');
    assert.equal(result.code, 0, result.stderr);
    const [req] = server.adminRequests();
    assert.deepEqual([req?.method, req?.path, req?.body], ['POST', '/domains/alpha/services/api/certificates/revoke', { reason: 'keyCompromise' }]);
    assert.match(result.stdout, /^revoked: +3$/m);
  });

  it('certificate revoke-all without --reason sends an empty body; an unknown service is exit 1', async () => {
    server.answer('POST /domains/alpha/services/nope/certificates/revoke', {
      status: 404,
      body: { error: 'not_found', message: 'service "alpha.nope" does not exist' },
    });
    const result = await admin('certificate', 'revoke-all', 'alpha.nope');
    assert.equal(result.code, 1);
    assert.deepEqual(server.adminRequests()[0]?.body, {});
    assert.equal(
      result.stderr,
      'error: POST /admin/v1/domains/alpha/services/nope/certificates/revoke: HTTP 404 not_found: service "alpha.nope" does not exist\n',
    );
  });
});
