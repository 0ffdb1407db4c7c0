// `tessera serve --workers 2`: the console's sign-in limit per address is shared out between the
// workers as the token endpoint's limits are (guards/worker-share.ts): connections are dealt in
// turn, so with the whole budget in each worker one address would get twice the configured one.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestProvider, type TestProvider } from '@tessera/testkit/oidc-provider';
import { startCluster, type Cluster } from './serve-cluster-support.ts';

describe('tessera serve --workers 2: console sign-ins per address', () => {
  let dataDir: string;
  let cluster: Cluster;
  let idp: TestProvider;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-cluster-sign-in-'));
    idp = await startTestProvider({ redirectUris: ['https://127.0.0.1/console/'] });
    const secretFile = join(dataDir, 'oidc-client-secret');
    await writeFile(secretFile, `${idp.clientSecret}\n`);
    const configFile = join(dataDir, 'tessera.json');
    const oidc = { issuer: idp.issuer, clientId: idp.clientId, clientSecretFile: secretFile, principal: { claim: 'preferred_username', domain: 'user' } };
    await writeFile(configFile, JSON.stringify({ console: { oidc } }));
    cluster = await startCluster({
      dataDir,
      args: ['--workers', '2', '--config', configFile],
      // A burst of 2 in all: one for each worker. The rate is low enough that nothing refills during the test.
      env: { TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN: '1', TESSERA_RATE_LIMIT_CONSOLE_SIGN_IN_BURST: '2' },
    });
  });
  after(async () => {
    cluster?.child.kill('SIGKILL');
    await idp?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('allows the configured burst from one address in all, not a burst per worker, and names the configured budget', async () => {
    const attempt = () =>
      cluster.from('127.0.0.1').send('/console/oidc/session', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'not-a-code', codeVerifier: 'v'.repeat(43), nonce: 'n', redirectUri: `${cluster.url}/console/` }),
      });
    // Each attempt on a new connection: dealt to worker 0, 1, 0, 1.
    const results = [await attempt(), await attempt(), await attempt(), await attempt()];
    assert.deepEqual(
      results.map((res) => res.status === 429),
      [false, false, true, true],
      results.map((res) => `${res.status} ${res.text}`).join('\n'),
    );
    assert.match(results[2]!.json.message as string, /too many sign-ins from address 127\.0\.0\.1 \(at most 1 per second, bursts of 2\)/);
  });
});
