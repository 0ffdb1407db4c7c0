// `tessera gateway --workers 2`: the primary serves nothing itself; both workers answer the
// connections of one caller (their pids on the access lines), a reload (the file changing, SIGHUP)
// reaches every worker with one log line, a bad file is refused once and every worker keeps its
// routes, a killed worker is replaced while requests keep succeeding, /metrics gives the total of
// both, the access log stays whole JSON lines under concurrent load, and SIGTERM drains.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { send } from '@tessera/testkit/https';
import { spawnGateway, startWorld, type RunningGateway, type World } from './helpers/world.ts';

describe('gateway --workers 2', () => {
  let world: World;
  let gw: RunningGateway;
  let file: string;
  let bearer: string;

  before(async () => {
    world = await startWorld();
    file = world.config();
    gw = await spawnGateway(file, {}, ['--workers', '2']);
    bearer = await world.token('carol', 'orders:domain');
  });
  after(async () => {
    await gw?.stop();
    await world?.close();
  });

  const get = (path: string, agent: Agent | false = false) =>
    send(`${gw.url}${path}`, { ca: world.pki.ca.cert, agent, headers: { authorization: `Bearer ${bearer}` } });
  const access = (match: (entry: Record<string, unknown>) => boolean = () => true): Record<string, unknown>[] =>
    gw.logs.filter((entry) => entry['msg'] === 'access' && match(entry));
  const count = (msg: string): number => gw.logs.filter((entry) => entry['msg'] === msg).length;
  const workerPids = (entries: Record<string, unknown>[]): number[] => [...new Set(entries.map((entry) => entry['pid'] as number))].sort();

  it('starts two workers and serves the connections of one caller from both', async () => {
    const listening = await gw.waitForLog((entry) => entry['msg'] === 'gateway listening');
    assert.equal(listening['workers'], 2);
    for (let i = 0; i < 12; i++) assert.equal((await get(`/orders/both-${i}`)).status, 200);
    await waitUntil(() => access((entry) => String(entry['path']).startsWith('/orders/both-')).length === 12);
    const pids = workerPids(access((entry) => String(entry['path']).startsWith('/orders/both-')));
    assert.equal(pids.length, 2, `pids that answered: ${pids.join(', ')}`);
    assert.ok(!pids.includes(gw.process.pid!), 'the primary answered a request itself');
    assert.deepEqual([...new Set(access().map((entry) => entry['worker']))].sort(), [0, 1]);
  });

  it('gives the total of both workers on /metrics, whichever worker the scrape reaches', async () => {
    const total = (text: string): number =>
      text
        .split('\n')
        .filter((line) => line.startsWith('tessera_gateway_requests_total{'))
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    await waitUntil(() => true);
    const answered = access().length;
    for (let i = 0; i < 4; i++) {
      const scrape = await send(gw.metricsUrl!);
      assert.equal(scrape.status, 200);
      assert.equal(total(scrape.text), answered, scrape.text);
    }
  });

  it('applies a reload in every worker, on open connections too, with one log line; refuses a bad file once and keeps the routes', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 6, ca: world.pki.ca.cert });
    // Six connections opened before the reload, dealt to both workers.
    await Promise.all(Array.from({ length: 6 }, (_, i) => get(`/orders/open-${i}`, agent)));
    assert.equal((await get('/v2/orders')).status, 404);
    const applied = count('config reloaded');
    world.config((c) =>
      c.routes.push({
        name: 'v2',
        pathPrefix: '/v2',
        methods: ['GET'],
        upstream: world.upstream.url,
        audience: 'orders',
        require: { scope: ['orders:role.readers'] },
      }),
    );
    await waitUntil(() => count('config reloaded') > applied);
    gw.process.kill('SIGHUP');
    await waitUntil(() => count('config reloaded') > applied + 1);
    await sleep(300);
    assert.equal(count('config reloaded'), applied + 2, 'one line per reload, not one per worker');
    assert.equal(gw.logs.filter((e) => e['msg'] === 'config reloaded').at(-1)?.['workers'], 2);
    const onOpen = await Promise.all(Array.from({ length: 6 }, () => get('/v2/open', agent)));
    const onNew = await Promise.all(Array.from({ length: 8 }, () => get('/v2/new')));
    assert.deepEqual([...new Set([...onOpen, ...onNew].map((res) => res.status))], [200]);
    await waitUntil(() => access((entry) => entry['route'] === 'v2').length === 14);
    assert.equal(workerPids(access((entry) => entry['route'] === 'v2')).length, 2, 'both workers served the new route');

    // A file that does not pass the checks: one line, and every worker keeps the v2 route.
    const refused = count('config reload refused; the running configuration is kept');
    writeFileSync(file, '{ "routes": [ oops');
    await waitUntil(() => count('config reload refused; the running configuration is kept') > refused);
    await sleep(400);
    assert.equal(count('config reload refused; the running configuration is kept'), refused + 1, 'one refusal line, not one per worker');
    const kept = await Promise.all(Array.from({ length: 8 }, (_, i) => get(`/v2/kept-${i}`)));
    assert.deepEqual([...new Set(kept.map((res) => res.status))], [200]);
    await waitUntil(() => access((entry) => String(entry['path']).startsWith('/v2/kept-')).length === 8);
    assert.equal(workerPids(access((entry) => String(entry['path']).startsWith('/v2/kept-'))).length, 2);
    agent.destroy();
    world.config((c) =>
      c.routes.push({
        name: 'v2',
        pathPrefix: '/v2',
        methods: ['GET'],
        upstream: world.upstream.url,
        audience: 'orders',
        require: { scope: ['orders:role.readers'] },
      }),
    );
    await waitUntil(() => count('config reloaded') > applied + 2);
  });

  it('replaces a killed worker; requests keep succeeding', async () => {
    const [victim] = workerPids(access());
    // Requests started once the primary saw the worker exit; those the killed worker held fail with it.
    const after: { status: number; text: string; ms: number }[] = [];
    let running = true;
    let exitSeen = false;
    const loops = Array.from({ length: 3 }, async (_, n) => {
      for (let i = 0; running; i++) {
        const counted = exitSeen;
        const started = Date.now();
        const res = await get(`/orders/kill-${n}-${i}`).catch((error: Error) => ({ status: -1, text: error.message }));
        if (counted) after.push({ status: res.status, text: res.text, ms: Date.now() - started });
      }
    });
    await sleep(200);
    process.kill(victim!, 'SIGKILL');
    await gw.waitForLog((entry) => /^worker \d exited; restarting it$/.test(String(entry['msg'])));
    exitSeen = true;
    await gw.waitForLog((entry) => /^worker \d is serving again$/.test(String(entry['msg'])));
    await waitUntil(() => after.length >= 30);
    running = false;
    // A connection node:cluster handed to the worker just as it was killed waits for the caller's
    // timeout; that request started before the kill and is not counted.
    await Promise.race([Promise.all(loops), sleep(2000)]);
    assert.ok(after.length > 10, `only ${after.length} requests ran after the kill`);
    assert.deepEqual(
      after.filter((res) => res.status !== 200),
      [],
    );
    const exited = gw.logs.find((entry) => /^worker \d exited; restarting it$/.test(String(entry['msg'])))!;
    assert.equal(exited['pid'], victim);
    assert.equal(exited['signal'], 'SIGKILL');
    // The new worker answers too.
    for (let i = 0; i < 8; i++) assert.equal((await get(`/orders/after-kill-${i}`)).status, 200);
    await waitUntil(() => access((entry) => String(entry['path']).startsWith('/orders/after-kill-')).length === 8);
    const now = workerPids(access((entry) => String(entry['path']).startsWith('/orders/after-kill-')));
    assert.equal(now.length, 2);
    assert.ok(!now.includes(victim!));
  });

  it('writes whole JSON lines under concurrent load across both workers', async () => {
    const before = gw.logs.length;
    const agent = new Agent({ keepAlive: true, maxSockets: 16, ca: world.pki.ca.cert });
    // Long paths make long lines: a batch of them is far over PIPE_BUF (4096 bytes).
    const long = 'x'.repeat(3000);
    let sent = 0;
    // The log's reader keeps falling behind, so the pipe fills and writes wait in the middle: where
    // writes of more than PIPE_BUF bytes from two processes would interleave.
    const stdout = gw.process.stdout!;
    let ticks = 0;
    // Paused for 100 ms, then read for 25 ms, over and over.
    const slow = setInterval(() => (ticks++ % 5 === 4 ? stdout.resume() : stdout.pause()), 25);
    await Promise.all(
      Array.from({ length: 16 }, async (_, n) => {
        for (let i = 0; i < 40; i++) {
          const res = await get(`/orders/load-${n}-${i}-${long}`, agent);
          assert.equal(res.status, 200);
          sent++;
        }
      }),
    );
    clearInterval(slow);
    stdout.resume();
    agent.destroy();
    await waitUntil(() => access((entry) => String(entry['path']).startsWith('/orders/load-')).length === sent);
    const lines = gw.logs.slice(before);
    assert.deepEqual(
      lines.filter((entry) => 'unparsed' in entry),
      [],
    );
    assert.equal(workerPids(access((entry) => String(entry['path']).startsWith('/orders/load-'))).length, 2);
  });

  it('drains on SIGTERM: an answer in flight completes, its access line is written, exit 0', async () => {
    const dripping = get('/orders/drip');
    await sleep(500);
    gw.process.kill('SIGTERM');
    const res = await dripping;
    assert.equal(res.status, 200);
    assert.equal(res.text, 'first\nlast\n');
    assert.equal(await gw.exited, 0);
    assert.ok(access((entry) => entry['path'] === '/orders/drip').length === 1, 'the drained request was logged');
    await assert.rejects(get('/orders/after-stop'));
  });
});

describe('gateway --workers 2 whose primary does not answer', () => {
  let world: World;
  let gw: RunningGateway;

  before(async () => {
    world = await startWorld();
    gw = await spawnGateway(world.config(), {}, ['--workers', '2']);
  });
  after(async () => {
    gw?.process.kill('SIGCONT');
    await gw?.stop();
    await world?.close();
  });

  it('answers a scrape 503 within its own bound while the primary is stopped, and 200 again once it runs', async () => {
    // A connection opened while the primary runs: the worker's own from then on (the primary only deals new ones).
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    assert.equal((await send(gw.metricsUrl!, { agent })).status, 200);
    gw.process.kill('SIGSTOP');
    try {
      const started = Date.now();
      const scrape = await send(gw.metricsUrl!, { agent });
      assert.equal(scrape.status, 503, scrape.text);
      assert.match(scrape.text, /the workers' counts could not be gathered: the primary process did not answer within 4 s/);
      assert.ok(Date.now() - started < 8000, `answered after ${Date.now() - started} ms`);
    } finally {
      gw.process.kill('SIGCONT');
    }
    assert.equal((await send(gw.metricsUrl!, { agent })).status, 200);
    agent.destroy();
  });
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}
