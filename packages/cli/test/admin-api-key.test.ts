// `tessera admin api-key create|list|revoke` send the admin API requests and print the answers.

import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, beforeEach, describe, it } from 'node:test';

import { makeWorkspace, runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';
import { startFakeTessera } from './helpers/fake-tessera.ts';
import type { FakeTessera } from './helpers/fake-tessera.ts';

const NOW = Date.parse('2030-01-01T00:00:00.000Z');

describe('tessera admin api-key', () => {
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

  const apiKey = (...argv: string[]): Promise<CliResult> => runCli(['admin', 'api-key', ...argv], { cwd, now: () => NOW });

  it('create posts the audience, expiry and description, prints the key and says it is shown once', async () => {
    server.answer('POST /domains/alpha/services/api/api-keys', {
      status: 201,
      body: { apiKey: 'tsk_0123456789abcdef_secret', id: '0123456789abcdef', description: 'cron', createdAt: 'c', expiresAt: null },
    });
    const result = await apiKey('create', 'alpha.api', '--audience', 'beta', '--expires-at', '30d', '--description', 'cron');
    assert.equal(result.code, 0, result.stderr);
    const [req] = server.adminRequests();
    assert.equal(req?.method, 'POST');
    assert.equal(req.path, '/domains/alpha/services/api/api-keys');
    assert.deepEqual(req.body, { audience: 'beta', expiresAt: '2030-01-31T00:00:00.000Z', description: 'cron' });
    assert.match(result.stdout, /^apiKey: +tsk_0123456789abcdef_secret$/m);
    assert.equal(result.stderr, 'note: the API key is shown only this once; store it now\n');
  });

  it('create with only --audience sends the audience alone', async () => {
    const result = await apiKey('create', 'sys.auth.deployer', '--audience', 'alpha');
    assert.equal(result.code, 0, result.stderr);
    const [req] = server.adminRequests();
    assert.equal(req?.path, '/domains/sys.auth/services/deployer/api-keys');
    assert.deepEqual(req.body, { audience: 'alpha' });
  });

  it('create without --audience is refused before connecting', async () => {
    const result = await apiKey('create', 'alpha.api');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /required option '--audience <domain>' not specified/);
    assert.equal(server.requests.length, 0);
  });

  it('list prints the keys as a table, never a secret', async () => {
    server.answer('GET /domains/alpha/services/api/api-keys', {
      status: 200,
      body: {
        apiKeys: [
          { id: '0123456789abcdef', audience: 'beta', description: 'cron', createdAt: '2030-01-01T00:00:00.000Z', expiresAt: null, revokedAt: null },
          {
            id: 'fedcba9876543210',
            audience: 'alpha',
            description: null,
            createdAt: '2029-01-01T00:00:00.000Z',
            expiresAt: null,
            revokedAt: '2029-06-01T00:00:00.000Z',
          },
        ],
      },
    });
    const result = await apiKey('list', 'alpha.api');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      [
        'id                audience  description  createdAt                 expiresAt  revokedAt',
        '0123456789abcdef  beta      cron         2030-01-01T00:00:00.000Z  -          -',
        'fedcba9876543210  alpha     -            2029-01-01T00:00:00.000Z  -          2029-06-01T00:00:00.000Z',
        '',
      ].join('\n'),
    );
  });

  it('revoke deletes the key by id', async () => {
    const result = await apiKey('revoke', 'alpha.api', '0123456789abcdef');
    assert.equal(result.code, 0, result.stderr);
    const [req] = server.adminRequests();
    assert.equal(req?.method, 'DELETE');
    assert.equal(req.path, '/domains/alpha/services/api/api-keys/0123456789abcdef');
    assert.equal(result.stdout, 'revoked API key 0123456789abcdef of alpha.api\n');
  });

  it('reports a refusal with the server message and exit 1', async () => {
    server.answer('DELETE /domains/alpha/services/api/api-keys/0123456789abcdef', {
      status: 404,
      body: { error: 'not_found', message: 'API key 0123456789abcdef of alpha.api does not exist' },
    });
    const result = await apiKey('revoke', 'alpha.api', '0123456789abcdef');
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      'error: DELETE /admin/v1/domains/alpha/services/api/api-keys/0123456789abcdef: HTTP 404 not_found: API key 0123456789abcdef of alpha.api does not exist\n',
    );
  });

  it('rejects a bad expiry and a bad principal before connecting', async () => {
    const expiry = await apiKey('create', 'alpha.api', '--audience', 'beta', '--expires-at', 'soon');
    assert.equal(expiry.code, 2);
    assert.match(expiry.stderr, /expected an ISO 8601 time/);
    const principal = await apiKey('list', 'alpha');
    assert.equal(principal.code, 2);
    assert.match(principal.stderr, /expected <domain>\.<service>/);
    assert.equal(server.requests.length, 0);
  });
});
