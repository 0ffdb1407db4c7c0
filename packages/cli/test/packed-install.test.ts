// The packages as a user gets them: `npm pack`ed from the workspace (prepack builds dist/),
// installed from the tarballs into an empty folder with --omit=dev, and run there with Node.js
// alone: no TypeScript, no workspace, no source condition. `tessera serve` listens on 127.0.0.1
// with the issuer https://tessera.test:<port>; `tessera token` gets a token with the bootstrap
// admin credential the server wrote (whose token endpoint is under the issuer's name); a plain ESM
// script imports @tessera/sdk by name and verifies that token against the issuer's JWKS, trusting
// only the server's ca.pem, with TLS host-name checks on. tessera.test resolves to 127.0.0.1 in
// those processes only, through helpers/test-hosts.ts preloaded with NODE_OPTIONS.

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { freePort } from '@tessera/testkit/port';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const PACKAGES = ['@tessera/server', '@tessera/console', '@tessera/cli', '@tessera/sdk', '@tessera/gateway', '@tessera/cluster'] as const;
const HOSTS_PRELOAD = pathToFileURL(join(import.meta.dirname, 'helpers', 'test-hosts.ts')).href;
/** The Node.js versions the launcher (bin/tessera.js) accepts; the server's and CLI's engines must say the same. */
const ENGINES = /const ENGINES = '([^']+)'/.exec(readFileSync(join(ROOT, 'packages', 'cli', 'bin', 'tessera.js'), 'utf8'))?.[1];
const run = promisify(execFile);

interface Packed {
  name: string;
  filename: string;
  files: { path: string }[];
}

/**
 * The environment of every process the test starts: this Node.js (24, from the devDependency)
 * first on PATH, so npm, its prepack scripts and `#!/usr/bin/env node` all run on it; none of the
 * npm_* variables of an enclosing `npm test` (npm would read them as its own configuration, the
 * workspace's among them), but the cache and registry settings a machine may rely on.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS' || (key.toLowerCase().startsWith('npm_') && !keep.has(key.toLowerCase()))) continue;
    env[key] = value;
  }
  env['PATH'] = [dirname(process.execPath), process.env['PATH'] ?? ''].join(delimiter);
  return { ...env, ...extra };
}

async function npm(args: string[], cwd: string, timeout: number): Promise<string> {
  try {
    const { stdout } = await run('npm', args, { cwd, env: cleanEnv(), timeout, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    assert.fail(`npm ${args.join(' ')} failed: ${(error as Error).message}\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}

/** Polls /readyz by address (the name is the CLI's and the SDK's to check) until it answers 200. */
async function waitReady(dataDir: string, port: number, server: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    assert.equal(server.exitCode, null, `tessera serve exited (${server.exitCode}):\n${log()}`);
    const ca = await readFile(join(dataDir, 'ca.pem'), 'utf8').catch(() => undefined);
    const ready =
      ca !== undefined &&
      (await new Promise<boolean>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path: '/readyz', ca, checkServerIdentity: () => undefined, timeout: 1000, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        });
        req.on('error', () => resolve(false));
        req.end();
      }));
    if (ready) return;
    assert.ok(Date.now() < deadline, `tessera serve was not ready within 30 s:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** GET by address over HTTPS, trusting `ca` only (names unchecked, as in waitReady). */
function getText(port: number, path: string, ca: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, checkServerIdentity: () => undefined, timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const VERIFY_SCRIPT = `
import { readFileSync } from 'node:fs';
import { createVerifier } from '@tessera/sdk';

const [issuer, caFile, token] = process.argv.slice(2);
const ca = readFileSync(caFile, 'utf8');
const verifier = createVerifier({ issuer, audience: 'sys.auth', ca });
const caller = await verifier.verify(token, { scope: ['sys.auth:role.admin'] });
// The same token and CA, but the JWKS fetched from a name the certificate does not cover.
const elsewhere = createVerifier({ issuer: issuer.replace('tessera.test', 'other.test'), audience: 'sys.auth', ca });
const refused = await elsewhere.verify(token).then(() => 'verified', (error) => String(error?.code) + ' ' + String(error?.cause?.code ?? error?.cause?.cause?.code ?? error?.message));
console.log(JSON.stringify({ principal: caller.principal, roles: caller.roles, elsewhere: refused }));
`;

describe('the packages packed and installed from their tarballs', { timeout: 100_000 }, () => {
  let work: string;
  let consumer: string;
  let packed: Packed[];
  const children: ChildProcess[] = [];

  before(async () => {
    const started = Date.now();
    work = await mkdtemp(join(tmpdir(), 'tessera-packed-'));
    consumer = join(work, 'consumer');
    await mkdir(consumer);
    await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // The documented way to build every package's dist/ (docs/packages.md) works from the root;
    // the packs' prepack builds then find little left to do.
    await npm(['run', 'build'], ROOT, 90_000);
    const workspaces = PACKAGES.flatMap((name) => ['--workspace', name]);
    packed = JSON.parse(await npm(['pack', '--json', '--pack-destination', work, ...workspaces], ROOT, 60_000)) as Packed[];
    const packedAt = Date.now();
    const tarballs = packed.map(({ filename }) => join(work, filename));
    await npm(['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', ...tarballs], consumer, 60_000);
    const { stdout: size } = await run('du', ['-sh', join(consumer, 'node_modules')]);
    console.log(
      `# npm pack (with the builds) ${packedAt - started} ms; npm install --omit=dev ${Date.now() - packedAt} ms; node_modules ${size.split('\t')[0]}`,
    );
  });

  after(async () => {
    // Gone before the folder is: a server still writing its compile cache would refill it.
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    if (work !== undefined) await rm(work, { recursive: true, force: true, maxRetries: 3 });
  });

  it('ship the JavaScript and declarations built from src/, the bin as JavaScript, and no tests', () => {
    assert.deepEqual(packed.map(({ name }) => name).sort(), [...PACKAGES].sort());
    for (const { name, files } of packed) {
      const paths = files.map(({ path }) => path);
      assert.ok(paths.includes('package.json'), name);
      assert.deepEqual(
        paths.filter((path) => /(^|\/)test\/|\.test\.|tsbuildinfo/.test(path)),
        [],
        `${name} ships tests or build state`,
      );
      // TypeScript sources only where the SDK's source maps point (its src/ beside dist/), and the
      // console's browser modules, which the server strips of their types for the browser.
      const typescript = paths.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'));
      const served = (path: string): boolean =>
        (name === '@tessera/sdk' && path.startsWith('src/')) || (name === '@tessera/console' && path.startsWith('web/'));
      assert.deepEqual(
        typescript.filter((path) => !served(path)),
        [],
        `${name} ships TypeScript to run`,
      );
    }
    const byName = new Map(packed.map((entry) => [entry.name, entry.files.map(({ path }) => path)]));
    assert.ok(byName.get('@tessera/server')!.includes('dist/index.js') && byName.get('@tessera/server')!.includes('dist/index.d.ts'));
    assert.ok(byName.get('@tessera/server')!.includes('dist/cluster/worker.js'));
    // The worker supervision the server's and the gateway's primaries share.
    assert.ok(byName.get('@tessera/cluster')!.includes('dist/index.js') && byName.get('@tessera/cluster')!.includes('dist/index.d.ts'));
    assert.ok(byName.get('@tessera/sdk')!.includes('dist/index.js') && byName.get('@tessera/sdk')!.includes('dist/index.d.ts'));
    const consoleFiles = byName.get('@tessera/console')!;
    assert.ok(
      consoleFiles.includes('dist/index.js') && consoleFiles.includes('web/index.html') && consoleFiles.includes('web/main.ts'),
      consoleFiles.join(' '),
    );
    assert.ok(!consoleFiles.includes('web/tsconfig.json'));
    assert.ok(byName.get('@tessera/cli')!.includes('bin/tessera.js') && byName.get('@tessera/cli')!.includes('dist/bin/tessera.js'));
    const cli = JSON.parse(readFileSync(join(consumer, 'node_modules', '@tessera', 'cli', 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.deepEqual(cli.bin, { tessera: './bin/tessera.js' });
  });

  it('state in engines the Node.js versions the bin accepts', () => {
    assert.equal(ENGINES, '^22.18.0 || >=24.3.0', 'bin/tessera.js names the Node.js versions it accepts');
    const engines = (name: string): string | undefined =>
      (JSON.parse(readFileSync(join(consumer, 'node_modules', ...name.split('/'), 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node;
    assert.equal(engines('@tessera/server'), ENGINES);
    assert.equal(engines('@tessera/cli'), ENGINES);
    // The SDK needs neither node:sqlite nor the server's worker processes.
    assert.equal(engines('@tessera/sdk'), '>=22.2.0');
    assert.equal(engines('@tessera/cluster'), '>=22.2.0');
  });

  it('serve, hand out a token through the CLI, and verify it with the SDK by the issuer name', async () => {
    const dataDir = join(work, 'data');
    const port = await freePort();
    const issuer = `https://tessera.test:${port}`;
    const tessera = join(consumer, 'node_modules', '.bin', 'tessera');
    const env = cleanEnv({ NODE_OPTIONS: `--import ${HOSTS_PRELOAD}`, XDG_CACHE_HOME: join(work, 'cache') });
    let log = '';
    // Two workers: the primary forks dist/cluster/worker.js, which only a built package has.
    const server = spawn(
      process.execPath,
      [tessera, 'serve', '--data-dir', dataDir, '--listen', `https://127.0.0.1:${port}`, '--issuer', issuer, '--workers', '2', '--log-level', 'warn'],
      {
        cwd: consumer,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(server);
    server.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
    server.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    await waitReady(dataDir, port, server, () => log);

    // The console, served from the installed @tessera/console: the page, and a module stripped of its types.
    const ca = await readFile(join(dataDir, 'ca.pem'), 'utf8');
    const page = await getText(port, '/console/', ca);
    assert.equal(page.status, 200, page.body);
    const main = /src="(assets\/[0-9a-f]{16}\/main\.js)"/.exec(page.body)?.[1];
    assert.ok(main, page.body);
    const module = await getText(port, `/console/${main}`, ca);
    assert.equal(module.status, 200);
    assert.equal(module.type, 'text/javascript; charset=utf-8');
    assert.match(module.body, /from '\.\/api\.js'/);

    const credentials = JSON.parse(await readFile(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as { tokenEndpoint?: string };
    assert.equal(new URL(credentials.tokenEndpoint ?? '').origin, issuer, 'the credential names the issuer, so `tessera token` connects by that name');
    const token = await run(
      process.execPath,
      [tessera, 'token', '--credentials', join(dataDir, 'bootstrap-admin.json'), '--cacert', join(dataDir, 'ca.pem'), '--scope', 'sys.auth:role.admin'],
      {
        cwd: consumer,
        env,
        timeout: 20_000,
      },
    ).catch((error: Error & { stderr?: string }) => assert.fail(`tessera token failed: ${error.stderr ?? error.message}`));
    const jwt = token.stdout.trim();
    assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/);

    await writeFile(join(consumer, 'verify.mjs'), VERIFY_SCRIPT);
    const verified = await run(process.execPath, [join(consumer, 'verify.mjs'), issuer, join(dataDir, 'ca.pem'), jwt], {
      cwd: consumer,
      env,
      timeout: 20_000,
    }).catch((error: Error & { stderr?: string }) => assert.fail(`the SDK did not verify the token: ${error.stderr ?? error.message}`));
    const result = JSON.parse(verified.stdout) as { principal: string; roles: Record<string, string[]>; elsewhere: string };
    assert.equal(result.principal, 'sys.auth.admin');
    assert.deepEqual(result.roles, { 'sys.auth': ['admin'] });
    assert.match(result.elsewhere, /ERR_TLS_CERT_ALTNAME_INVALID/, `a name the certificate does not cover is refused: ${result.elsewhere}`);

    const exited = once(server, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    server.kill('SIGTERM');
    // An unref'd timer: the test's process must not wait for it once the server has stopped.
    const [code] = await Promise.race([exited, sleep(15_000, ['still running after 15 s'] as const, { ref: false })]);
    assert.equal(code, 0, `tessera serve stops cleanly on SIGTERM:\n${log}`);
  });

  it('on a Node.js it does not run on, the bin says which it needs in one line and exits 1', async () => {
    const tessera = join(consumer, 'node_modules', '.bin', 'tessera');
    // This Node.js made to report another version before the bin runs: the path a real one takes,
    // on any machine. Refused: too old, before the fixes in 22.18 and 24.3, and the odd 23.
    const pretending = async (version: string): Promise<{ code: number; stdout: string; stderr: string }> => {
      const preload = join(work, `node-${version}.mjs`);
      await writeFile(
        preload,
        `Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '${version}' } });\nObject.defineProperty(process, 'version', { value: 'v${version}' });\n`,
      );
      return await outcome(process.execPath, ['--import', pathToFileURL(preload).href, tessera, '--version']);
    };
    const outcome = (node: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      run(node, args, { cwd: consumer, env: cleanEnv(), timeout: 10_000 }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
      );
    const refusal = (version: string, node: string): string =>
      `tessera needs Node.js 22.18.0 or a later 22.x, or 24.3.0 or later; this is Node.js v${version} (${node})\n`;
    for (const version of ['20.11.1', '22.17.0', '23.11.0', '24.2.0']) {
      assert.deepEqual(await pretending(version), { code: 1, stdout: '', stderr: refusal(version, process.execPath) }, version);
    }
    for (const version of ['22.18.0', '24.3.0', '26.0.0']) {
      assert.deepEqual(await pretending(version), { code: 0, stdout: '0.1.0\n', stderr: '' }, version);
    }
    // And a real old Node.js when the machine has one (the system's, say).
    if (existsSync('/usr/bin/node')) {
      const { stdout } = await run('/usr/bin/node', ['-p', 'process.versions.node']);
      const version = stdout.trim();
      if (Number(version.split('.')[0]) < 22)
        assert.deepEqual(await outcome('/usr/bin/node', [tessera, '--version']), { code: 1, stdout: '', stderr: refusal(version, '/usr/bin/node') });
    }
  });
});
