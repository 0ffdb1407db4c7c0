// The client commands against a real Tessera over HTTPS: services registered with the admin
// CLI get tokens from `tessera token` with a secret and with private keys, and `tessera verify`
// accepts them for the right audience and scope and rejects everything else with exit 1.

import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

import { runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';

describe('tessera token and verify against a real server', () => {
  let t: TestServer;
  let url: string;
  let dataDir: string;
  let cwd: string;
  let connection: string[];

  const cli = (argv: string[], stdin?: Readable): Promise<CliResult> => runCli([...argv, ...connection], { cwd, ...(stdin === undefined ? {} : { stdin }) });
  const admin = async (...argv: string[]): Promise<CliResult> => {
    const result = await cli(['admin', ...argv, '--credentials', path.join(dataDir, 'bootstrap-admin.json')]);
    assert.equal(result.code, 0, `tessera admin ${argv.join(' ')}: ${result.stderr}`);
    return result;
  };
  const token = async (...argv: string[]): Promise<string> => {
    const result = await cli(['token', ...argv]);
    assert.equal(result.code, 0, `tessera token ${argv.join(' ')}: ${result.stderr}`);
    assert.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'the token alone on stdout');
    return result.stdout.trim();
  };
  const claimsOf = async (jwt: string, ...argv: string[]): Promise<Record<string, unknown>> => {
    const result = await cli(['verify', jwt, '--json', ...argv]);
    assert.equal(result.code, 0, `tessera verify: ${result.stderr}`);
    return JSON.parse(result.stdout) as Record<string, unknown>;
  };

  before(async () => {
    t = await startTestServer();
    ({ dataDir, url } = t);
    cwd = await mkdtemp(path.join(tmpdir(), 'tessera-token-e2e-cwd-'));
    connection = ['--server', url, '--cacert', path.join(dataDir, 'ca.pem')];

    await admin('domain', 'create', 'alpha');
    await admin('domain', 'create', 'beta');
    const created = JSON.parse((await admin('service', 'create', 'alpha.api', '--json')).stdout) as { clientSecret: string };
    await writeFile(path.join(cwd, 'api.secret'), `${created.clientSecret}\n`, { mode: 0o600 });

    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const ed25519 = generateKeyPairSync('ed25519').privateKey;
    await writeFile(path.join(cwd, 'worker-p256.pem'), p256.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await writeFile(path.join(cwd, 'worker-ed25519.pem'), ed25519.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await admin('service', 'create', 'alpha.worker', '--no-secret', '--public-key', 'k1=worker-p256.pem');
    await admin('key', 'put', 'alpha.worker', 'k2', 'worker-ed25519.pem');
    await admin('service', 'create', 'beta.api', '--no-secret');

    await admin('role', 'put', 'beta:role.readers', '--member', 'alpha.api', '--member', 'alpha.worker');
    await admin('role', 'put', 'beta:role.writers', '--member', 'alpha.api');
  });
  after(async () => {
    await t?.stop();
    await rm(cwd, { recursive: true, force: true });
  });

  const secret = ['--client-id', 'alpha.api', '--client-secret-file', 'api.secret'];

  it('gets a token with a client secret file that verify accepts for its audience and scope', async () => {
    const jwt = await token('--scope', 'beta:domain', ...secret);
    const claims = await claimsOf(jwt, '--audience', 'beta', '--scope', 'beta:readers beta:role.writers');
    assert.equal(claims.iss, url);
    assert.equal(claims.aud, 'beta');
    assert.equal(claims.sub, 'alpha.api');
    assert.deepEqual(claims.scp, ['readers', 'writers']);
  });

  it('gets tokens with private_key_jwt, ES256 and EdDSA, a fresh assertion each time', async () => {
    for (const [kid, key] of [
      ['k1', 'worker-p256.pem'],
      ['k2', 'worker-ed25519.pem'],
      ['k1', 'worker-p256.pem'],
    ] as const) {
      const jwt = await token('--scope', 'beta:readers', '--client-id', 'alpha.worker', '--key', key, '--kid', kid);
      const claims = await claimsOf(jwt, '--audience', 'beta', '--scope', 'beta:role.readers');
      assert.equal(claims.sub, 'alpha.worker');
      assert.deepEqual(claims.scp, ['readers']);
    }
  });

  it('reports a key the server does not know as the server says it, with exit 1', async () => {
    const result = await cli(['token', '--scope', 'beta:readers', '--client-id', 'alpha.worker', '--key', 'worker-p256.pem', '--kid', 'k2']);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^error: token request to https:\/\/127\.0\.0\.1:\d+\/oauth2\/token: HTTP 401 invalid_client AUTH_101: client assertion rejected: /,
    );
  });

  it('reports a wrong secret with error_code and description, exit 1', async () => {
    await writeFile(path.join(cwd, 'wrong.secret'), 'not-the-secret');
    const result = await cli(['token', '--scope', 'beta:domain', '--client-id', 'alpha.api', '--client-secret-file', 'wrong.secret']);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^error: token request to \S+: HTTP 401 invalid_client AUTH_101: .+\n$/);
  });

  it('--decode prints the header and claims; --json the whole response', async () => {
    const decoded = await cli(['token', '--scope', 'beta:writers', ...secret, '--decode']);
    assert.equal(decoded.code, 0, decoded.stderr);
    const { header, claims } = JSON.parse(decoded.stdout) as { header: Record<string, unknown>; claims: Record<string, unknown> };
    assert.equal(header.alg, 'ES256');
    assert.equal(header.typ, 'at+jwt');
    assert.equal(claims.aud, 'beta');
    assert.deepEqual(claims.scp, ['writers']);

    const json = await cli(['token', '--scope', 'beta:writers', ...secret, '--json', '--expires-in', '600']);
    assert.equal(json.code, 0, json.stderr);
    const response = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(response.token_type, 'Bearer');
    assert.equal(response.expires_in, 600);
    assert.equal(response.scope, 'beta:writers');
  });

  it('--id-token prints an ID token that verify --id-token accepts for <d>.<s>', async () => {
    const idToken = await token('--scope', 'openid beta:service.api beta:readers', ...secret, '--id-token');
    const claims = await claimsOf(idToken, '--id-token', '--audience', 'beta.api');
    assert.equal(claims.sub, 'alpha.api');
    assert.equal(claims.aud, 'beta.api');
  });

  it('verify reads the token from stdin', async () => {
    const jwt = await token('--scope', 'beta:readers', ...secret);
    const result = await cli(['verify', '-', '--audience', 'beta'], Readable.from([`${jwt}\n`]));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^sub: +alpha\.api$/m);
  });

  it('verify rejects a wrong audience, a missing scope and a tampered token with exit 1', async () => {
    const jwt = await token('--scope', 'beta:readers', '--client-id', 'alpha.worker', '--key', 'worker-p256.pem', '--kid', 'k1');

    const audience = await cli(['verify', jwt, '--audience', 'alpha']);
    assert.equal(audience.code, 1);
    assert.equal(audience.stderr, 'error: invalid token: wrong audience: the token is for "beta", not "alpha"\n');

    const scope = await cli(['verify', jwt, '--audience', 'beta', '--scope', 'beta:writers']);
    assert.equal(scope.code, 1);
    assert.equal(scope.stderr, 'error: invalid token: missing scope beta:writers (the token has: beta:readers)\n');

    const [header, payload, signature] = jwt.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, scope: 'beta:readers beta:writers' })).toString('base64url');
    const tampered = await cli(['verify', `${header}.${forged}.${signature}`, '--audience', 'beta']);
    assert.equal(tampered.code, 1);
    assert.equal(tampered.stdout, '');
    assert.match(tampered.stderr, /^error: invalid token: bad signature: the token was altered, or was not signed by https:\/\/127\.0\.0\.1:\d+\n$/);
  });

  it('admin api-key create, list and revoke against the real API', async () => {
    const created = await admin('api-key', 'create', 'alpha.api', '--audience', 'beta', '--description', 'nightly job', '--expires-at', '30d', '--json');
    const key = JSON.parse(created.stdout) as { apiKey: string; id: string; audience: string };
    assert.match(key.apiKey, /^tsk_/);
    assert.equal(key.audience, 'beta');
    assert.match(created.stderr, /shown only this once/);

    const listed = await admin('api-key', 'list', 'alpha.api', '--json');
    const { apiKeys } = JSON.parse(listed.stdout) as { apiKeys: { id: string; description: string; revokedAt: string | null }[] };
    assert.deepEqual(
      apiKeys.map((k) => [k.id, k.description, k.revokedAt]),
      [[key.id, 'nightly job', null]],
    );
    assert.ok(!listed.stdout.includes(key.apiKey), 'the key itself is never listed');

    await admin('api-key', 'revoke', 'alpha.api', key.id);
    const table = await admin('api-key', 'list', 'alpha.api');
    assert.match(table.stdout, new RegExp(`^${key.id}  beta +nightly job .* \\d{4}-\\d{2}-\\d{2}T[\\d:.]+Z$`, 'm'));
  });

  it('takes --cacert holding the issuing CA alone, without its root (an imported CA under a shared root)', async () => {
    const bundle = await readFile(path.join(dataDir, 'ca.pem'), 'utf8');
    const issuing = new X509Certificate(bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
    assert.notEqual(issuing.subject, issuing.issuer, 'the bundle starts with the issuing CA, not a root');
    await writeFile(path.join(cwd, 'issuing-ca.pem'), issuing.toString());
    const res = await runCli(['token', '--server', url, '--cacert', path.join(cwd, 'issuing-ca.pem'), '--scope', 'beta:domain', ...secret], { cwd });
    assert.equal(res.code, 0, res.stderr);
  });

  it("fails with exit 1 without --cacert: the server certificate is from Tessera's own CA", async () => {
    const untrusted = await runCli(['token', '--server', url, '--scope', 'beta:domain', ...secret], { cwd });
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /\(is --cacert the CA that issued the server certificate\?\)\n$/);
  });
});
