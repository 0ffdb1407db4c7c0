// A real nginx for end-to-end tests of the reverse-proxy setups the operator's guide ships
// (deploy/nginx/*.conf; the server's and the gateway's tests): its own master process on a temporary prefix and free loopback ports,
// never the system's nginx. Without nginx the tests are skipped, unless TESSERA_REQUIRE_NGINX=1
// (set by .ci/run, which installs Debian's nginx and libnginx-mod-stream): then a missing nginx
// or stream module fails the test.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const STARTUP_MS = 10_000;

export interface NginxBinary {
  path: string;
  /** `load_module …;` for the stream module when it is a dynamic module, else ''. */
  loadStream: string;
}

export interface RunningNginx {
  dir: string;
  errorLog(): Promise<string>;
  /** `nginx -s reload`: re-reads the configuration and the files it names; resolves once the old worker has exited. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The nginx binary and how to load its stream module, or why the tests are skipped: nginx is
 * missing and not required. Throws when TESSERA_REQUIRE_NGINX=1 and nginx is missing, and
 * whenever nginx has no stream module (TLS passthrough needs it).
 */
export async function findNginx(): Promise<{ nginx: NginxBinary } | { skip: string }> {
  const path = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((candidate) => existsSync(candidate)) ?? 'nginx';
  let version: string;
  try {
    // `nginx -V` prints the build options on stderr.
    const { stdout, stderr } = await run(path, ['-V']);
    version = stdout + stderr;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (process.env.TESSERA_REQUIRE_NGINX === '1')
      throw new Error('TESSERA_REQUIRE_NGINX=1 but nginx is not installed: apt-get install nginx libnginx-mod-stream', { cause: error });
    return { skip: 'no nginx (apt-get install nginx libnginx-mod-stream): the reverse-proxy setups are not checked' };
  }
  if (/--with-stream(\s|$)/.test(version)) return { nginx: { path, loadStream: '' } };
  if (!/--with-stream=dynamic/.test(version)) throw new Error(`${path} is built without the stream module, which TLS passthrough needs`);
  const modules = /--modules-path=(\S+)/.exec(version)?.[1] ?? '/usr/lib/nginx/modules';
  const module = join(modules, 'ngx_stream_module.so');
  if (!existsSync(module)) {
    throw new Error(`${path} has the stream module as a dynamic module, but ${module} is missing: apt-get install libnginx-mod-stream`);
  }
  return { nginx: { path, loadStream: `load_module ${module};` } };
}

/** nginx.conf around the shipped server blocks: temp paths under `dir`, no access log. */
export function nginxConf(dir: string, parts: { top?: string; http?: string; stream?: string }): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${join(dir, `${kind}_temp`)};`).join('\n');
  // As root nginx would switch its worker to a user that cannot enter the private temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return [
    `${user}${parts.top ?? ''}`,
    'worker_processes 1;',
    'events { worker_connections 256; }',
    ...(parts.http === undefined ? [] : [`http {\n  access_log off;\n${temp}\n${parts.http}\n}`]),
    ...(parts.stream === undefined ? [] : [parts.stream]),
    '',
  ].join('\n');
}

/** Replaces `from` in `text`, which must hold it exactly once: the shipped file is what is tested. */
export function substituteOnce(text: string, from: string | RegExp, to: string): string {
  const pattern = typeof from === 'string' ? new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g') : new RegExp(from.source, 'g');
  const count = text.match(pattern)?.length ?? 0;
  if (count !== 1) throw new Error(`expected ${String(from)} once in the shipped nginx configuration, found it ${count} times`);
  return text.replace(pattern, to);
}

/** A temporary directory for one nginx (its conf, certificates, logs), readable by its worker. */
export async function nginxDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-nginx-'));
  await chmod(dir, 0o755);
  return dir;
}

/** Starts nginx on `conf` in the foreground; resolves once every port in `ports` accepts connections. */
export async function startNginx(binary: NginxBinary, dir: string, conf: string, ports: number[]): Promise<RunningNginx> {
  const confFile = join(dir, 'nginx.conf');
  const errorFile = join(dir, 'error.log');
  await writeFile(confFile, conf);
  const errorLog = (): Promise<string> => readFile(errorFile, 'utf8').catch(() => '');
  const child = spawn(
    binary.path,
    ['-p', `${dir}/`, '-e', errorFile, '-c', confFile, '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${errorFile} info;`],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPorts(child, ports);
  } catch (error) {
    await stop(child, exited);
    throw new Error(`nginx did not start: ${(error as Error).message}\n${stderr}${await errorLog()}\nconfiguration:\n${conf}`, { cause: error });
  }
  return {
    dir,
    errorLog,
    async reload() {
      // Done when the old worker has exited: until then it may still accept connections.
      const exits = (log: string): number => log.match(/worker process \d+ exited/g)?.length ?? 0;
      const before = exits(await errorLog());
      child.kill('SIGHUP');
      const deadline = Date.now() + STARTUP_MS;
      while (exits(await errorLog()) === before) {
        if (Date.now() > deadline) throw new Error(`nginx did not reload:\n${await errorLog()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      await stop(child, exited);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPorts(child: ChildProcess, ports: number[]): Promise<void> {
  const deadline = Date.now() + STARTUP_MS;
  for (const port of ports) {
    while (!(await accepts(port))) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`it exited (${child.exitCode ?? child.signalCode})`);
      if (Date.now() > deadline) throw new Error(`port ${port} not open after ${STARTUP_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** SIGTERM (nginx's fast shutdown, which ends its worker too), then SIGKILL if it lingers. */
async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
