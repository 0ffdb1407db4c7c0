// `tessera verify` against a fake issuer (discovery + JWKS): a valid token prints its claims
// with exit 0; every way a token can be wrong is exit 1 with one line naming the reason.

import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { generateKeyPair } from 'jose';
import type { JWTPayload } from 'jose';

import { makeWorkspace, runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';
import { startFakeIssuer } from './helpers/fake-issuer.ts';
import type { FakeIssuer } from './helpers/fake-issuer.ts';
import { createTestPki, type TestPki } from '@tessera/testkit/pki';

const NOW = Date.parse('2030-01-01T00:00:00.000Z');
const IAT = NOW / 1000;

describe('tessera verify', () => {
  let issuer: FakeIssuer;
  let cwd: string;

  before(async () => {
    issuer = await startFakeIssuer();
    cwd = await makeWorkspace();
  });
  after(async () => {
    await issuer.close();
    await rm(cwd, { recursive: true, force: true });
  });
  beforeEach(() => {
    issuer.discovery = { issuer: issuer.url, jwks_uri: `${issuer.url}/oauth2/keys` };
  });

  const claims = (extra: JWTPayload = {}): JWTPayload => ({
    ver: 1,
    iss: issuer.url,
    aud: 'beta',
    sub: 'alpha.api',
    uid: 'alpha.api',
    client_id: 'alpha.api',
    iat: IAT,
    nbf: IAT,
    exp: IAT + 3600,
    jti: 'j1',
    scp: ['readers', 'writers'],
    scope: 'beta:role.readers beta:role.writers',
    ...extra,
  });
  const verify = (token: string, ...argv: string[]): Promise<CliResult> => runCli(['verify', token, '--server', issuer.url, ...argv], { cwd, now: () => NOW });

  async function rejected(result: CliResult, reason: string | RegExp): Promise<void> {
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, 'one line');
    if (typeof reason === 'string') assert.equal(result.stderr, `error: invalid token: ${reason}\n`);
    else assert.match(result.stderr, reason);
  }

  it('accepts a valid token and prints its claims, times with their date', async () => {
    const result = await verify(await issuer.sign(claims()), '--audience', 'beta');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, /^sub: +alpha\.api$/m);
    assert.match(result.stdout, /^scp: +readers,writers$/m);
    assert.match(result.stdout, /^exp: +1893459600 \(2030-01-01T01:00:00\.000Z\)$/m);
    assert.deepEqual(issuer.requests, ['/.well-known/openid-configuration', '/oauth2/keys']);
  });

  it('prints the claims as JSON with --json', async () => {
    const result = await verify(await issuer.sign(claims()), '--audience', 'beta', '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), claims());
  });

  it('says on stderr that the audience was not checked when --audience is absent', async () => {
    const result = await verify(await issuer.sign(claims()));
    assert.equal(result.code, 0);
    assert.match(result.stderr, /^note: the audience was not checked; pass --audience/);
  });

  it('accepts one audience of a multi-domain token', async () => {
    const result = await verify(await issuer.sign(claims({ aud: ['beta', 'gamma'] })), '--audience', 'gamma');
    assert.equal(result.code, 0, result.stderr);
  });

  it('reads the token from stdin when TOKEN is -', async () => {
    const token = await issuer.sign(claims());
    const result = await runCli(['verify', '-', '--server', issuer.url, '--audience', 'beta'], {
      cwd,
      now: () => NOW,
      stdin: Readable.from([`${token}\n`]),
    });
    assert.equal(result.code, 0, result.stderr);
  });

  it('is a usage error when stdin is empty', async () => {
    const result = await runCli(['verify', '-', '--server', issuer.url], { cwd, stdin: Readable.from([]) });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: the token is empty\n');
  });

  it('checks required scope items, role items in either form', async () => {
    const token = await issuer.sign(claims());
    const ok = await verify(token, '--audience', 'beta', '--scope', 'beta:readers beta:role.writers');
    assert.equal(ok.code, 0, ok.stderr);
    await rejected(
      await verify(token, '--audience', 'beta', '--scope', 'beta:readers beta:role.admin'),
      'missing scope beta:role.admin (the token has: beta:role.readers beta:role.writers)',
    );
    await rejected(
      await verify(await issuer.sign(claims({ scope: undefined })), '--scope', 'beta:readers'),
      'missing scope beta:readers (the token has: none)',
    );
  });

  it('rejects the wrong audience', async () => {
    await rejected(await verify(await issuer.sign(claims()), '--audience', 'gamma'), 'wrong audience: the token is for "beta", not "gamma"');
  });

  it('rejects an expired token, saying when it expired', async () => {
    await rejected(await verify(await issuer.sign(claims({ exp: IAT - 120 }))), 'expired at 2029-12-31T23:58:00.000Z');
  });

  it('tolerates 30 s of clock skew, no more', async () => {
    assert.equal((await verify(await issuer.sign(claims({ exp: IAT - 20 })), '--audience', 'beta')).code, 0);
    assert.equal((await verify(await issuer.sign(claims({ nbf: IAT + 20 })), '--audience', 'beta')).code, 0);
    await rejected(await verify(await issuer.sign(claims({ nbf: IAT + 600 }))), 'not valid before 2030-01-01T00:10:00.000Z');
  });

  it('rejects a token issued in the future beyond the skew (the SDK verifier checks iat)', async () => {
    await rejected(await verify(await issuer.sign(claims({ iat: IAT + 600 }))), 'issued in the future (iat 2030-01-01T00:10:00.000Z)');
  });

  it('rejects a tampered token: bad signature', async () => {
    const [header, , signature] = (await issuer.sign(claims())).split('.');
    const forged = Buffer.from(JSON.stringify(claims({ scope: 'beta:role.admin' }))).toString('base64url');
    await rejected(await verify(`${header}.${forged}.${signature}`), `bad signature: the token was altered, or was not signed by ${issuer.url}`);
  });

  it('rejects a token signed by another key under the same kid: bad signature', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    await rejected(await verify(await issuer.sign(claims(), {}, privateKey)), /^error: invalid token: bad signature/);
  });

  it('rejects a token whose kid is not published', async () => {
    await rejected(
      await verify(await issuer.sign(claims(), { kid: 'gone' })),
      `no key published at ${issuer.url}/oauth2/keys matches kid "gone"; the token comes from another server, or its signing key has been retired`,
    );
  });

  it('rejects an algorithm outside ES256, EdDSA and RS256', async () => {
    await rejected(await verify(await issuer.sign(claims(), { alg: 'HS256' }, new Uint8Array(32))), 'algorithm HS256 is not allowed (ES256, EdDSA or RS256)');
  });

  it('rejects an ID token as an access token, pointing at --id-token, and accepts it with --id-token', async () => {
    const idToken = await issuer.sign({ ver: 1, iss: issuer.url, aud: 'beta.api', sub: 'alpha.api', iat: IAT, exp: IAT + 60 }, { typ: 'JWT' });
    await rejected(await verify(idToken), 'wrong type: typ is "JWT", expected "at+jwt" (an ID token? pass --id-token)');
    const ok = await verify(idToken, '--id-token', '--audience', 'beta.api');
    assert.equal(ok.code, 0, ok.stderr);
    await rejected(await verify(await issuer.sign(claims()), '--id-token'), 'wrong type: typ is "at+jwt", expected "JWT"');
  });

  it('is a usage error to ask for a scope on an ID token', async () => {
    const result = await verify('x.y.z', '--id-token', '--scope', 'beta:readers');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: --scope cannot be checked on an ID token/);
  });

  it('rejects a token from another issuer, and accepts it when --issuer names that issuer', async () => {
    const token = await issuer.sign(claims({ iss: 'https://tessera.example' }));
    await rejected(await verify(token), `wrong issuer: the token was issued by "https://tessera.example", not "${issuer.url}"`);
    assert.equal((await verify(token, '--issuer', 'https://tessera.example', '--audience', 'beta')).code, 0);
  });

  it('rejects a token without exp or aud', async () => {
    await rejected(await verify(await issuer.sign(claims({ exp: undefined }))), 'it has no "exp" claim');
    await rejected(await verify(await issuer.sign(claims({ aud: undefined }))), 'it has no "aud" claim');
  });

  it('rejects an access token without jti or client_id (RFC 9068 §2.2)', async () => {
    await rejected(await verify(await issuer.sign(claims({ jti: undefined }))), 'it has no "jti" claim');
    await rejected(await verify(await issuer.sign(claims({ client_id: undefined }))), 'it has no "client_id" claim');
  });

  it('rejects a malformed token', async () => {
    await rejected(await verify('not-a-jwt'), /^error: invalid token: malformed token: /);
  });

  it('fails with exit 1 when the server publishes no discovery document', async () => {
    issuer.discovery = null;
    const result = await verify(await issuer.sign(claims()));
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `error: discovery request to ${issuer.url}/.well-known/openid-configuration: HTTP 404 not_found: no such route\n`);
  });

  it('fails with exit 1 when the discovery document names no jwks_uri', async () => {
    issuer.discovery = { issuer: issuer.url };
    const result = await verify(await issuer.sign(claims()));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /is not a discovery document with an issuer and a jwks_uri; is --server a Tessera server\?\n$/);
  });

  it('fails with exit 1 when the JWKS cannot be fetched', async () => {
    issuer.discovery = { issuer: issuer.url, jwks_uri: `${issuer.url}/missing-keys` };
    const result = await verify(await issuer.sign(claims()));
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `error: JWKS request to ${issuer.url}/missing-keys: HTTP 404 not_found: no such route\n`);
  });

  it('fails with exit 1 when the server cannot be reached', async () => {
    const result = await runCli(['verify', 'a.b.c', '--server', 'http://127.0.0.1:1'], { cwd });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^error: cannot reach http:\/\/127\.0\.0\.1:1: /);
  });

  describe('over HTTPS', () => {
    let pki: TestPki;
    let secure: FakeIssuer;

    before(async () => {
      pki = createTestPki();
      secure = await startFakeIssuer({ tls: pki.server });
      await writeFile(path.join(cwd, 'ca.pem'), pki.ca.cert);
    });
    after(async () => {
      await secure.close();
      pki.dispose();
    });

    it('fetches discovery and JWKS trusting --cacert', async () => {
      const token = await secure.sign({ ...claims(), iss: secure.url });
      const result = await runCli(['verify', token, '--server', secure.url, '--cacert', 'ca.pem', '--audience', 'beta'], {
        cwd,
        now: () => NOW,
      });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(secure.requests, ['/.well-known/openid-configuration', '/oauth2/keys']);
    });

    it('refuses a server its CA bundle does not vouch for', async () => {
      const token = await secure.sign({ ...claims(), iss: secure.url });
      const result = await runCli(['verify', token, '--server', secure.url], { cwd: await makeWorkspace(), now: () => NOW });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^error: cannot reach https:\/\/127\.0\.0\.1:\d+: .*\(is --cacert the CA that issued the server certificate\?\)\n$/);
    });
  });
});
