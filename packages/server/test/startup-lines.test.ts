import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.ts';
import { servingLine, stoppedLine } from '../src/startup-lines.ts';

describe('the lines at start and stop', () => {
  it('name a PostgreSQL database without its password', () => {
    const config = loadConfig({
      flags: { database: 'postgres://tessera:s3cret@db.internal:5432/auth?password=other', listen: 'https://127.0.0.1:9443' },
      env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 1).toString('base64') },
      cwd: '/srv',
    });
    const line = servingLine(config, 'https://127.0.0.1:9443', 4);
    const text = JSON.stringify(line);
    assert.doesNotMatch(text, /s3cret|other/);
    assert.equal(line.details['database'], 'postgres postgres://tessera:***@db.internal:5432/auth?password=***');
    assert.equal(line.details['jwks'], 'https://127.0.0.1:9443/.well-known/jwks.json');
    assert.equal(line.details['caBundle'], '/srv/.tessera/ca.pem');
  });

  it('say what stopped the server and how long draining took', () => {
    assert.deepEqual(stoppedLine('SIGTERM', 1000, 1250, 3), {
      details: { signal: 'SIGTERM', workers: 3, tookMs: 250 },
      message: 'tessera stopped on SIGTERM: 3 worker processes drained in 250 ms',
    });
    assert.equal(stoppedLine(undefined, 0, 5, 1).message, 'tessera stopped: requests in flight drained in 5 ms');
  });
});
