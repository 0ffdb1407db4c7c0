// The soak's short variant for CI (the full one is `npm run soak`): the same machinery, 15 s at a
// modest fixed rate against one Tessera process, the SDK verifying every token the load
// generator receives and token clients refreshing short-lived tokens. Any failed request, failed
// verification or token-client error fails it; RSS growth is printed but not judged, since 15 s
// is mostly warm-up.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Children } from '../../../../bench/harness/processes.ts';
import { runSoak } from '../../../../bench/soak.ts';

const SECONDS = 15;
const INTERVAL = 3;
const RATE = 100;
const TOKEN_CLIENTS = 3;

test('a short soak: every request answered, every token verifies, token clients refresh, RSS sampled and printed each interval', async () => {
  const children = new Children();
  const killAll = (): void => children.killAll();
  process.on('exit', killAll);
  const printed: string[] = [];
  try {
    const result = await runSoak({
      durationSeconds: SECONDS,
      rate: RATE,
      peakSeconds: 0,
      intervalSeconds: INTERVAL,
      warmupSeconds: INTERVAL,
      connections: 8,
      storage: 'sqlite',
      verifyEvery: 1,
      tokenClients: TOKEN_CLIENTS,
      clientCallEveryMs: 250,
      // Refreshed in the background at about half-life, so several times within the soak.
      clientTokenLifetimeSeconds: 4,
      clientForceRefreshEvery: 10,
      timeoutMs: 5000,
      children,
      print: (line) => {
        printed.push(line);
        console.log(line);
      },
    });

    assert.equal(
      result.errors,
      0,
      `load generator failures ${JSON.stringify(result.load.failures)}; SDK failures ${JSON.stringify(result.sdk.failures)} ${result.sdk.examples.join(' | ')}`,
    );
    assert.equal(result.load.sent, SECONDS * RATE);
    assert.equal(result.load.ok, SECONDS * RATE);
    assert.equal(result.sdk.verified, result.load.ok, 'every token the load generator received was verified with the SDK');
    assert.ok(result.sdk.clientCalls >= TOKEN_CLIENTS * 10, `token clients made only ${result.sdk.clientCalls} calls`);
    assert.ok(result.sdk.clientTokens >= TOKEN_CLIENTS * 3, `token clients handed out only ${result.sdk.clientTokens} distinct tokens: no refreshes`);

    assert.equal(result.samples.length, SECONDS / INTERVAL);
    for (const sample of result.samples) {
      assert.ok(sample.rssMb > 20, `RSS sampled at ${sample.seconds} s: ${sample.rssMb} MB`);
      assert.ok(sample.heapUsedMb !== undefined && sample.heapUsedMb > 0, `heap reported at ${sample.seconds} s`);
      assert.ok(sample.requestsPerSecond > 0);
    }
    assert.ok(result.rss.steadyStartMb > 0 && result.rss.endMb > 0 && result.rss.maxMb >= result.rss.endMb);
    assert.ok(Number.isFinite(result.rss.growthPercent));

    const header = printed.findIndex((line) => /t s\s+RSS MB/.test(line));
    assert.ok(header >= 0, 'the table header was printed');
    const rows = printed.slice(header + 1).filter((line) => /^\s*\d+\s+\d+\.\d/.test(line));
    assert.equal(rows.length, result.samples.length, 'a row printed per sample');
    assert.ok(printed.some((line) => line.startsWith('RSS growth over the steady phase: ')));
    assert.ok(printed.some((line) => line === 'Errors: 0'));
  } finally {
    process.off('exit', killAll);
    children.killAll();
  }
});
