// The published form of the SDK: built with tsconfig.build.json into a temporary directory, the
// JavaScript must load without TypeScript, import nothing but `jose` and Node built-ins, work,
// and come with declarations a strict TypeScript consumer compiles against.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type * as Sdk from '../src/index.ts';

const SDK_DIR = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const TSC = require.resolve('typescript/bin/tsc');
/** Where a package's own folder is, found through its package.json. */
const packageDir = (name: string): string => dirname(require.resolve(`${name}/package.json`));

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith(suffix))
    .map((name) => join(dir, name));
}

describe('the built package', () => {
  let root: string;
  let dist: string;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'tessera-sdk-build-'));
    dist = join(root, 'dist');
    execFileSync(process.execPath, [TSC, '-p', join(SDK_DIR, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'pipe' });
    // A consumer's node_modules: the SDK's one dependency, and Node's types for the declaration check.
    mkdirSync(join(root, 'node_modules', '@types'), { recursive: true });
    symlinkSync(packageDir('jose'), join(root, 'node_modules', 'jose'), 'dir');
    symlinkSync(packageDir('@types/node'), join(root, 'node_modules', '@types', 'node'), 'dir');
    writeFileSync(join(root, 'package.json'), JSON.stringify({ type: 'module' }));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('emits JavaScript and declarations for the entry point', () => {
    const js = readFileSync(join(dist, 'index.js'), 'utf8');
    const dts = readFileSync(join(dist, 'index.d.ts'), 'utf8');
    assert.match(js, /export \{ createTokenClient \} from "\.\/client\/token-client\.js"/);
    assert.match(dts, /createTokenClient/);
    assert.match(readFileSync(join(dist, 'client', 'options.d.ts'), 'utf8'), /An access token for the request/, 'TSDoc is kept for consumers');
  });

  it('rewrites every relative import to .js and imports only jose and node: built-ins', () => {
    const specifiers = new Set<string>();
    for (const file of filesUnder(dist, '.js')) {
      const source = readFileSync(file, 'utf8');
      for (const match of source.matchAll(/(?:^|\s)(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm)) {
        specifiers.add((match[1] ?? match[2])!);
      }
    }
    const relative = [...specifiers].filter((name) => name.startsWith('.'));
    assert.ok(relative.length > 0);
    assert.deepEqual(
      relative.filter((name) => !name.endsWith('.js')),
      [],
      'relative imports end in .js',
    );
    const external = [...specifiers].filter((name) => !name.startsWith('.') && !name.startsWith('node:'));
    assert.deepEqual([...new Set(external)], ['jose']);
  });

  it('loads in plain Node and gets a token through the built client', async () => {
    const sdk = (await import(pathToFileURL(join(dist, 'index.js')).href)) as typeof Sdk;
    assert.equal(typeof sdk.createAuthenticatedFetch, 'function');
    assert.equal(typeof sdk.TokenClientError, 'function');
    const client = sdk.createTokenClient({
      tokenEndpoint: 'https://tessera.test/oauth2/token',
      credentials: { clientId: 'alpha.api', clientSecret: 's' },
      fetch: async () => Response.json({ access_token: 'built-token', token_type: 'Bearer', expires_in: 60 }),
    });
    try {
      assert.equal(await client.getAccessToken({ scope: 'beta:domain' }), 'built-token');
    } finally {
      await client.close();
    }
  });

  // The workspace reaches src/index.ts only through the custom `tessera-source` condition (the
  // root tsconfig's customConditions, `node --conditions=tessera-source`); an installed copy
  // must load the built JS, since Node refuses to strip types under node_modules.
  it("loads by name from a consumer's node_modules, as npm would install it", async () => {
    const installed = join(root, 'node_modules', '@tessera', 'sdk');
    mkdirSync(installed, { recursive: true });
    cpSync(join(SDK_DIR, 'package.json'), join(installed, 'package.json'));
    cpSync(dist, join(installed, 'dist'), { recursive: true });
    cpSync(join(SDK_DIR, 'src'), join(installed, 'src'), { recursive: true });
    writeFileSync(join(root, 'by-name.mjs'), "const sdk = await import('@tessera/sdk'); console.log(typeof sdk.createTokenClient);");
    const printed = execFileSync(process.execPath, [join(root, 'by-name.mjs')], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
    assert.equal(printed.trim(), 'function');
  });

  it('gives a strict TypeScript consumer working declarations', () => {
    writeFileSync(
      join(root, 'consumer.ts'),
      `
import { createAuthenticatedFetch, createTokenClient, TokenClientError, type TokenClientOptions } from './dist/index.js';
const options: TokenClientOptions = { issuer: 'https://tessera.test', credentials: { clientId: 'a.b', privateKey: '-', kid: 'k' }, retry: { maxAttempts: 2 } };
const client = createTokenClient(options);
const token: Promise<string> = client.getAccessToken({ domain: 'beta', roles: ['readers'], expiresIn: 300 });
const call = createAuthenticatedFetch(client, { scope: 'beta:domain', retryNonIdempotent: false });
const res: Promise<Response> = call('https://beta.test/');
export function codeOf(error: unknown): string | undefined {
  return error instanceof TokenClientError ? error.code + (error.errorCode ?? '') : undefined;
}
void token; void res;
`,
    );
    writeFileSync(
      join(root, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2024'],
          types: ['node'],
          skipLibCheck: false,
        },
        files: ['consumer.ts'],
      }),
    );
    try {
      execFileSync(process.execPath, [TSC, '-p', join(root, 'tsconfig.json')], { stdio: 'pipe', cwd: root });
    } catch (error) {
      assert.fail(`the consumer does not compile:\n${(error as { stdout?: Buffer }).stdout?.toString()}`);
    }
  });
});
