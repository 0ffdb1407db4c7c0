// Where the keys come from: discovery (once, issuer checked), the JWKS cache and its refetch on
// a new kid, and what happens when the issuer cannot be reached: 503-class errors while nothing
// usable is cached, the last good key set while something is, and no request storm either way.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier, InvalidTokenError, VerifierUnavailableError } from '../src/verifier/index.ts';
import { signingKey, startIssuer, type TestIssuer } from './verifier-fixtures.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function assertUnavailable(message: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof VerifierUnavailableError, String(error));
    assert.equal(error.code, 'VERIFIER_UNAVAILABLE');
    assert.equal(error.status, 503);
    assert.equal(error.error, 'temporarily_unavailable');
    assert.match(error.message, message);
    return true;
  };
}

describe('verifier: keys and discovery', () => {
  let issuer: TestIssuer;
  before(async () => {
    issuer = await startIssuer();
  });
  after(() => issuer.close());

  it('finds the JWKS through discovery once, and skips discovery when jwksUri is configured', async () => {
    const before = { ...issuer.fetches };
    const discovered = createVerifier({ issuer: issuer.url, audience: 'beta' });
    await Promise.all([discovered.verify(await issuer.sign()), discovered.verify(await issuer.sign())]);
    await discovered.verify(await issuer.sign());
    assert.equal(issuer.fetches.discovery, before.discovery + 1);
    assert.equal(issuer.fetches.jwks, before.jwks + 1);
    const configured = createVerifier({ issuer: issuer.url, audience: 'beta', jwksUri: `${issuer.url}/jwks` });
    await configured.verify(await issuer.sign());
    assert.equal(issuer.fetches.discovery, before.discovery + 1);
    assert.equal(issuer.fetches.jwks, before.jwks + 2);
  });

  it('creating a verifier fetches nothing until the first token', async () => {
    const before = { ...issuer.fetches };
    createVerifier({ issuer: issuer.url, audience: 'beta' });
    await sleep(20);
    assert.deepEqual(issuer.fetches, before);
  });

  it('refuses a discovery document that names another issuer (RFC 8414 §3.3)', async () => {
    const impostor = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: issuer.url, jwks_uri: `${issuer.url}/jwks` }));
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
      const verifier = createVerifier({ issuer: url, audience: 'beta' });
      await assert.rejects(verifier.verify(await issuer.sign({ iss: url })), assertUnavailable(/names issuer ".*", not ".*"/));
    } finally {
      impostor.close();
    }
  });

  it('an unreachable issuer is VERIFIER_UNAVAILABLE (a 503, not a refused token)', async () => {
    const gone = await startIssuer();
    const url = gone.url;
    await gone.close();
    const verifier = createVerifier({ issuer: url, audience: 'beta' });
    await assert.rejects(verifier.verify(await issuer.sign({ iss: url })), assertUnavailable(/discovery document .* could not be fetched.*try again later/));
    const withJwks = createVerifier({ issuer: url, audience: 'beta', jwksUri: `${url}/jwks` });
    await assert.rejects(withJwks.verify(await issuer.sign({ iss: url })), assertUnavailable(/keys \(JWKS\) could not be fetched/));
  });

  it('a failed discovery is repeated without a request until the cooldown has passed', async () => {
    let down = true;
    let requests = 0;
    const flaky = createServer((_req, res) => {
      requests++;
      if (down) return void res.writeHead(500).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: url, jwks_uri: `${issuer.url}/jwks` }));
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`;
    try {
      const verifier = createVerifier({ issuer: url, audience: 'beta', cooldown: 0.5 });
      const token = await issuer.sign({ iss: url });
      for (let i = 0; i < 10; i++) await assert.rejects(verifier.verify(token), assertUnavailable(/answered 500/));
      assert.equal(requests, 1);
      down = false;
      await sleep(550);
      assert.equal((await verifier.verify(token)).principal, 'alpha.api');
      assert.equal(requests, 2);
    } finally {
      flaky.close();
    }
  });

  it('a failing JWKS is not fetched again within the cooldown, and works again after it', async () => {
    const local = await startIssuer();
    try {
      local.jwksStatus = 500;
      const verifier = createVerifier({ issuer: local.url, audience: 'beta', cooldown: 1 });
      const token = await local.sign();
      for (let i = 0; i < 20; i++) await assert.rejects(verifier.verify(token), VerifierUnavailableError);
      assert.equal(local.fetches.jwks, 1);
      local.jwksStatus = 200;
      await sleep(1100);
      assert.equal((await verifier.verify(token)).principal, 'alpha.api');
      assert.equal(local.fetches.jwks, 2);
    } finally {
      await local.close();
    }
  });

  it('keeps verifying with the last good key set while the JWKS is down, without a request storm', async () => {
    const local = await startIssuer();
    try {
      const tokens = await Promise.all(Array.from({ length: 21 }, () => local.sign()));
      const verifier = createVerifier({ issuer: local.url, audience: 'beta', cacheMaxAge: 0.1, cooldown: 1, cacheSize: 0 });
      await verifier.verify(await local.sign());
      local.jwksStatus = 503;
      await sleep(150);
      for (const token of tokens.slice(0, 20)) assert.equal((await verifier.verify(token)).principal, 'alpha.api');
      assert.equal(local.fetches.jwks, 2, 'one failed refetch, then the stale set for the cooldown');
      await sleep(1100);
      await verifier.verify(tokens[20] as string);
      assert.equal(local.fetches.jwks, 3, 'tried again after the cooldown');
    } finally {
      await local.close();
    }
  });

  it('picks up a newly published key on its first token, after the cooldown', async () => {
    const local = await startIssuer();
    try {
      const verifier = createVerifier({ issuer: local.url, audience: 'beta', cooldown: 0.2 });
      await verifier.verify(await local.sign());
      const next = await signingKey('next');
      local.published.push(next);
      await sleep(250);
      assert.equal((await verifier.verify(await local.sign({}, {}, next))).principal, 'alpha.api');
      assert.equal(local.fetches.jwks, 2);
    } finally {
      await local.close();
    }
  });

  it('refuses a cached token at its next use once a refetch shows its signing key gone from the JWKS', async () => {
    const local = await startIssuer();
    try {
      const verifier = createVerifier({ issuer: local.url, audience: 'beta', cooldown: 0.2 });
      const token = await local.sign();
      // A token is admitted to the verified-token cache on its second verification.
      await verifier.verify(token);
      await verifier.verify(token);

      // A rotation that keeps the old key published changes nothing for the cached token.
      const next = await signingKey('next');
      local.published.push(next);
      await sleep(250);
      await verifier.verify(await local.sign({}, {}, next));
      assert.equal(local.fetches.jwks, 2);
      assert.equal((await verifier.verify(token)).principal, 'alpha.api');

      // The old key leaves the JWKS; a token of yet another key makes the verifier refetch.
      const newest = await signingKey('newest');
      local.published.splice(0, local.published.length, next, newest);
      await sleep(250);
      await verifier.verify(await local.sign({}, {}, newest));
      assert.equal(local.fetches.jwks, 3);
      const unknownKey = (error: unknown): boolean => error instanceof InvalidTokenError && error.reason === 'key';
      await assert.rejects(verifier.verify(token), unknownKey);
      await assert.rejects(verifier.verify(token), unknownKey, 'and again: nothing was cached');
    } finally {
      await local.close();
    }
  });

  it("follows the JWKS answer's max-age, so a key published that long before it signs is known in time, whatever the cooldown", async () => {
    for (const cacheControl of ['public, max-age=1', undefined]) {
      const local = await startIssuer();
      try {
        local.jwksCacheControl = cacheControl;
        // A cooldown far longer than the test: only the issuer's max-age can bring the new key.
        const verifier = createVerifier({ issuer: local.url, audience: 'beta', cooldown: 600 });
        await verifier.verify(await local.sign());
        const next = await signingKey('next');
        local.published.push(next);
        await sleep(1100);
        const verified = verifier.verify(await local.sign({}, {}, next));
        if (cacheControl) assert.equal((await verified).principal, 'alpha.api');
        else await assert.rejects(verified, /key/, 'without a max-age the cached set lasts cacheMaxAge');
        assert.equal(local.fetches.jwks, cacheControl ? 2 : 1);
      } finally {
        await local.close();
      }
    }
  });

  it('takes max-age=0 as one second: a burst of tokens costs one fetch, not one each', async () => {
    const local = await startIssuer();
    try {
      local.jwksCacheControl = 'max-age=0';
      const verifier = createVerifier({ issuer: local.url, audience: 'beta' });
      const tokens = await Promise.all(Array.from({ length: 20 }, () => local.sign()));
      for (const token of tokens) await verifier.verify(token);
      assert.equal(local.fetches.jwks, 1);
    } finally {
      await local.close();
    }
  });

  it('uses the given fetch for discovery and the JWKS', async () => {
    const seen: string[] = [];
    const verifier = createVerifier({
      issuer: issuer.url,
      audience: 'beta',
      fetch: (url, init) => {
        seen.push(url);
        return fetch(url, init);
      },
    });
    await verifier.verify(await issuer.sign());
    assert.deepEqual(seen, [`${issuer.url}/.well-known/openid-configuration`, `${issuer.url}/jwks`]);
  });
});
