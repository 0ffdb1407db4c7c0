// Auth-failure alerts on an injected clock (each outcome carries its time): one alert per key
// and window, as an audit event, a warn line and a webhook POST to a local receiver.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ALERT_TYPE, createAuthFailureAlerts, type AuthFailureAlertOptions } from '../../src/guards/auth-failures.ts';
import type { GuardLog, NewAuditEvent } from '../../src/guards/audit-writer.ts';
import type { TokenOutcome } from '../../src/oauth2/token-service.ts';

const T0 = 1_700_000_000_000;

function failure(claimedClientId: string | undefined, at = T0, clientIp = '192.0.2.1'): TokenOutcome {
  return {
    endpoint: 'token',
    at,
    clientIp,
    claimedClientId,
    principal: undefined,
    method: undefined,
    requestedScope: 'beta:domain',
    result: 'AUTH_101',
    status: 401,
  };
}

interface Received {
  path: string;
  contentType: string | undefined;
  body: unknown;
}

/** A webhook receiver on loopback; `answer` picks the status, or 'hang' to never answer. */
async function receiver(answer: () => number | 'hang'): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', contentType: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      const status = answer();
      if (status !== 'hang') res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, received, server };
}

function harness(overrides: Partial<AuthFailureAlertOptions> = {}) {
  const audit: NewAuditEvent[] = [];
  const warnings: { details: Record<string, unknown>; message: string }[] = [];
  const log: GuardLog = {
    warn: (details, message) => warnings.push({ details: details as Record<string, unknown>, message }),
    error: (details, message) => assert.fail(`unexpected error log: ${message} ${JSON.stringify(details)}`),
  };
  const alerts = createAuthFailureAlerts({
    failureThreshold: 3,
    failureWindow: 60,
    webhookUrl: null,
    audit: { write: (e) => audit.push(e) },
    log,
    source: 'https://tessera.test',
    ...overrides,
  });
  return { alerts, audit, warnings };
}

describe('auth-failure alerts', () => {
  let hook: Awaited<ReturnType<typeof receiver>>;
  let status: number | 'hang' = 204;
  before(async () => {
    hook = await receiver(() => status);
  });
  after(async () => {
    hook.server.closeAllConnections();
    await new Promise((resolve) => hook.server.close(resolve));
  });

  it('raises exactly one alert for a client id when its failures reach the threshold within the window', async () => {
    const { alerts, audit, warnings } = harness();
    // Distinct addresses, so only the client-id counter reaches the threshold.
    for (let i = 0; i < 10; i++) alerts.observe(failure('alpha.api', T0 + i * 1000, `192.0.2.${i}`));
    const raised = audit.filter((e) => e.type === ALERT_TYPE);
    assert.equal(raised.length, 1);
    assert.deepEqual(raised[0], {
      at: T0 + 2000,
      actor: 'system',
      type: 'alert.auth-failures',
      target: 'alpha.api',
      before: null,
      after: { count: 3, window: 60, clientIp: '192.0.2.2' },
    });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /3 failed client authentications for alpha\.api within 60 s/);
    assert.equal(warnings[0]!.details['target'], 'alpha.api');
    await alerts.close();
  });

  it('raises one alert for an address that fails with many client ids, target ip:<addr>', () => {
    const { alerts, audit } = harness();
    for (let i = 0; i < 7; i++) alerts.observe(failure(`alpha.guess${i}`, T0 + i, '203.0.113.5'));
    alerts.observe(failure(undefined, T0 + 8, '203.0.113.5'));
    assert.deepEqual(
      audit.map((e) => [e.target, e.after]),
      [['ip:203.0.113.5', { count: 3, window: 60 }]],
    );
  });

  it('counts an address block: failures rotating through one IPv6 /64 raise one alert for ip:<prefix>/64', () => {
    const { alerts, audit } = harness();
    for (let i = 1; i <= 3; i++) alerts.observe(failure(`alpha.guess${i}`, T0 + i, `2001:db8:1:2::${i.toString(16)}`));
    assert.deepEqual(
      audit.map((e) => [e.target, e.after]),
      [['ip:2001:db8:1:2::/64', { count: 3, window: 60 }]],
    );
  });

  it('raises again in the next window, not before', () => {
    const { alerts, audit } = harness();
    const at = (s: number) => failure('alpha.api', T0 + s * 1000, `198.51.100.${s}`);
    for (const s of [0, 1, 2, 30, 59]) alerts.observe(at(s));
    assert.equal(audit.length, 1);
    for (const s of [60, 61]) alerts.observe(at(s));
    assert.equal(audit.length, 1, 'the second window has two failures so far');
    alerts.observe(at(62));
    assert.equal(audit.length, 2);
  });

  it('does not count failures spread wider than the window', () => {
    const { alerts, audit } = harness();
    for (let i = 0; i < 10; i++) alerts.observe(failure('alpha.api', T0 + i * 31_000, `198.51.100.${i}`));
    assert.equal(audit.length, 0);
  });

  it('ignores every outcome that is not a failed authentication', () => {
    const { alerts, audit } = harness({ failureThreshold: 1 });
    for (const [result, status] of [
      ['issued', 200],
      ['AUTH_103', 401],
      ['AUTH_104', 403],
      ['AUTH_106', 429],
      ['invalid_scope', 400],
    ] as const) {
      alerts.observe({ ...failure('alpha.api'), result, status });
    }
    assert.equal(audit.length, 0);
  });

  it('posts each alert as JSON to the webhook, off the request path', async () => {
    status = 204;
    hook.received.length = 0;
    const { alerts, warnings } = harness({ webhookUrl: `${hook.url}/hooks/secret-path-token` });
    for (let i = 0; i < 5; i++) alerts.observe(failure('alpha.api', T0 + i, `192.0.2.${i}`));
    assert.equal(hook.received.length, 0, 'observe() returns before anything is sent');
    await alerts.close();
    assert.equal(hook.received.length, 1);
    assert.equal(hook.received[0]!.path, '/hooks/secret-path-token');
    assert.equal(hook.received[0]!.contentType, 'application/json');
    assert.deepEqual(hook.received[0]!.body, {
      type: 'alert.auth-failures',
      source: 'https://tessera.test',
      at: new Date(T0 + 2).toISOString(),
      target: 'alpha.api',
      count: 3,
      window: 60,
      clientIp: '192.0.2.2',
    });
    assert.equal(warnings.length, 1, 'only the alert line: the post succeeded');
  });

  it('logs a webhook that answers an error at warn, naming its origin but not its path', async () => {
    status = 500;
    const { alerts, warnings } = harness({ webhookUrl: `${hook.url}/hooks/secret-path-token`, failureThreshold: 1 });
    alerts.observe(failure('alpha.api'));
    await alerts.close();
    const line = warnings.find((w) => /webhook/.test(w.message));
    assert.ok(line, JSON.stringify(warnings));
    assert.match(line.message, /answered 500/);
    assert.doesNotMatch(JSON.stringify(warnings), /secret-path-token/);
  });

  it('gives up on a webhook that does not answer within its timeout, and logs it', async () => {
    status = 'hang';
    const { alerts, warnings } = harness({ webhookUrl: hook.url, failureThreshold: 1, webhookTimeoutMs: 100 });
    const started = Date.now();
    alerts.observe(failure('alpha.api'));
    await alerts.close();
    assert.ok(Date.now() - started < 2000);
    assert.ok(
      warnings.some((w) => /webhook at http:\/\/127\.0\.0\.1:\d+ failed/.test(w.message)),
      JSON.stringify(warnings.map((w) => w.message)),
    );
  });

  it('logs an unreachable webhook at warn and carries on', async () => {
    const { alerts, warnings, audit } = harness({ webhookUrl: 'http://127.0.0.1:1/hook', failureThreshold: 1 });
    alerts.observe(failure('alpha.api'));
    await alerts.close();
    assert.equal(audit.length, 2, 'client and address alerts are still recorded');
    assert.ok(warnings.some((w) => /webhook at http:\/\/127\.0\.0\.1:1 failed/.test(w.message)));
  });

  it('skips webhook posts beyond the in-flight bound instead of piling them up', async () => {
    status = 'hang';
    const { alerts, warnings } = harness({ webhookUrl: hook.url, failureThreshold: 1, maxPendingWebhooks: 2, webhookTimeoutMs: 200 });
    for (let i = 0; i < 5; i++) alerts.observe(failure(`alpha.c${i}`, T0, '192.0.2.1'));
    assert.ok(warnings.some((w) => /skipped/.test(w.message)));
    await alerts.close();
  });

  it('tracks at most maxKeys counters however many client ids a flood makes up', () => {
    const { alerts } = harness({ maxKeys: 1000 });
    for (let i = 0; i < 100_000; i++) alerts.observe(failure(`made-up-${i}`, T0 + i, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
    assert.ok(alerts.trackedKeys.client <= 1000, `client ${alerts.trackedKeys.client}`);
    assert.ok(alerts.trackedKeys.ip <= 1000, `ip ${alerts.trackedKeys.ip}`);
  });
});
