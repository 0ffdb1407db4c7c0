// The token endpoint's guards over real HTTPS: rate limits (429 AUTH_106 + Retry-After; per
// address before authentication, per proven client after it, so a stranger naming a client
// cannot lock it out), trusted proxies, auth-failure alerts (audit, warn log, webhook) and the
// audit of every token request. Clocks are frozen where a refill is asserted, so no test
// depends on timing.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';
import { send, type TestResponse } from '@tessera/testkit/https';

const form = 'application/x-www-form-urlencoded';
const ok = { grant_type: 'client_credentials', scope: 'beta:domain' };

function assertError(res: TestResponse, status: number, error: string, code?: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.equal(res.json.error_code, code, res.text);
  assert.ok(typeof res.json.error_description === 'string' && res.json.error_description.length > 10, res.text);
}

/** Domains alpha and beta, services alpha.<name> with the given settings, readers of beta unless named in `outsiders`. */
async function setUp(
  t: TestServer,
  adminToken: string,
  services: Record<string, Record<string, unknown>>,
  outsiders: string[] = [],
): Promise<Record<string, string>> {
  const secrets: Record<string, string> = {};
  for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name }, adminToken)).status, 201);
  for (const [name, extra] of Object.entries(services)) {
    const res = await t.admin$('POST', '/domains/alpha/services', { name, ...extra }, adminToken);
    assert.equal(res.status, 201, res.text);
    secrets[name] = res.json.clientSecret;
  }
  const members = Object.keys(services)
    .filter((s) => !outsiders.includes(s))
    .map((s) => ({ principal: `alpha.${s}` }));
  assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members }, adminToken)).status, 201);
  return secrets;
}

const tokenVia = (t: TestServer, clientId: string, secret: string, headers: Record<string, string>): Promise<TestResponse> =>
  t.send('/oauth2/token', {
    method: 'POST',
    headers: { 'content-type': form, authorization: basic(clientId, secret), ...headers },
    body: new URLSearchParams(ok).toString(),
  });

/** A loopback HTTP server that records the JSON bodies POSTed to it. */
async function webhookReceiver(): Promise<{ url: string; bodies: Record<string, unknown>[]; close(): Promise<void> }> {
  const bodies: Record<string, unknown>[] = [];
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/hook`, bodies, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('rate limits', () => {
  let t: TestServer;
  let clock = Date.now();
  let adminToken: string;
  let secrets: Record<string, string>;
  before(async () => {
    t = await startTestServer({
      now: () => clock,
      env: { TESSERA_RATE_LIMIT_CLIENT: '1', TESSERA_RATE_LIMIT_CLIENT_BURST: '2', TESSERA_RATE_LIMIT_IP: '5', TESSERA_RATE_LIMIT_IP_BURST: '5' },
    });
    adminToken = await t.adminToken();
    secrets = await setUp(t, adminToken, { api: {}, other: {}, third: {} });
    clock += 60_000;
  });
  after(() => t.stop());

  it('answers 429 AUTH_106 with Retry-After once a client spends its burst, and lets it back after the wait', async () => {
    assert.equal((await t.token('alpha.api', secrets['api']!, ok)).status, 200);
    assert.equal((await t.token('alpha.api', secrets['api']!, ok)).status, 200);
    const limited = await t.token('alpha.api', secrets['api']!, ok);
    assertError(limited, 429, 'rate_limited', 'AUTH_106');
    assert.equal(limited.headers['retry-after'], '1');
    assert.equal(limited.headers['cache-control'], 'no-store');
    assert.match(limited.json.error_description, /alpha\.api.*retry after 1 s/);

    // Another client from the same address is not held back by alpha.api's bucket.
    assert.equal((await t.token('alpha.other', secrets['other']!, ok)).status, 200);

    clock += Number(limited.headers['retry-after']) * 1000;
    assert.equal((await t.token('alpha.api', secrets['api']!, ok)).status, 200);
    assertError(await t.token('alpha.api', secrets['api']!, ok), 429, 'rate_limited', 'AUTH_106');
  });

  it('counts a request the client limit refused against its address too', async () => {
    clock += 10_000;
    for (let i = 0; i < 2; i++) assert.equal((await t.token('alpha.third', secrets['third']!, ok)).status, 200);
    for (let i = 0; i < 2; i++) assertError(await t.token('alpha.third', secrets['third']!, ok), 429, 'rate_limited', 'AUTH_106');
    // Four of the address's five tokens are spent, the two client refusals included.
    assert.equal((await t.token('alpha.other', secrets['other']!, ok)).status, 200);
    const limited = await t.token('alpha.other', secrets['other']!, ok);
    assertError(limited, 429, 'rate_limited', 'AUTH_106');
    assert.match(limited.json.error_description, /address 127\.0\.0\.1/);
  });

  it('limits a source address across client ids', async () => {
    clock += 10_000;
    const answers: number[] = [];
    for (let i = 0; i < 6; i++) answers.push((await t.token(`alpha.guess${i}`, 'x', ok)).status);
    assert.deepEqual(answers, [401, 401, 401, 401, 401, 429]);
    const limited = await t.token('alpha.other', secrets['other']!, ok);
    assertError(limited, 429, 'rate_limited', 'AUTH_106');
    assert.match(limited.json.error_description, /address 127\.0\.0\.1/);
  });

  it('counts refusals in /metrics by the limit that refused', async () => {
    const metrics = await t.send('/metrics');
    assert.match(metrics.text, /tessera_token_rate_limited_total\{limit="client"\} [1-9]/);
    assert.match(metrics.text, /tessera_token_rate_limited_total\{limit="ip"\} [1-9]/);
    assert.match(metrics.text, /tessera_token_requests_total\{result="AUTH_106"\} [1-9]/);
  });
});

describe('rate limits against a stranger who names a client', () => {
  let t: TestServer;
  const clock = Date.now() + 60_000;
  let adminToken: string;
  let secrets: Record<string, string>;
  before(async () => {
    t = await startTestServer({
      // The clock never moves: no bucket refills during the test.
      now: () => clock,
      env: { TESSERA_RATE_LIMIT_CLIENT: '1', TESSERA_RATE_LIMIT_CLIENT_BURST: '2', TESSERA_RATE_LIMIT_IP: '1000', TESSERA_RATE_LIMIT_IP_BURST: '1000' },
      edit: (config) => {
        config.alerts = { failureThreshold: 10, failureWindow: 60, webhookUrl: null };
      },
    });
    adminToken = await t.adminToken();
    secrets = await setUp(t, adminToken, { api: {} });
  });
  after(() => t.stop());

  it('does not lock the real client out: wrong secrets naming alpha.api spend none of its tokens', async () => {
    // Far more than alpha.api's burst of 2, from the same address as the real client, in both
    // ways of sending a secret.
    for (let i = 0; i < 20; i++) assertError(await t.token('alpha.api', `wrong-${i}`, ok), 401, 'invalid_client', 'AUTH_101');
    for (let i = 0; i < 5; i++) {
      const posted = await t.send('/oauth2/token', {
        method: 'POST',
        headers: { 'content-type': form },
        body: new URLSearchParams({ ...ok, client_id: 'alpha.api', client_secret: `wrong-post-${i}` }).toString(),
      });
      assertError(posted, 401, 'invalid_client', 'AUTH_101');
    }

    const real = await t.token('alpha.api', secrets['api']!, ok);
    assert.equal(real.status, 200, real.text);
    assert.equal((await t.token('alpha.api', secrets['api']!, ok)).status, 200);
    // The client limit still holds for the client itself.
    const limited = await t.token('alpha.api', secrets['api']!, ok);
    assertError(limited, 429, 'rate_limited', 'AUTH_106');
    assert.match(limited.json.error_description, /client 'alpha\.api'/);
  });

  it('still raises the auth-failure alerts for the named client and the address', async () => {
    await t.server.flushAudit();
    const res = await t.admin$('GET', '/audit?type=alert.auth-failures', undefined, adminToken);
    assert.equal(res.status, 200, res.text);
    const targets = (res.json.events as { target: string }[]).map((e) => e.target).sort();
    assert.deepEqual(targets, ['alpha.api', 'ip:127.0.0.1']);
  });
});

describe('rate limits turned off', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { TESSERA_RATE_LIMIT_CLIENT: '0', TESSERA_RATE_LIMIT_IP: '0' } });
  });
  after(() => t.stop());

  it('never answers 429 when both rates are 0', async () => {
    const statuses = new Set<number>();
    // More than the default burst of 100 per client, back to back.
    for (let i = 0; i < 120; i++)
      statuses.add((await t.token(t.admin.clientId, t.admin.clientSecret, { grant_type: 'client_credentials', scope: 'sys.auth:role.admin' })).status);
    assert.deepEqual([...statuses], [200]);
    assert.doesNotMatch((await t.send('/metrics')).text, /tessera_token_rate_limited_total\{/);
  });
});

describe('X-Forwarded-For from an untrusted peer', () => {
  let t: TestServer;
  let secrets: Record<string, string>;
  before(async () => {
    t = await startTestServer();
    secrets = await setUp(t, await t.adminToken(), { fenced: { allowedIps: ['10.0.0.0/8'] }, local: { allowedIps: ['127.0.0.0/8'] } });
  });
  after(() => t.stop());

  it('is ignored: allowedIps still sees the TCP peer 127.0.0.1', async () => {
    const spoofed = { 'x-forwarded-for': '10.1.2.3' };
    const fenced = await tokenVia(t, 'alpha.fenced', secrets['fenced']!, spoofed);
    assertError(fenced, 403, 'access_denied', 'AUTH_104');
    assert.match(fenced.json.error_description, /127\.0\.0\.1/);
    assert.equal((await tokenVia(t, 'alpha.local', secrets['local']!, spoofed)).status, 200);
  });
});

describe('X-Forwarded-For from a trusted proxy, and auth-failure alerts', () => {
  let t: TestServer;
  let adminToken: string;
  let secrets: Record<string, string>;
  let hook: Awaited<ReturnType<typeof webhookReceiver>>;
  before(async () => {
    hook = await webhookReceiver();
    t = await startTestServer({
      edit: (config) => {
        config.trustedProxies = ['127.0.0.1/32'];
        config.alerts = { failureThreshold: 4, failureWindow: 60, webhookUrl: hook.url };
      },
    });
    adminToken = await t.adminToken();
    secrets = await setUp(t, adminToken, { fenced: { allowedIps: ['10.0.0.0/8'] }, private: { allowedIps: ['192.168.0.0/16'] } });
  });
  after(async () => {
    await t.stop();
    await hook.close();
  });

  it('is believed: the forwarded client is the caller for allowedIps', async () => {
    const forwarded = { 'x-forwarded-for': '10.1.2.3' };
    assert.equal((await tokenVia(t, 'alpha.fenced', secrets['fenced']!, forwarded)).status, 200);
    const refused = await tokenVia(t, 'alpha.private', secrets['private']!, forwarded);
    assertError(refused, 403, 'access_denied', 'AUTH_104');
    assert.match(refused.json.error_description, /10\.1\.2\.3/);
    // Without the header the caller is the proxy itself.
    assertError(await tokenVia(t, 'alpha.fenced', secrets['fenced']!, {}), 403, 'access_denied', 'AUTH_104');
  });

  it('records the forwarded address in the token audit', async () => {
    await t.server.flushAudit();
    const res = await t.admin$('GET', '/audit?principal=alpha.private&type=token.refused', undefined, adminToken);
    assert.equal(res.json.events[0].after.clientIp, '10.1.2.3');
  });

  it('raises one alert for an address whose failures reach the threshold, audited and posted to the webhook', async () => {
    const from = { 'x-forwarded-for': '10.9.9.9' };
    for (let i = 0; i < 7; i++) assertError(await tokenVia(t, `alpha.guess${i}`, 'wrong', from), 401, 'invalid_client', 'AUTH_101');
    await t.server.flushAudit();
    const res = await t.admin$('GET', '/audit?type=alert.auth-failures', undefined, adminToken);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      res.json.events.map((e: { actor: string; target: string; after: unknown }) => [e.actor, e.target, e.after]),
      [['system', 'ip:10.9.9.9', { count: 4, window: 60 }]],
    );
    const posted = await eventually('the webhook post', async () => (hook.bodies.length > 0 ? hook.bodies : undefined));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(posted.length, 1);
    assert.equal(posted[0]!['type'], 'alert.auth-failures');
    assert.equal(posted[0]!['target'], 'ip:10.9.9.9');
    assert.equal(posted[0]!['source'], t.server.config.issuer);
  });
});

describe('token request audit', () => {
  let t: TestServer;
  let clock = Date.now();
  let adminToken: string;
  let secrets: Record<string, string>;
  before(async () => {
    t = await startTestServer({ now: () => clock, env: { TESSERA_RATE_LIMIT_CLIENT: '1', TESSERA_RATE_LIMIT_CLIENT_BURST: '2' } });
    adminToken = await t.adminToken();
    secrets = await setUp(
      t,
      adminToken,
      {
        api: {},
        off: {},
        fenced: { allowedIps: ['10.0.0.0/8'] },
        norole: {},
        busy: {},
      },
      ['norole'],
    );
    assert.equal((await t.admin$('PATCH', '/domains/alpha/services/off', { status: 'DISABLED' }, adminToken)).status, 200);
    clock += 60_000;
  });
  after(() => t.stop());

  it('records each proven client’s outcome, sums up refusals before authentication, and never holds a secret or a token', async () => {
    const accessTokens: string[] = [];
    const issued = await t.token('alpha.api', secrets['api']!, ok);
    assert.equal(issued.status, 200, issued.text);
    accessTokens.push(issued.json.access_token);
    assertError(await t.token('alpha.api', 'wrong-secret-do-not-log', ok), 401, 'invalid_client', 'AUTH_101');
    assertError(await t.token('alpha.off', secrets['off']!, ok), 401, 'invalid_client', 'AUTH_103');
    assertError(await t.token('alpha.fenced', secrets['fenced']!, ok), 403, 'access_denied', 'AUTH_104');
    assertError(await t.token('alpha.norole', secrets['norole']!, { grant_type: 'client_credentials', scope: 'Beta' }), 400, 'invalid_scope');
    assertError(await t.token('alpha.norole', secrets['norole']!, ok), 403, 'access_denied');
    const busy = [];
    for (let i = 0; i < 3; i++) busy.push(await t.token('alpha.busy', secrets['busy']!, ok));
    accessTokens.push(busy[0]!.json.access_token, busy[1]!.json.access_token);
    assertError(busy[2]!, 429, 'rate_limited', 'AUTH_106');
    const anonymous = await t.send('/oauth2/token', { method: 'POST', headers: { 'content-type': form }, body: new URLSearchParams(ok).toString() });
    assertError(anonymous, 401, 'invalid_client', 'AUTH_101');

    await t.server.flushAudit();
    const res = await t.admin$('GET', '/audit?limit=1000', undefined, adminToken);
    assert.equal(res.status, 200, res.text);
    type Event = { actor: string; type: string; target: string; after: Record<string, unknown> };
    const events = (res.json.events as Event[]).filter((e) => e.type === 'token.issued' || e.type === 'token.refused');
    const find = (actor: string, result: string): Event | undefined => events.find((e) => e.actor === actor && e.after['result'] === result);

    const ok200 = find('alpha.api', 'issued');
    assert.ok(ok200, JSON.stringify(events));
    assert.equal(ok200.type, 'token.issued');
    assert.equal(ok200.target, 'alpha.api');
    assert.equal(ok200.after['status'], 200);
    assert.equal(ok200.after['clientIp'], '127.0.0.1');
    assert.equal(ok200.after['method'], 'client_secret_basic');
    assert.equal(ok200.after['scope'], 'beta:domain');
    assert.equal(ok200.after['grantedScope'], issued.json.scope);
    assert.equal(ok200.after['jti'], JSON.parse(Buffer.from(issued.json.access_token.split('.')[1], 'base64url').toString('utf8')).jti);
    assert.equal(ok200.after['reused'], false);

    for (const [actor, result, status] of [
      ['alpha.off', 'AUTH_103', 401],
      ['alpha.fenced', 'AUTH_104', 403],
      ['alpha.norole', 'invalid_scope', 400],
      ['alpha.norole', 'access_denied', 403],
      ['alpha.busy', 'AUTH_106', 429],
    ] as const) {
      const event = find(actor, result);
      assert.ok(event, `no token.refused event for ${actor} ${result}: ${JSON.stringify(events)}`);
      assert.equal(event.type, 'token.refused');
      assert.equal(event.after['status'], status);
    }
    assert.equal(events.filter((e) => e.actor === 'alpha.busy' && e.type === 'token.issued').length, 2);
    // The wrong secret and the anonymous request were refused before authentication: one summary row, no row each.
    assert.equal(events.filter((e) => e.after['result'] === 'AUTH_101').length, 0, JSON.stringify(events));
    const summaries = (res.json.events as Event[]).filter((e) => e.type === 'token.refused.summary');
    assert.deepEqual(
      summaries.map((e) => [e.actor, e.target, e.after['endpoint'], e.after['result'], e.after['status'], e.after['count'], e.after['clientIds']]),
      [['system', 'ip:127.0.0.1', 'token', 'AUTH_101', 401, 2, ['alpha.api']]],
    );
    assert.ok(
      events.some((e) => e.actor === t.admin.clientId && e.type === 'token.issued'),
      'the admin’s own token request is audited too',
    );

    const text = res.text;
    for (const secret of [...Object.values(secrets), t.admin.clientSecret, 'wrong-secret-do-not-log', adminToken, ...accessTokens]) {
      assert.ok(!text.includes(secret), `the audit holds a secret or token: ${secret.slice(0, 12)}…`);
    }
  });
});

describe('auth-failure alert from a running server', () => {
  const SERVER = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'server.ts')).href;
  const LOAD = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'config', 'load.ts')).href;
  let child: ChildProcess | undefined;
  let dataDir: string;
  let hook: Awaited<ReturnType<typeof webhookReceiver>>;
  after(async () => {
    child?.kill('SIGKILL');
    await hook?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('a burst of failures for one client gives exactly one alert audit event, one warn line and one webhook POST', async () => {
    hook = await webhookReceiver();
    dataDir = await mkdtemp(join(tmpdir(), 'tessera-alerts-'));
    const port = await freePort();
    const base = `https://127.0.0.1:${port}`;
    // The server in its own process, logging at warn to stdout as `tessera serve` does.
    const script = `
      const { loadConfig } = await import(${JSON.stringify(LOAD)});
      const { startServer } = await import(${JSON.stringify(SERVER)});
      const config = loadConfig({ flags: { dataDir: process.env.DATA_DIR, listen: process.env.LISTEN, logLevel: 'warn' }, env: process.env, cwd: process.env.DATA_DIR });
      await startServer(config);
      process.stdout.write('READY\\n');`;
    const env = {
      PATH: process.env['PATH'] ?? '',
      DATA_DIR: dataDir,
      LISTEN: base,
      TESSERA_TRUSTED_PROXIES: '127.0.0.1/32',
      TESSERA_ALERT_FAILURE_THRESHOLD: '3',
      TESSERA_ALERT_FAILURE_WINDOW: '60',
      TESSERA_ALERT_WEBHOOK_URL: hook.url,
    };
    child = spawn(process.execPath, ['--input-type=module', '-e', script], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    await eventually('the server to start', async () => (stdout.includes('READY') ? true : undefined), 30_000);
    const ca = await readFile(join(dataDir, 'ca.pem'), 'utf8');
    const admin = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as { clientId: string; clientSecret: string };

    // Five failures for one client id, each from its own forwarded address: only the client-id
    // counter reaches the threshold, and only once in this window.
    for (let i = 1; i <= 5; i++) {
      const res = await send(`${base}/oauth2/token`, {
        ca,
        method: 'POST',
        headers: { 'content-type': form, authorization: basic('alpha.api', `guess-${i}`), 'x-forwarded-for': `10.0.0.${i}` },
        body: new URLSearchParams(ok).toString(),
      });
      assertError(res, 401, 'invalid_client', 'AUTH_101');
    }

    const posted = await eventually('the webhook post', async () => (hook.bodies.length > 0 ? hook.bodies : undefined));
    const tokenRes = await send(`${base}/oauth2/token`, {
      ca,
      method: 'POST',
      headers: { 'content-type': form, authorization: basic(admin.clientId, admin.clientSecret) },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'sys.auth:role.admin' }).toString(),
    });
    assert.equal(tokenRes.status, 200, tokenRes.text);
    const bearer = { authorization: `Bearer ${tokenRes.json.access_token}` };
    // The batch writer flushes within 500 ms.
    const alerts = await eventually('the alert audit event', async () => {
      const res = await send(`${base}/admin/v1/audit?type=alert.auth-failures`, { ca, headers: bearer });
      return res.json.events.length > 0 ? (res.json.events as { actor: string; target: string; after: unknown }[]) : undefined;
    });
    assert.deepEqual(
      alerts.map((e) => [e.actor, e.target, e.after]),
      [['system', 'alpha.api', { count: 3, window: 60, clientIp: '10.0.0.3' }]],
    );
    assert.equal(posted.length, 1);
    assert.deepEqual(
      { ...posted[0], at: undefined, source: undefined },
      { type: 'alert.auth-failures', target: 'alpha.api', count: 3, window: 60, clientIp: '10.0.0.3', at: undefined, source: undefined },
    );

    const warnings = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg: string; alert?: string; target?: string })
      .filter((line) => line.level === 40 && line.alert === 'alert.auth-failures');
    assert.equal(warnings.length, 1, stdout);
    assert.equal(warnings[0]!.target, 'alpha.api');
    assert.match(warnings[0]!.msg, /3 failed client authentications for alpha\.api within 60 s/);
    assert.ok(!stdout.includes('guess-'), 'no tried secret reaches the log');
  });
});
