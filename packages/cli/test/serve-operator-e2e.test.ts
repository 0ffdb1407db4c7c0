// What an operator sees of `tessera serve`, as its own process: the log in the pretty format
// (the cluster workers' lines too), the lines at start and stop, and where the admin credential is.

import assert from 'node:assert/strict';
import { copyFile, rm, mkdtemp, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { rawExchange } from '../../server/test/helpers/raw-http.ts';
import { runCli } from './helpers/cli.ts';
import { serveProcess, type ServeProcess } from './helpers/serve-process.ts';

describe('tessera serve tells the operator', () => {
  const dirs: string[] = [];
  const running: ServeProcess[] = [];
  after(async () => {
    for (const serve of running) await serve.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('in the pretty format, from the primary and the workers: where it serves, and the credential on first start; the signal and drain on stop', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-operator-'));
    dirs.push(dataDir);
    const serve = await serveProcess({ dataDir, args: ['--workers', '2', '--log-format', 'pretty'] });
    running.push(serve);
    const time = String.raw`\d\d:\d\d:\d\d\.\d{3}`;
    // Written by worker 0 (pino), through the same formatter as the primary's lines.
    assert.match(serve.output(), new RegExp(`^${time} INFO  bootstrap admin credential written file=${join(dataDir, 'bootstrap-admin.json')}$`, 'm'));
    const serving = serve
      .output()
      .split('\n')
      .find((line) => line.includes('tessera is serving'))!;
    assert.match(serving, new RegExp(`^${time} INFO  tessera is serving at ${serve.url} with 2 worker processes `));
    for (const field of [
      `version=0.1.0`,
      `issuer=${serve.url}`,
      `jwks=${serve.url}/.well-known/jwks.json`,
      `caBundle=${join(dataDir, 'ca.pem')}`,
      `signingAlg=ES256`,
      `dataDir=${dataDir}`,
      `database="sqlite ${join(dataDir, 'tessera.db')}"`,
      `workers=2`,
    ]) {
      assert.ok(serving.includes(` ${field}`), `${field} in ${serving}`);
    }
    assert.doesNotMatch(serve.output(), /^\{/m, 'no JSON line');
    // Plain HTTP to the HTTPS port: the workers answer it (the primary hands them the TCP connection).
    for (let i = 0; i < 2; i += 1) {
      assert.match(
        await rawExchange(serve.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
        new RegExp(`^HTTP/1\\.1 400 Bad Request\r\n[^]*send the request to ${serve.url}/`),
      );
    }
    // The client trusts the ca.pem beside the credential file it is given, from any directory.
    const credentials = join(dataDir, 'bootstrap-admin.json');
    const listed = await runCli(['admin', 'domain', 'list', '--credentials', credentials], { cwd: tmpdir() });
    assert.equal(listed.code, 0, listed.stderr);
    const elsewhere = await mkdtemp(join(tmpdir(), 'tessera-operator-'));
    dirs.push(elsewhere);
    await copyFile(credentials, join(elsewhere, 'admin.json'));
    const untrusted = await runCli(['admin', 'domain', 'list', '--credentials', join(elsewhere, 'admin.json')], { cwd: tmpdir() });
    assert.equal(untrusted.code, 1, 'no ca.pem beside this copy: the server certificate is not trusted');
    assert.equal(await serve.stop('SIGTERM'), 0);
    assert.match(
      serve.output(),
      new RegExp(`^${time} INFO  tessera stopped on SIGTERM: 2 worker processes drained in \\d+ ms signal=SIGTERM workers=2 tookMs=\\d+$`, 'm'),
    );
  });

  it('in JSON when stdout is no terminal, and on a restart where the credential still is, then that it was removed', async () => {
    const dataDir = dirs[0]!;
    const first = await serveProcess({ dataDir, args: ['--workers', '1'] });
    running.push(first);
    const lines = first.jsonLines();
    const credential = lines.find((line) => line['file'] === join(dataDir, 'bootstrap-admin.json'));
    assert.match(String(credential?.['msg']), /^the bootstrap admin credential is still in .*bootstrap-admin\.json; store it elsewhere, then delete the file$/);
    assert.equal(lines.find((line) => String(line['msg']).startsWith('tessera is serving'))?.['workers'], 1);
    assert.equal(await first.stop('SIGINT'), 0);
    assert.equal(
      first.jsonLines().at(-1)?.['msg'],
      `tessera stopped on SIGINT: requests in flight drained in ${String(first.jsonLines().at(-1)?.['tookMs'])} ms`,
    );

    await unlink(join(dataDir, 'bootstrap-admin.json'));
    const second = await serveProcess({ dataDir, args: ['--workers', '2'] });
    running.push(second);
    assert.ok(
      second
        .jsonLines()
        .some((line) => String(line['msg']).startsWith(`no bootstrap admin credential file at ${join(dataDir, 'bootstrap-admin.json')} (removed`)),
      second.output(),
    );
    assert.equal(await second.stop('SIGTERM'), 0);
  });

  it('refuses a second tessera serve on the same SQLite data dir, naming the first; serves it with --shared-data-dir; takes over after a crash', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-operator-lock-'));
    dirs.push(dataDir);
    const first = await serveProcess({ dataDir, args: ['--workers', '2'] });
    running.push(first);
    const second = await serveProcess({ dataDir, args: ['--workers', '1'], waitServing: false });
    assert.equal(await second.exited, 1);
    assert.equal(
      second.output(),
      `error: cannot start the server: the data dir ${dataDir} is in use by another tessera serve (pid ${first.child.pid}, serving at ${first.url}): ` +
        'stop it first, or give this one another --data-dir. To run several instances on this one SQLite file on purpose, pass --shared-data-dir (TESSERA_SHARED_DATA_DIR=1) to each\n',
    );
    const shared = await serveProcess({ dataDir, args: ['--workers', '1', '--shared-data-dir'] });
    running.push(shared);
    assert.equal(await shared.stop(), 0);
    // Killed: its lock stays, with a pid that is gone; the next start takes it over.
    first.child.kill('SIGKILL');
    await first.exited;
    const after = await serveProcess({ dataDir, args: ['--workers', '1'] });
    running.push(after);
    assert.equal(await after.stop(), 0);
  });
});
