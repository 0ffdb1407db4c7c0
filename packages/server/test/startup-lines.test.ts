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

describe('the log format and shared data dir settings', () => {
  it('name the variable and what it takes when the value is wrong', () => {
    assert.throws(
      () => loadConfig({ flags: {}, env: { TESSERA_LOG_FORMAT: 'prety', TESSERA_SHARED_DATA_DIR: 'yes' }, cwd: '/srv' }),
      (error: Error & { problems?: string[] }) => {
        assert.deepEqual(error.problems, [
          'TESSERA_LOG_FORMAT: expected one of auto, pretty, json, got "prety" (did you mean pretty?)',
          'TESSERA_SHARED_DATA_DIR: expected true or false, got "yes"',
        ]);
        return true;
      },
    );
    const config = loadConfig({ flags: { logFormat: 'json', sharedDataDir: 'true' }, env: {}, cwd: '/srv' });
    assert.equal(config.logFormat, 'json');
    assert.equal(config.sharedDataDir, true);
    assert.equal(loadConfig({ flags: {}, env: {}, cwd: '/srv' }).logFormat, 'auto');
  });
});
