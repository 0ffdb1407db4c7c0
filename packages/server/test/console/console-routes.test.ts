// The console's HTTP side on a real server: the page and its assets with their security headers,
// strong ETags and caching, the stripped modules, 404s, the console left out of /openapi.json,
// and `console.enabled: false`. The pages themselves are tested in a browser (packages/console/test).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, mkdir, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { CONSOLE_WEB_DIR, consoleFiles } from '@tessera/console';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { CONSOLE_CSP, consoleRoutes, loadConsoleAssets, moduleSource } from '../../src/console/index.ts';

const run = promisify(execFile);

const SECURITY = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

function assertSecured(headers: Record<string, string | string[] | undefined>, what: string): void {
  for (const [name, value] of Object.entries(SECURITY)) assert.equal(headers[name], value, `${what}: ${name}`);
}

describe('the console at /console/', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it('serves the page with the CSP, no-cache and a strong ETag, and answers 304 to it', async () => {
    const page = await t.send('/console/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assertSecured(page.headers, 'page');
    assert.equal(
      page.headers['content-security-policy'],
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    assert.equal(page.headers['cache-control'], 'no-cache');
    const etag = page.headers['etag'] as string;
    assert.match(etag, /^"[A-Za-z0-9_-]{43}"$/, 'a strong ETag');
    assert.doesNotMatch(page.text, /__CONSOLE_VERSION__/);
    assert.doesNotMatch(page.text, /<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler');
    const again = await t.send('/console/', { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
    assertSecured(again.headers, '304');
    const listed = await t.send('/console/', { headers: { 'if-none-match': `"other", W/${etag}` } });
    assert.equal(listed.status, 304, 'a list holding the tag (weakly compared)');
    const changed = await t.send('/console/', { headers: { 'if-none-match': '"something-else"' } });
    assert.equal(changed.status, 200);
  });

  it('serves every asset the page names under its version, immutable, and nothing under another version', async () => {
    const page = await t.send('/console/');
    const refs = [...page.text.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.deepEqual(refs.map((ref) => ref.split('/').pop()).sort(), ['console.css', 'icon.svg', 'main.js']);
    const version = refs[0]!.split('/')[1]!;
    assert.match(version, /^[0-9a-f]{16}$/);
    for (const ref of refs) {
      const res = await t.send(`/console/${ref}`);
      assert.equal(res.status, 200, ref);
      assertSecured(res.headers, ref);
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable', ref);
      assert.match(res.headers['etag'] as string, /^"[A-Za-z0-9_-]{43}"$/);
    }
    const main = await t.send(`/console/assets/${version}/main.js`);
    assert.equal(main.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(main.text, /from '\.\/api\.js'/, 'relative imports renamed .js');
    assert.doesNotMatch(main.text, /from '[^']+\.ts'/);
    const css = await t.send(`/console/assets/${version}/console.css`);
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const stale = await t.send(`/console/assets/0000000000000000/main.js`);
    assert.equal(stale.status, 404);
    assertSecured(stale.headers, 'stale version');
    assert.match(stale.json.message as string, /no console file at \/console\/assets\/0000000000000000\/main\.js/);
    for (const path of [
      `/console/assets/${version}/tsconfig.json`,
      `/console/assets/${version}/main.ts`,
      `/console/assets/${version}/index.html`,
      '/console/main.js',
      '/console/x/y',
    ]) {
      const missing = await t.send(path);
      assert.equal(missing.status, 404, path);
      assertSecured(missing.headers, path);
    }
  });

  it('serves every module of the console, each one valid JavaScript once stripped', async () => {
    const assets = loadConsoleAssets();
    const modules = consoleFiles().filter((file) => file.kind === 'module');
    const dir = await mkdtemp(join(tmpdir(), 'tessera-console-modules-'));
    after(() => rm(dir, { recursive: true, force: true }));
    assert.ok(modules.length >= 8, 'the console has its modules');
    for (const file of modules) {
      const res = await t.send(`/console/assets/${assets.version}/${file.served}`);
      assert.equal(res.status, 200, file.served);
      // Parses as a module (`node --check`): a type left behind would be a syntax error.
      const copy = join(dir, `${file.served.replaceAll('/', '_')}.mjs`);
      await writeFile(copy, res.text);
      await run(process.execPath, ['--check', copy]).catch((error: Error & { stderr?: string }) =>
        assert.fail(`${file.served}: ${error.stderr ?? error.message}`),
      );
    }
  });

  it('redirects /console to /console/', async () => {
    const res = await t.send('/console');
    assert.equal(res.status, 301);
    assert.equal(res.headers['location'], '/console/');
    assertSecured(res.headers, 'redirect');
  });

  it("is not in /openapi.json, and leaves the API's own answers without the console's headers", async () => {
    const doc = await t.send('/openapi.json');
    assert.equal(doc.status, 200);
    assert.deepEqual(
      Object.keys(doc.json.paths as object).filter((path) => path.startsWith('/console')),
      [],
    );
    assert.equal(doc.headers['content-security-policy'], undefined);
  });
});

describe('console.enabled: false', () => {
  it("serves no console: /console/ is the API's 404", async () => {
    const t = await startTestServer({ env: { TESSERA_CONSOLE: 'false' } });
    try {
      for (const path of ['/console/', '/console']) {
        const res = await t.send(path);
        assert.equal(res.status, 404, path);
        assert.equal(res.headers['content-security-policy'], undefined);
        assert.match(res.json.message as string, /^no route GET \/console/);
      }
      assert.equal((await t.send('/readyz')).status, 200);
    } finally {
      await t.stop();
    }
  });
});

describe("preparing the console's files", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  async function copyOfWeb(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-console-'));
    dirs.push(dir);
    await cp(CONSOLE_WEB_DIR, dir, { recursive: true });
    return dir;
  }

  it('strips types, keeping positions, and renames relative .ts imports', () => {
    const out = moduleSource(
      'x.ts',
      "import { a } from './a.ts';\nimport type { B } from '../b.ts';\nconst c: B = a as B;\nconst d = await import('./d.ts');\nexport { c, d };\n",
    );
    assert.equal(out.split('\n').length, 6);
    assert.match(out, /from '\.\/a\.js'/);
    assert.match(out, /import\('\.\/d\.js'\)/);
    assert.doesNotMatch(out, /: B|as B|\.ts'/);
  });

  it('prepares the files on the first console request, not at startup, and only once', async () => {
    let prepared = 0;
    const app = Fastify();
    const files = consoleRoutes(app, {
      enabled: true,
      assets: () => {
        prepared += 1;
        return loadConsoleAssets();
      },
    });
    try {
      await app.ready();
      const config = await app.inject({ url: '/console/oidc/config' });
      assert.equal(config.statusCode, 200);
      assert.equal(prepared, 0, 'nothing stripped until a page or asset is asked for');
      const page = await app.inject({ url: '/console/' });
      assert.equal(page.statusCode, 200);
      const version = files!().version;
      const css = await app.inject({ url: `/console/assets/${version}/console.css` });
      assert.equal(css.statusCode, 200);
      assert.equal(prepared, 1);
    } finally {
      await app.close();
    }
  });

  it('refuses, naming the module, syntax that cannot be stripped and imports a browser cannot resolve', () => {
    assert.throws(() => moduleSource('pages/e.ts', 'enum E { A }'), /the console's module pages\/e\.ts cannot be served: .*enum/);
    assert.throws(
      () => moduleSource('m.ts', "import { x } from 'lodash';"),
      /the console's module m\.ts imports 'lodash': a browser resolves relative imports only/,
    );
    assert.throws(() => moduleSource('m.ts', "import 'side-effect';"), /imports 'side-effect'/);
  });

  it('makes a new version when any asset changes, and refuses a page that does not name the version', async () => {
    const dir = await copyOfWeb();
    const first = loadConsoleAssets(dir);
    assert.equal(loadConsoleAssets(dir).version, first.version, 'the same files, the same version');
    await writeFile(join(dir, 'console.css'), 'body { color: black; }\n');
    const second = loadConsoleAssets(dir);
    assert.notEqual(second.version, first.version);
    assert.notEqual(second.entry.etag, first.entry.etag, 'the page names the new version');
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>x</title>');
    assert.throws(() => loadConsoleAssets(dir), /does not name its assets' version \(__CONSOLE_VERSION__\)/);
  });

  it('refuses a folder without the page, and serves no file it does not know', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-console-'));
    dirs.push(dir);
    await mkdir(join(dir, 'pages'));
    await writeFile(join(dir, 'pages', 'a.ts'), 'export const a = 1;\n');
    await writeFile(join(dir, 'notes.txt'), 'x');
    assert.throws(() => loadConsoleAssets(dir), /the console has no index\.html in /);
    assert.deepEqual(
      consoleFiles(dir).map((f) => f.served),
      ['pages/a.js'],
    );
  });
});
