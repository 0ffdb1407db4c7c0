// How `tessera admin` authenticates, finds its server, and reports failures.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { makeWorkspace, runCli } from './helpers/cli.ts';
import { ACCESS_TOKEN, startFakeTessera } from './helpers/fake-tessera.ts';
import type { FakeTessera } from './helpers/fake-tessera.ts';

describe('tessera admin authentication and errors', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  async function fake(clientId: string, clientSecret: string, prefix?: string): Promise<FakeTessera> {
    const server = await startFakeTessera({ clientId, clientSecret, ...(prefix === undefined ? {} : { prefix }) });
    cleanup.push(() => server.close());
    return server;
  }

  async function workspace(credentials?: Record<string, string>): Promise<string> {
    const dir = await makeWorkspace(credentials);
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  it('gets a token with client_secret_basic, form-urlencoding id and secret first (RFC 6749 §2.3.1)', async () => {
    const clientId = 'sys.auth.admin';
    const clientSecret = 'p@ss:wörd +/=&%';
    const server = await fake(clientId, clientSecret);
    const cwd = await workspace({ clientId, clientSecret, tokenEndpoint: `${server.url}/oauth2/token` });

    const result = await runCli(['admin', 'domain', 'list'], { cwd });

    assert.equal(result.code, 0, result.stderr);
    const [token, call] = server.requests;
    assert.equal(token?.path, '/oauth2/token');
    const expected = Buffer.from('sys.auth.admin:p%40ss%3Aw%C3%B6rd+%2B%2F%3D%26%25').toString('base64');
    assert.equal(token.headers.authorization, `Basic ${expected}`);
    assert.match(token.headers['content-type'] ?? '', /^application\/x-www-form-urlencoded/);
    assert.deepEqual(token.body, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' });
    assert.equal(call?.headers.authorization, `Bearer ${ACCESS_TOKEN}`);
  });

  it('asks for the --scope given', async () => {
    const server = await fake('payments.admin', 'x');
    const cwd = await workspace({ clientId: 'payments.admin', clientSecret: 'x', tokenEndpoint: `${server.url}/oauth2/token` });
    const result = await runCli(['admin', 'domain', 'get', 'payments', '--scope', 'payments:role.admin'], { cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(server.requests[0]?.body, { grant_type: 'client_credentials', scope: 'payments:role.admin' });
  });

  it('reads --credentials relative to the working directory', async () => {
    const server = await fake('alpha.ops', 'y');
    const cwd = await workspace();
    await writeFile(path.join(cwd, 'ops.json'), JSON.stringify({ clientId: 'alpha.ops', clientSecret: 'y', tokenEndpoint: `${server.url}/oauth2/token` }));
    const result = await runCli(['admin', '--credentials', 'ops.json', 'domain', 'list'], { cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(server.adminRequests().length, 1);
  });

  it('keeps the path prefix of the tokenEndpoint as the server base', async () => {
    const server = await fake('sys.auth.admin', 'z', '/tessera');
    const cwd = await workspace({ clientId: 'sys.auth.admin', clientSecret: 'z', tokenEndpoint: `${server.url}/oauth2/token` });
    const result = await runCli(['admin', 'domain', 'list'], { cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ['/tessera/oauth2/token', '/tessera/admin/v1/domains'],
    );
  });

  it('uses --server for the admin API and its /oauth2/token when the file names no tokenEndpoint', async () => {
    const server = await fake('sys.auth.admin', 'w');
    const cwd = await workspace({ clientId: 'sys.auth.admin', clientSecret: 'w' });
    const result = await runCli(['admin', 'domain', 'list', '--server', server.url], { cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ['/oauth2/token', '/admin/v1/domains'],
    );
  });

  it('explains a missing default credentials file in one line, exit 2', async () => {
    const cwd = await workspace();
    const result = await runCli(['admin', 'domain', 'list'], { cwd });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: no credentials: ./.tessera/bootstrap-admin.json not found; pass --credentials <file>\n');
    assert.equal(result.stdout, '');
  });

  it('names an unreadable --credentials file, exit 2', async () => {
    const cwd = await workspace();
    const result = await runCli(['admin', 'domain', 'list', '--credentials', 'nope.json'], { cwd });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: cannot read credentials file nope.json: no such file\n');
  });

  it('rejects a credentials file without a secret', async () => {
    const cwd = await workspace({ clientId: 'a.b', tokenEndpoint: 'http://127.0.0.1:1/oauth2/token' });
    const result = await runCli(['admin', 'domain', 'list'], { cwd });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: credentials file .* lacks clientSecret\n$/);
  });

  it('prints the token endpoint error and error_code in one line, exit 1', async () => {
    const server = await fake('sys.auth.admin', 'right');
    const cwd = await workspace({ clientId: 'sys.auth.admin', clientSecret: 'wrong', tokenEndpoint: `${server.url}/oauth2/token` });
    const result = await runCli(['admin', 'domain', 'list'], { cwd });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `error: token request to ${server.url}/oauth2/token: HTTP 401 invalid_client AUTH_101: Client authentication failed\n`);
    assert.equal(server.adminRequests().length, 0);
  });

  it("prints the admin API's error and message in one line, exit 1", async () => {
    const server = await fake('sys.auth.admin', 's');
    server.answer('POST /domains', {
      status: 409,
      body: { error: 'conflict', message: 'domain alpha\nalready exists' },
    });
    const cwd = await workspace({ clientId: 'sys.auth.admin', clientSecret: 's', tokenEndpoint: `${server.url}/oauth2/token` });
    const result = await runCli(['admin', 'domain', 'create', 'alpha', '--json'], { cwd });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: POST /admin/v1/domains: HTTP 409 conflict: domain alpha; already exists\n');
    assert.equal(result.stdout, '');
  });

  it('says it cannot reach a server that refuses connections, exit 1', async () => {
    const closed = await fake('x.y', 'z');
    const url = closed.url;
    await closed.close();
    cleanup.pop();
    const cwd = await workspace({ clientId: 'x.y', clientSecret: 'z', tokenEndpoint: `${url}/oauth2/token` });
    const result = await runCli(['admin', 'domain', 'list'], { cwd });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`^error: cannot reach ${url}: .*ECONNREFUSED.*\\n$`));
  });

  it('gives up on a server that does not answer within --timeout', async () => {
    const silent = http.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanup.push(async () => {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const cwd = await workspace({ clientId: 'x.y', clientSecret: 'z', tokenEndpoint: `${url}/oauth2/token` });
    const result = await runCli(['admin', 'domain', 'list', '--timeout', '0.2'], { cwd });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `error: no answer from ${url} within 0.2s\n`);
  });

  it('prints a stack trace only with --verbose or TESSERA_DEBUG', async () => {
    const cwd = await workspace();
    const quiet = await runCli(['admin', 'domain', 'list'], { cwd });
    assert.equal(quiet.stderr.split('\n').length, 2);
    const verbose = await runCli(['admin', 'domain', 'list', '--verbose'], { cwd });
    assert.match(verbose.stderr, /\n\s+at /);
    const debug = await runCli(['admin', 'domain', 'list'], { cwd, env: { TESSERA_DEBUG: '1' } });
    assert.match(debug.stderr, /\n\s+at /);
  });

  it('reports usage errors from the command line in one line, exit 2', async () => {
    const cwd = await workspace();
    const unknown = await runCli(['admin', 'domian', 'list'], { cwd });
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, "error: unknown command 'domian'; (Did you mean domain?)\n");
    const badLimit = await runCli(['admin', 'audit', 'list', '--limit', '0'], { cwd });
    assert.equal(badLimit.code, 2);
    assert.equal(badLimit.stderr.split('\n').length, 2);
  });

  it('prints help on stdout with exit 0', async () => {
    const cwd = await workspace();
    const result = await runCli(['admin', 'service', 'create', '--help'], { cwd });
    assert.equal(result.code, 0);
    assert.match(result.stdout, /Usage: tessera admin service create \[options\] <principal>/);
    assert.match(result.stdout, /--credentials <file>/);
  });
});
