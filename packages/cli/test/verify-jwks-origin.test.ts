// Where `tessera verify` takes the keys it trusts: the discovery document's jwks_uri only when it is
// https (or http on this machine) and on the server's or the issuer's origin; anywhere else only
// when named with --jwks-uri; and the server itself over https or loopback http only.

import './helpers/test-hosts.ts';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { JWTPayload } from 'jose';

import { makeWorkspace, runCli } from './helpers/cli.ts';
import type { CliResult } from './helpers/cli.ts';
import { startFakeIssuer } from './helpers/fake-issuer.ts';
import type { FakeIssuer } from './helpers/fake-issuer.ts';

const NOW = Date.parse('2030-01-01T00:00:00.000Z');
const IAT = NOW / 1000;

describe('tessera verify: where the keys come from', () => {
  let server: FakeIssuer;
  let other: FakeIssuer;
  let cwd: string;
  before(async () => {
    server = await startFakeIssuer();
    other = await startFakeIssuer();
    cwd = await makeWorkspace();
  });
  after(async () => {
    await server.close();
    await other.close();
    await rm(cwd, { recursive: true, force: true });
  });

  const claims = (iss: string): JWTPayload => ({
    iss,
    aud: 'beta',
    sub: 'alpha.api',
    client_id: 'alpha.api',
    iat: IAT,
    nbf: IAT,
    exp: IAT + 3600,
    jti: 'j1',
    scope: 'beta:role.readers',
  });
  const verify = (token: string, ...argv: string[]): Promise<CliResult> =>
    runCli(['verify', token, '--server', server.url, '--audience', 'beta', ...argv], { cwd, now: () => NOW });

  it('refuses a jwks_uri on another origin than the server and the issuer, and says how to name it', async () => {
    server.discovery = { issuer: server.url, jwks_uri: `${other.url}/oauth2/keys` };
    other.requests.length = 0;
    const result = await verify(await other.sign(claims(server.url)));
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `error: the discovery document of ${server.url} names the jwks_uri ${other.url}/oauth2/keys, which is on neither the server's nor the issuer's origin (${server.url}); ` +
        `if the keys are really there, pass --jwks-uri ${other.url}/oauth2/keys\n`,
    );
    assert.deepEqual(other.requests, []);
  });

  it('takes keys from another origin named with --jwks-uri', async () => {
    server.discovery = { issuer: server.url, jwks_uri: `${server.url}/oauth2/keys` };
    const result = await verify(await other.sign(claims(server.url)), '--jwks-uri', `${other.url}/oauth2/keys`);
    assert.equal(result.code, 0, result.stderr);
  });

  it("takes a jwks_uri on the issuer's origin (a server reached by another name)", async () => {
    server.discovery = { issuer: other.url, jwks_uri: `${other.url}/oauth2/keys` };
    const result = await verify(await other.sign(claims(other.url)));
    assert.equal(result.code, 0, result.stderr);
  });

  it('refuses a jwks_uri of plain http to a host that is not this machine, fetching nothing', async () => {
    server.discovery = { issuer: 'http://tessera.test', jwks_uri: `http://tessera.test:${new URL(other.url).port}/oauth2/keys` };
    other.requests.length = 0;
    const result = await verify(await other.sign(claims('http://tessera.test')));
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^error: the discovery document of .* names the jwks_uri http:\/\/tessera\.test:\d+\/oauth2\/keys, plain http to a host that is not this machine: keys read in clear could be anyone's; refusing to verify against them\n$/,
    );
    assert.deepEqual(other.requests, []);
  });

  it('refuses a plain-http server that is not this machine (exit 2)', async () => {
    const result = await runCli(['verify', 'a.b.c', '--server', 'http://tessera.test:1'], { cwd });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /verify needs an https:\/\/ server \(http only to localhost, 127\.x\.x\.x or \[::1\]\), got http:\/\/tessera\.test:1\//);
  });

  for (const [value, reason] of [
    ['http://tessera.test/keys', /--jwks-uri must be https:\/\/ \(http only to localhost, 127\.x\.x\.x or \[::1\]\), got http:\/\/tessera\.test\/keys/],
    ['not a url', /--jwks-uri is not a URL: "not a url"/],
  ] as const) {
    it(`refuses --jwks-uri ${value} (exit 2)`, async () => {
      const result = await verify('a.b.c', '--jwks-uri', value);
      assert.equal(result.code, 2);
      assert.match(result.stderr, reason);
    });
  }
});
