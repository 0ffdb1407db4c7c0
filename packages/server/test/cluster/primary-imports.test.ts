// The cluster's primary stays small: what `tessera serve --workers N` loads in its own process
// (the serve entry, the config loader and cluster/primary.ts) pulls in neither fastify nor the
// server, its storage drivers or its CA.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const SRC = join(import.meta.dirname, '..', '..', 'src');

void describe('the cluster primary', () => {
  void it('loads no fastify, server, storage or CA module', async () => {
    // Every module the primary's imports resolve to, recorded by a resolve hook; workspace packages
    // (@tessera/cluster) from their sources, as the repository runs them.
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = [];
      registerHooks({ resolve(specifier, context, next) { const result = next(specifier, context); loaded.push(result.url); return result; } });
      await import(${JSON.stringify(join(SRC, 'serve.ts'))});
      await import(${JSON.stringify(join(SRC, 'cluster', 'primary.ts'))});
      process.stdout.write(JSON.stringify(loaded));
    `;
    const loaded = await new Promise<string[]>((resolve, reject) => {
      execFile(process.execPath, ['--conditions=tessera-source', '--input-type=module', '-e', script], (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as string[]);
      });
    });
    assert.ok(
      loaded.some((url) => url.endsWith('/cluster/primary.ts')),
      'the hook saw the primary',
    );
    // The config loader checks names with the CA's name rules (ca/names.ts, ca/errors.ts): small, and allowed.
    const heavy = loaded.filter(
      (url) =>
        /\/node_modules\/(fastify|pg|@peculiar|prom-client)\/|\/src\/(server|storage\/.*|ca\/.*)\.ts$/.test(url) && !/\/src\/ca\/(names|errors)\.ts$/.test(url),
    );
    assert.deepEqual(heavy, []);
  });
});
