// `tessera gateway` as a command (the gateway itself is tested in packages/gateway): the config
// file from --config or TESSERA_GATEWAY_CONFIG, a config it cannot use is exit 2 with one line
// naming the setting, and a started gateway stops on SIGTERM after serving (503 while Tessera is unreachable).

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { send } from '@tessera/testkit/https';
import { makeWorkspace, runCli } from './helpers/cli.ts';

describe('tessera gateway', () => {
  let cwd: string;
  before(async () => {
    cwd = await makeWorkspace();
    await writeFile(path.join(cwd, 'gw.secret'), 'secret');
  });
  after(() => rm(cwd, { recursive: true, force: true }));

  const config = (extra: Record<string, unknown> = {}): string =>
    JSON.stringify({
      listen: 'http://127.0.0.1:0',
      tessera: { url: 'https://127.0.0.1:1', clientId: 'edge.gw', clientSecretFile: 'gw.secret' },
      routes: [{ pathPrefix: '/orders', methods: ['GET'], upstream: 'http://127.0.0.1:1', audience: 'orders', require: { scope: ['orders:role.readers'] } }],
      ...extra,
    });

  it('needs a config file', async () => {
    const result = await runCli(['gateway'], { cwd });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: tessera gateway needs --config <file> \(or TESSERA_GATEWAY_CONFIG\)\n$/);
  });

  it('refuses a config it cannot use with exit 2 and the setting named', async () => {
    await writeFile(path.join(cwd, 'bad.json'), config({ listen: 'http://0.0.0.0:9443' }));
    const result = await runCli(['gateway', '--config', 'bad.json'], { cwd });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: listen is plain http on 0\.0\.0\.0: http is allowed on loopback only/);
  });

  it('refuses a bad worker count (flag, variable or file) with exit 2 and a sentence saying what to write', async () => {
    await writeFile(path.join(cwd, 'good.json'), config());
    const expected = (where: string, got: string, why: string): RegExp =>
      new RegExp(
        `^error: ${where} must be "auto" \\(one worker process per core\\) or a whole number of worker processes from 1 to 256, ` +
          `not ${got.replace(/[.+]/g, '\\$&')} \\(${why}\\)\n$`,
      );
    for (const [value, why] of [
      ['0', 'at least one process must serve'],
      ['-2', 'at least one process must serve'],
      ['1.5', 'it is not a whole number'],
      ['257', 'more than 256 is refused as a likely typo'],
      ['many', 'it is not a whole number'],
    ] as const) {
      const flag = await runCli(['gateway', '--config', 'good.json', '--workers', value], { cwd });
      assert.equal(flag.code, 2, flag.stderr);
      assert.match(flag.stderr, expected('--workers', `"${value}"`, why));
    }
    const variable = await runCli(['gateway', '--config', 'good.json'], { cwd, env: { TESSERA_GATEWAY_WORKERS: '0' } });
    assert.equal(variable.code, 2);
    assert.match(variable.stderr, expected('TESSERA_GATEWAY_WORKERS', '"0"', 'at least one process must serve'));
    await writeFile(path.join(cwd, 'workers.json'), config({ workers: 2.5 }));
    const file = await runCli(['gateway', '--config', 'workers.json'], { cwd });
    assert.equal(file.code, 2);
    assert.match(file.stderr, expected('workers', '2.5', 'it is not a whole number'));
  });

  it('serves from TESSERA_GATEWAY_CONFIG until SIGTERM: an unrouted request is 404, a request without credentials 401', async () => {
    await writeFile(path.join(cwd, 'good.json'), config());
    const signals = Object.assign(new EventEmitter(), { off: EventEmitter.prototype.off });
    let stdout = '';
    const { run } = await import('../src/main.ts');
    // --workers 1: the gateway serves from this very process, as without the flag (no cluster).
    const done = run(['gateway', '--workers', '1'], {
      cwd,
      env: { TESSERA_GATEWAY_CONFIG: 'good.json' },
      signals: signals as never,
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: () => true },
    });
    const deadline = Date.now() + 10_000;
    while (!stdout.includes('gateway listening')) {
      assert.ok(Date.now() < deadline, 'the gateway did not start');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const listening = JSON.parse(stdout.split('\n').find((line) => line.includes('gateway listening'))!) as { url: string; workers?: number };
    assert.equal(listening.workers, undefined, 'no cluster');
    const url = listening.url;
    assert.equal((await send(`${url}/elsewhere`)).status, 404);
    const refused = await send(`${url}/orders`);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['www-authenticate'], 'Bearer realm="tessera-gateway"');
    // Tessera (here: nothing listening) cannot be asked for keys or about an API key: 503, not a refusal.
    const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'alpha.api' })).toString('base64url');
    const unavailable = await send(`${url}/orders`, { headers: { authorization: `Bearer ${header}.${body}.${'A'.repeat(86)}` } });
    assert.equal(unavailable.status, 503, unavailable.text);
    assert.equal(unavailable.json.error, 'temporarily_unavailable');
    assert.equal(unavailable.headers['retry-after'], '5');
    // A fixed sentence for the caller; Tessera's address and the fetch's error in the access log only.
    assert.equal(unavailable.json.error_description, 'Tessera could not be reached to check the credential; try again later');
    // Access lines are written in batches, a few milliseconds after their request at most.
    const accessLines = (): Record<string, unknown>[] =>
      stdout
        .split('\n')
        .filter((line) => line.includes('"msg":"access"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    const logDeadline = Date.now() + 2000;
    while (!accessLines().some((entry) => entry['status'] === 503) && Date.now() < logDeadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.match(String(accessLines().find((entry) => entry['status'] === 503)?.['detail']), /the issuer's keys \(JWKS\) could not be fetched/);
    assert.ok(
      accessLines().every((entry) => !('worker' in entry) && !('pid' in entry)),
      'lines of one process carry no worker',
    );
    signals.emit('SIGTERM');
    assert.equal(await done, 0);
  });
});
