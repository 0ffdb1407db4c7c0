// `tessera token` against a recording fake server: each client authentication method sends
// what its RFC says, each output option prints what it promises, and each mistake is one line.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SignJWT, decodeProtectedHeader, jwtVerify } from 'jose';

import { makeWorkspace, runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';
import { ACCESS_TOKEN, startFakeTessera } from './helpers/fake-tessera.ts';
import type { FakeTessera, RecordedRequest } from './helpers/fake-tessera.ts';
import { createTestPki, type TestPki } from '@tessera/testkit/pki';

const NOW = Date.parse('2030-01-01T00:00:00.000Z');
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('tessera token', () => {
  let server: FakeTessera;
  let cwd: string;

  before(async () => {
    server = await startFakeTessera({ clientId: 'alpha.api', clientSecret: 's3cret' });
    cwd = await makeWorkspace();
    await writeFile(path.join(cwd, 'secret.txt'), 's3cret\n');
  });
  after(async () => {
    await server.close();
    await rm(cwd, { recursive: true, force: true });
  });
  beforeEach(() => {
    server.requests.length = 0;
    server.answerToken(acceptAnything);
  });

  const token = (...argv: string[]): Promise<CliResult> => runCli(['token', '--server', server.url, ...argv], { cwd, now: () => NOW });

  async function keyFile(name: string, key: KeyObject): Promise<string> {
    await writeFile(path.join(cwd, name), key.export({ type: 'pkcs8', format: 'pem' }));
    return name;
  }

  /** Runs a command that must succeed and answers the one token request it made. */
  async function sent(...argv: string[]): Promise<RecordedRequest & { result: CliResult }> {
    const result = await token(...argv);
    assert.equal(result.code, 0, `exit code 0 expected; stderr: ${result.stderr}`);
    assert.equal(server.requests.length, 1, 'exactly one request');
    return { ...server.requests[0]!, result };
  }

  describe('client_secret_basic', () => {
    beforeEach(() => server.answerToken(undefined));

    it('sends the secret file (without its newline) as Basic and prints only the access token', async () => {
      const req = await sent('--scope', 'beta:domain', '--client-id', 'alpha.api', '--client-secret-file', 'secret.txt');
      assert.equal(req.path, '/oauth2/token');
      assert.equal(req.headers.authorization, `Basic ${Buffer.from('alpha.api:s3cret').toString('base64')}`);
      assert.deepEqual(req.body, { grant_type: 'client_credentials', scope: 'beta:domain' });
      assert.equal(req.result.stdout, `${ACCESS_TOKEN}\n`);
      assert.equal(req.result.stderr, '');
    });

    it('sends --expires-in and a scope with its whitespace collapsed', async () => {
      const req = await sent(
        '--scope',
        ' beta:readers   gamma:domain ',
        '--expires-in',
        '600',
        '--client-id',
        'alpha.api',
        '--client-secret-file',
        'secret.txt',
      );
      assert.deepEqual(req.body, { grant_type: 'client_credentials', scope: 'beta:readers gamma:domain', expires_in: '600' });
    });

    it('reads --credentials and uses its tokenEndpoint, path prefix included', async () => {
      const prefixed = await startFakeTessera({ clientId: 'alpha.ops', clientSecret: 'y', prefix: '/tessera' });
      try {
        await writeFile(
          path.join(cwd, 'ops.json'),
          JSON.stringify({
            clientId: 'alpha.ops',
            clientSecret: 'y',
            tokenEndpoint: `${prefixed.url}/oauth2/token`,
          }),
        );
        const result = await runCli(['token', '--scope', 'beta:domain', '--credentials', 'ops.json'], { cwd });
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, `${ACCESS_TOKEN}\n`);
        assert.equal(prefixed.requests[0]?.path, '/tessera/oauth2/token');
      } finally {
        await prefixed.close();
      }
    });

    it('lets --server win over the credential file tokenEndpoint', async () => {
      await writeFile(
        path.join(cwd, 'elsewhere.json'),
        JSON.stringify({
          clientId: 'alpha.api',
          clientSecret: 's3cret',
          tokenEndpoint: 'http://127.0.0.1:1/oauth2/token',
        }),
      );
      const req = await sent('--scope', 'beta:domain', '--credentials', 'elsewhere.json');
      assert.equal(req.path, '/oauth2/token');
    });
  });

  describe('private_key_jwt', () => {
    const cases = [
      { type: 'P-256', alg: 'ES256', pair: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }) },
      { type: 'P-384', alg: 'ES384', pair: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }) },
      { type: 'Ed25519', alg: 'EdDSA', pair: () => generateKeyPairSync('ed25519') },
      { type: 'RSA', alg: 'RS256', pair: () => generateKeyPairSync('rsa', { modulusLength: 2048 }) },
    ];
    for (const { type, alg, pair } of cases) {
      it(`signs an RFC 7523 assertion with ${alg} for a ${type} key`, async () => {
        const { privateKey, publicKey } = pair();
        const file = await keyFile(`${type}.pem`, privateKey);
        const req = await sent('--scope', 'beta:domain', '--client-id', 'alpha.api', '--key', file, '--kid', 'k1');
        const form = req.body as Record<string, string>;
        assert.equal(req.headers.authorization, undefined);
        assert.deepEqual(Object.keys(form).sort(), ['client_assertion', 'client_assertion_type', 'client_id', 'grant_type', 'scope']);
        assert.equal(form.client_assertion_type, ASSERTION_TYPE);
        assert.equal(form.client_id, 'alpha.api');
        assert.deepEqual(decodeProtectedHeader(form.client_assertion!), { alg, kid: 'k1' });
        const { payload } = await jwtVerify(form.client_assertion!, publicKey, {
          algorithms: [alg],
          issuer: 'alpha.api',
          subject: 'alpha.api',
          audience: `${server.url}/oauth2/token`,
          currentDate: new Date(NOW),
        });
        assert.equal(payload.iat, NOW / 1000);
        assert.equal(payload.exp, NOW / 1000 + 60);
        assert.match(payload.jti ?? '', /^[0-9a-f-]{36}$/);
      });
    }

    it('uses a fresh jti for every assertion', async () => {
      const file = await keyFile('p256.pem', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
      const jtis = new Set<string>();
      for (let i = 0; i < 2; i += 1) {
        server.requests.length = 0;
        const req = await sent('--scope', 'beta:domain', '--client-id', 'alpha.api', '--key', file, '--kid', 'k1');
        const assertion = (req.body as Record<string, string>).client_assertion!;
        jtis.add(JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString()).jti);
      }
      assert.equal(jtis.size, 2);
    });

    it('refuses a key type it cannot sign with, before connecting', async () => {
      const file = await keyFile('p521.pem', generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey);
      const result = await token('--scope', 'beta:domain', '--client-id', 'alpha.api', '--key', file, '--kid', 'k1');
      assert.equal(result.code, 2);
      assert.equal(result.stderr, 'error: key file p521.pem holds a secp521r1 key; use a P-256, P-384, Ed25519 or RSA key\n');
      assert.equal(server.requests.length, 0);
    });

    it('refuses an RSA key under 2048 bits, which the server does not register (the SDK key table)', async () => {
      const file = await keyFile('rsa1024.pem', generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey);
      const result = await token('--scope', 'beta:domain', '--client-id', 'alpha.api', '--key', file, '--kid', 'k1');
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        'error: key file rsa1024.pem holds a 1024-bit RSA key; use an RSA key of 2048 to 8192 bits with public exponent 65537, or a P-256, P-384 or Ed25519 key\n',
      );
      assert.equal(server.requests.length, 0);
    });

    it('refuses an RSA key with public exponent 3, which the server does not register (the SDK key table)', async () => {
      const file = await keyFile('rsa-e3.pem', generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).privateKey);
      const result = await token('--scope', 'beta:domain', '--client-id', 'alpha.api', '--key', file, '--kid', 'k1');
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        'error: key file rsa-e3.pem holds a 2048-bit RSA (public exponent 3) key; use an RSA key of 2048 to 8192 bits with public exponent 65537, or a P-256, P-384 or Ed25519 key\n',
      );
      assert.equal(server.requests.length, 0);
    });

    it('refuses a public key file: signing needs the private key', async () => {
      const { publicKey } = generateKeyPairSync('ed25519');
      await writeFile(path.join(cwd, 'public.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
      const result = await token('--scope', 'beta:domain', '--client-id', 'alpha.api', '--key', 'public.pem', '--kid', 'k1');
      assert.equal(result.code, 2);
      assert.equal(result.stderr, 'error: key file public.pem holds no PEM private key\n');
    });

    it('says how to decrypt an encrypted key', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await writeFile(path.join(cwd, 'locked.pem'), privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }));
      const result = await token('--scope', 'beta:domain', '--client-id', 'alpha.api', '--key', 'locked.pem', '--kid', 'k1');
      assert.equal(result.code, 2);
      assert.match(result.stderr, /^error: key file locked\.pem is encrypted; decrypt it first/);
    });
  });

  describe('tls_client_auth', () => {
    let pki: TestPki;
    let mtls: FakeTessera;

    before(async () => {
      pki = createTestPki();
      mtls = await startFakeTessera({ clientId: 'x', clientSecret: 'x', tls: { ...pki.server, ca: pki.ca.cert } });
      mtls.answerToken(acceptAnything);
      const client = pki.client('alpha.api');
      await writeFile(path.join(cwd, 'client.pem'), client.cert);
      await writeFile(path.join(cwd, 'client.key'), client.key);
      await writeFile(path.join(cwd, 'ca.pem'), pki.ca.cert);
    });
    after(async () => {
      await mtls.close();
      pki.dispose();
    });
    beforeEach(() => {
      mtls.requests.length = 0;
    });

    const viaMtls = (...argv: string[]): Promise<CliResult> =>
      runCli(['token', '--server', mtls.url, '--cacert', 'ca.pem', '--scope', 'beta:domain', ...argv], { cwd });

    it('presents the certificate in the TLS handshake and sends its CN as client_id', async () => {
      const result = await viaMtls('--cert', 'client.pem', '--key', 'client.key');
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${ACCESS_TOKEN}\n`);
      const [req] = mtls.requests;
      assert.equal(req?.clientCertificateCn, 'alpha.api');
      assert.equal(req.headers.authorization, undefined);
      assert.deepEqual(req.body, { grant_type: 'client_credentials', scope: 'beta:domain', client_id: 'alpha.api' });
    });

    it('sends --client-id instead of the CN when given', async () => {
      const result = await viaMtls('--cert', 'client.pem', '--key', 'client.key', '--client-id', 'alpha.other');
      assert.equal(result.code, 0, result.stderr);
      assert.equal((mtls.requests[0]?.body as Record<string, string>).client_id, 'alpha.other');
      assert.equal(mtls.requests[0]?.clientCertificateCn, 'alpha.api');
    });

    it('refuses a key that does not belong to the certificate, before connecting', async () => {
      await writeFile(path.join(cwd, 'other.key'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
      const result = await viaMtls('--cert', 'client.pem', '--key', 'other.key');
      assert.equal(result.code, 2);
      assert.equal(result.stderr, 'error: key file other.key is not the private key of the certificate in client.pem\n');
      assert.equal(mtls.requests.length, 0);
    });

    it('refuses a certificate file that holds no certificate', async () => {
      const result = await viaMtls('--cert', 'client.key', '--key', 'client.key');
      assert.equal(result.code, 2);
      assert.equal(result.stderr, 'error: certificate file client.key holds no PEM certificate\n');
    });

    it('refuses a plain-HTTP server: the certificate travels in the TLS handshake', async () => {
      const result = await token('--scope', 'beta:domain', '--cert', 'client.pem', '--key', 'client.key');
      assert.equal(result.code, 2);
      assert.match(result.stderr, /^error: --cert needs an https:\/\/ server/);
      assert.equal(server.requests.length, 0);
    });
  });

  describe('output', () => {
    it('--json prints the whole token response', async () => {
      const response = { access_token: 'a.b.c', token_type: 'Bearer', expires_in: 3600, scope: 'beta:role.readers' };
      server.answerToken({ status: 200, body: response });
      const req = await sent('--scope', 'beta:readers', '--client-id', 'alpha.api', '--client-secret-file', 'secret.txt', '--json');
      assert.deepEqual(JSON.parse(req.result.stdout), response);
    });

    it('--decode prints the header and claims of the access token', async () => {
      const jwt = await new SignJWT({ aud: 'beta', scp: ['readers'] }).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'sk1' }).sign(new Uint8Array(32));
      server.answerToken({ status: 200, body: { access_token: jwt, token_type: 'Bearer' } });
      const req = await sent('--scope', 'beta:readers', '--client-id', 'alpha.api', '--client-secret-file', 'secret.txt', '--decode');
      assert.deepEqual(JSON.parse(req.result.stdout), {
        header: { alg: 'HS256', typ: 'at+jwt', kid: 'sk1' },
        claims: { aud: 'beta', scp: ['readers'] },
      });
    });

    it('--decode of a token that is not a JWT fails with exit 1', async () => {
      const result = await token('--scope', 'beta:readers', '--client-id', 'alpha.api', '--client-secret-file', 'secret.txt', '--decode');
      assert.equal(result.code, 1);
      assert.equal(result.stderr, 'error: the access token is not a JWT (expected three base64url parts separated by dots)\n');
    });

    it('--id-token prints the ID token instead of the access token', async () => {
      server.answerToken({ status: 200, body: { access_token: 'at', token_type: 'Bearer', id_token: 'idt' } });
      const req = await sent('--scope', 'openid beta:service.api beta:domain', '--id-token', '--client-id', 'alpha.api', '--client-secret-file', 'secret.txt');
      assert.equal(req.result.stdout, 'idt\n');
    });

    it('--id-token without openid and a service in the scope is a usage error that says what to add', async () => {
      for (const scope of ['beta:domain', 'openid beta:domain', 'beta:service.api']) {
        const result = await token('--scope', scope, '--id-token', '--client-id', 'alpha.api', '--client-secret-file', 'secret.txt');
        assert.equal(result.code, 2);
        assert.match(result.stderr, /^error: --id-token needs openid and <domain>:service\.<name> \(the ID token audience\) in --scope/);
      }
      assert.equal(server.requests.length, 0);
    });

    it('--id-token fails with exit 1 when the answer has no ID token', async () => {
      const result = await token('--scope', 'openid beta:service.api', '--id-token', '--client-id', 'alpha.api', '--client-secret-file', 'secret.txt');
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `error: token endpoint ${server.url}/oauth2/token answered without an id_token for scope "openid beta:service.api"\n`);
    });
  });

  describe('failures', () => {
    const secret = ['--client-id', 'alpha.api', '--client-secret-file', 'secret.txt'];

    it('shows the server error, error_code and description on one line with exit 1', async () => {
      server.answerToken({
        status: 401,
        body: { error: 'invalid_client', error_description: 'client authentication failed: unknown client', error_code: 'AUTH_101' },
      });
      const result = await token('--scope', 'beta:domain', ...secret);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.equal(
        result.stderr,
        `error: token request to ${server.url}/oauth2/token: HTTP 401 invalid_client AUTH_101: client authentication failed: unknown client\n`,
      );
    });

    it('shows a scope refusal with exit 1', async () => {
      server.answerToken({ status: 403, body: { error: 'access_denied', error_description: 'alpha.api holds no role in beta' } });
      const result = await token('--scope', 'beta:domain', ...secret);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /HTTP 403 access_denied: alpha\.api holds no role in beta\n$/);
    });

    it('reports an unreachable server with exit 1', async () => {
      const result = await runCli(['token', '--server', 'http://127.0.0.1:1', '--scope', 'beta:domain', ...secret], { cwd });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^error: cannot reach http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
    });

    const usage: [string, string[], RegExp][] = [
      ['no --scope', [...secret], /required option '--scope <scope>' not specified/],
      ['an empty --scope', ['--scope', ' ', ...secret], /^error: --scope is empty/],
      ['no credential', ['--scope', 's'], /^error: no client credential: pass --client-id I --client-secret-file F, /],
      [
        'two credentials',
        ['--scope', 's', ...secret, '--key', 'k.pem', '--kid', 'k1'],
        /^error: --client-secret-file and --key are two client credentials; pass exactly one of/,
      ],
      [
        '--credentials with --client-id',
        ['--scope', 's', '--credentials', 'c.json', '--client-id', 'a.b'],
        /^error: --client-id and --credentials both name the client; drop --client-id/,
      ],
      ['a secret file without --client-id', ['--scope', 's', '--client-secret-file', 'secret.txt'], /^error: --client-secret-file needs --client-id/],
      ['--key without --client-id', ['--scope', 's', '--key', 'k.pem', '--kid', 'k1'], /^error: --key needs --client-id/],
      ['--key without --kid', ['--scope', 's', '--client-id', 'a.b', '--key', 'k.pem'], /^error: --key needs --kid/],
      ['--cert without --key', ['--scope', 's', '--cert', 'c.pem'], /^error: --cert needs --key/],
      [
        '--kid with --cert',
        ['--scope', 's', '--cert', 'c.pem', '--key', 'k.pem', '--kid', 'k1'],
        /^error: --kid is for --key without --cert \(private_key_jwt\), not for --cert/,
      ],
      [
        'a missing secret file',
        ['--scope', 's', '--client-id', 'a.b', '--client-secret-file', 'nope.txt'],
        /^error: cannot read client secret file nope\.txt: no such file/,
      ],
      ['--json with --decode', ['--scope', 's', ...secret, '--json', '--decode'], /option '--json' cannot be used with option '--decode'/],
      ['--expires-in 0', ['--scope', 's', ...secret, '--expires-in', '0'], /expected a positive integer/],
    ];
    for (const [what, argv, message] of usage) {
      it(`is a usage error (exit 2) with ${what}, before connecting`, async () => {
        const result = await token(...argv);
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, message);
        assert.equal(result.stderr.trimEnd().split('\n').length, 1, 'one line');
        assert.equal(server.requests.length, 0);
      });
    }

    it('is a usage error when the secret file is empty', async () => {
      await writeFile(path.join(cwd, 'empty.txt'), '\n');
      const result = await token('--scope', 's', '--client-id', 'a.b', '--client-secret-file', 'empty.txt');
      assert.equal(result.code, 2);
      assert.equal(result.stderr, 'error: client secret file empty.txt is empty\n');
    });
  });
});

/** The built-in fake only knows client_secret_basic; these tests check what was sent instead. */
function acceptAnything(req: RecordedRequest): { status: number; body: unknown } {
  const form = req.body as Record<string, string>;
  return { status: 200, body: { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 3600, scope: form.scope } };
}
