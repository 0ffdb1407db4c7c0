// `tessera token --on-behalf-of` (RFC 8693 token exchange, with --impersonation) and
// `--proxy-for` (proxy_for_principal) against a real Tessera: the tokens' sub, act and client_id,
// the subject token given inline, from @file and from stdin, the server's refusals with exit 1,
// and bad flag combinations refused before any request.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

import { runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';

describe('tessera token acting for another principal, against a real server', () => {
  let t: TestServer;
  let cwd: string;
  let connection: string[];
  let subject: string;
  let idToken: string;

  const cli = (argv: string[], stdin?: Readable): Promise<CliResult> =>
    runCli(['token', ...argv, ...connection], { cwd, ...(stdin === undefined ? {} : { stdin }) });
  const asBeta = ['--client-id', 'beta.api', '--client-secret-file', 'beta.secret'];
  const claimsOf = async (...argv: string[]): Promise<Record<string, unknown>> => {
    const result = await cli([...argv, '--decode']);
    assert.equal(result.code, 0, `tessera token ${argv.join(' ')}: ${result.stderr}`);
    return (JSON.parse(result.stdout) as { claims: Record<string, unknown> }).claims;
  };

  before(async () => {
    t = await startTestServer();
    cwd = await mkdtemp(path.join(tmpdir(), 'tessera-token-exchange-'));
    connection = ['--server', t.url, '--cacert', path.join(t.dataDir, 'ca.pem')];
    for (const name of ['alpha', 'beta', 'gamma']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const secrets: Record<string, string> = {};
    for (const [domain, name] of [
      ['alpha', 'api'],
      ['beta', 'api'],
    ] as const) {
      const created = await t.admin$('POST', `/domains/${domain}/services`, { name, secret: true });
      assert.equal(created.status, 201, created.text);
      secrets[domain] = created.json.clientSecret as string;
    }
    await writeFile(path.join(cwd, 'beta.secret'), `${secrets['beta']}\n`, { mode: 0o600 });
    const put = async (role: string, body: unknown): Promise<void> => {
      const res = await t.admin$('PUT', `/domains/${role}`, body);
      assert.equal(res.status, 201, res.text);
    };
    await put('beta/roles/readers', { members: [{ principal: 'alpha.api' }] });
    await put('gamma/roles/readers', { members: [{ principal: 'alpha.api' }, { principal: 'beta.api' }], actors: ['beta.api'], impersonators: ['beta.api'] });
    await put('gamma/roles/writers', { members: [{ principal: 'alpha.api' }, { principal: 'beta.api' }] });
    // What alpha.api sends when it calls beta.api: the subject token beta.api exchanges.
    const res = await t.token('alpha.api', secrets['alpha']!, { grant_type: 'client_credentials', scope: 'beta:readers' });
    assert.equal(res.status, 200, res.text);
    subject = res.json.access_token as string;
    await writeFile(path.join(cwd, 'subject.jwt'), `${subject}\n`, { mode: 0o600 });
    // What alpha.api proves itself to beta.api with: an ID token issued for beta.api.
    const withId = await t.token('alpha.api', secrets['alpha']!, { grant_type: 'client_credentials', scope: 'openid beta:service.api beta:readers' });
    assert.equal(withId.status, 200, withId.text);
    idToken = withId.json.id_token as string;
    await put('gamma/roles/callers', { members: [{ principal: 'alpha.api' }], actors: ['beta.api'], idTokenSubjects: true });
  });
  after(async () => {
    await t?.stop();
    await rm(cwd, { recursive: true, force: true });
  });

  it('--on-behalf-of exchanges the subject token: sub is the subject, act.sub the client', async () => {
    const claims = await claimsOf('--scope', 'gamma:readers', ...asBeta, '--on-behalf-of', subject);
    assert.equal(claims['sub'], 'alpha.api');
    assert.deepEqual(claims['act'], { sub: 'beta.api' });
    assert.equal(claims['client_id'], 'beta.api');
    assert.equal(claims['aud'], 'gamma');
  });

  it('--subject-token-type id_token exchanges an ID token issued for the client, where the role allows it', async () => {
    const claims = await claimsOf('--scope', 'gamma:callers', ...asBeta, '--on-behalf-of', idToken, '--subject-token-type', 'id_token');
    assert.equal(claims['sub'], 'alpha.api');
    assert.deepEqual(claims['act'], { sub: 'beta.api' });
    assert.equal(claims['exchanged_from_id_token'], true);
    const refused = await cli(['--scope', 'gamma:readers', ...asBeta, '--on-behalf-of', idToken, '--subject-token-type', 'id_token']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /idTokenSubjects/);
    const wrongType = await cli(['--scope', 'gamma:callers', ...asBeta, '--on-behalf-of', idToken]);
    assert.equal(wrongType.code, 1, wrongType.stderr);
    assert.match(wrongType.stderr, /invalid_request/);
    const alone = await cli(['--scope', 'gamma:callers', ...asBeta, '--subject-token-type', 'id_token']);
    assert.equal(alone.code, 2, alone.stderr);
    assert.match(alone.stderr, /--subject-token-type needs --on-behalf-of/);
    const unknown = await cli(['--scope', 'gamma:callers', ...asBeta, '--on-behalf-of', idToken, '--subject-token-type', 'saml2']);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /Allowed choices are access_token, id_token/);
  });

  it('reads the subject token from @file and from stdin (-); --json shows issued_token_type', async () => {
    assert.equal((await claimsOf('--scope', 'gamma:readers', ...asBeta, '--on-behalf-of', '@subject.jwt'))['sub'], 'alpha.api');
    const piped = await cli(['--scope', 'gamma:readers', ...asBeta, '--on-behalf-of', '-', '--json'], Readable.from([`${subject}\n`]));
    assert.equal(piped.code, 0, piped.stderr);
    const response = JSON.parse(piped.stdout) as Record<string, unknown>;
    assert.equal(response['issued_token_type'], 'urn:ietf:params:oauth:token-type:access_token');
    assert.equal(response['scope'], 'gamma:readers');
  });

  it('--impersonation asks for a token without act', async () => {
    const claims = await claimsOf('--scope', 'gamma:readers', ...asBeta, '--on-behalf-of', '@subject.jwt', '--impersonation');
    assert.equal(claims['sub'], 'alpha.api');
    assert.equal(claims['client_id'], 'beta.api');
    assert.equal(claims['act'], undefined);
  });

  it('--proxy-for gets a token for the principal (proxy_for_principal), acting for it', async () => {
    const claims = await claimsOf('--scope', 'gamma:readers', ...asBeta, '--proxy-for', 'alpha.api');
    assert.equal(claims['sub'], 'alpha.api');
    assert.deepEqual(claims['act'], { sub: 'beta.api' });
    assert.deepEqual(claims['scp'], ['readers']);
  });

  it('reports the server refusing, with exit 1: a role that does not list the client among its actors', async () => {
    for (const acting of [
      ['--on-behalf-of', '@subject.jwt'],
      ['--proxy-for', 'alpha.api'],
    ]) {
      const result = await cli(['--scope', 'gamma:writers', ...asBeta, ...acting]);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^error: token request to \S+: HTTP 403 access_denied/);
    }
    const notForUs = await cli(['--scope', 'gamma:readers', ...asBeta, '--proxy-for', 'alpha.nobody']);
    assert.equal(notForUs.code, 1);
    assert.match(notForUs.stderr, /HTTP 403 access_denied/);
  });

  it('--help names the flags and shows an example of each', async () => {
    const help = await runCli(['token', '--help'], { cwd: '/' });
    assert.match(help.stdout, /--on-behalf-of <token> +exchange this access token \(RFC 8693\)/);
    assert.match(help.stdout, /--impersonation +with --on-behalf-of/);
    assert.match(help.stdout, /--proxy-for <principal> +a token for this principal/);
    assert.match(help.stdout, /\$ tessera token .* --on-behalf-of @caller\.jwt/);
    assert.match(help.stdout, /\$ tessera token .* --proxy-for alpha\.api/);
  });

  it('refuses bad flags before any request, with exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--impersonation'], /--impersonation needs --on-behalf-of/],
      [['--on-behalf-of', subject, '--proxy-for', 'alpha.api'], /cannot be used with option '--proxy-for/],
      [['--on-behalf-of', subject, '--id-token'], /cannot be used with option '--id-token'/],
      [['--on-behalf-of', '@missing.jwt'], /cannot read subject token file missing\.jwt: no such file/],
      [['--on-behalf-of', 'not a token'], /--on-behalf-of is not an access token/],
      [['--on-behalf-of', '-'], /--on-behalf-of is empty \(read from stdin\)/],
      [['--proxy-for', 'alpha'], /--proxy-for needs a principal, <domain>\.<service>/],
    ];
    for (const [flags, message] of cases) {
      const result = await cli(['--scope', 'gamma:readers', ...asBeta, ...flags], Readable.from([]));
      assert.equal(result.code, 2, `${flags.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
    }
  });
});
