import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeConfig } from '../../src/config/load.ts';
import { redactDatabaseUrl, storageLocation } from '../../src/config/describe.ts';
import { KEY, load } from './helpers.ts';

void describe('describeConfig', () => {
  void it('never shows the master key', () => {
    const summary = describeConfig(load({ env: { TESSERA_MASTER_KEY: KEY } }));
    assert.equal(summary.masterKey, 'from TESSERA_MASTER_KEY');
    assert.doesNotMatch(JSON.stringify(summary), new RegExp(KEY.slice(0, 20)));
  });

  void it('hides the database password', () => {
    const summary = describeConfig(
      load({ flags: { database: 'postgres://tessera:s3cret@db.internal:5432/tessera?sslmode=require' }, env: { TESSERA_MASTER_KEY: KEY } }),
    );
    assert.equal(summary.database, 'postgres postgres://tessera:***@db.internal:5432/tessera?sslmode=require');
    assert.doesNotMatch(JSON.stringify(summary), /s3cret/);
  });

  void it('shows everything else that took effect', () => {
    const summary = describeConfig(load({ cwd: '/srv/app', flags: { listen: 'https://0.0.0.0:8443', issuer: 'https://auth.example.internal:8443' } }));
    assert.deepEqual(summary, {
      dataDir: '/srv/app/.tessera',
      listen: 'https://0.0.0.0:8443/',
      issuer: 'https://auth.example.internal:8443',
      database: 'sqlite /srv/app/.tessera/tessera.db',
      masterKey: 'file /srv/app/.tessera/master.key (generated if missing)',
      logLevel: 'info',
      tokens: { defaultLifetime: 3600, maxLifetime: 86_400 },
      signing: { alg: 'ES256', rotationInterval: 2_592_000, prePublication: 3600, jwksMaxAge: 600, checkInterval: 30, thread: 'auto' },
      clockSkew: 60,
      bodyLimit: 65_536,
    });
  });
});

void describe('redactDatabaseUrl', () => {
  void it('hides a password given as a query parameter', () => {
    assert.equal(redactDatabaseUrl('postgresql://db/tessera?user=t&password=s3cret'), 'postgresql://db/tessera?user=t&password=***');
  });

  void it('leaves a URL without a password as it is', () => {
    assert.equal(redactDatabaseUrl('postgres://tessera@db/tessera'), 'postgres://tessera@db/tessera');
  });

  void it('hides the credentials in text that is not a URL', () => {
    assert.equal(redactDatabaseUrl('postgres://u:p@ss word@db:x/t'), 'postgres://***@db:x/t');
  });
});

void describe('storageLocation (GET /admin/v1/system/storage)', () => {
  void it('names the SQLite file, or only the host, port and database of a PostgreSQL URL', () => {
    assert.equal(storageLocation({ kind: 'sqlite', path: '/var/lib/tessera/tessera.db' }), '/var/lib/tessera/tessera.db');
    assert.equal(
      storageLocation({ kind: 'postgres', url: 'postgres://tessera:s3cret@db.internal:6432/auth?sslmode=require&password=x' }),
      'db.internal:6432/auth',
    );
    assert.equal(storageLocation({ kind: 'postgres', url: 'postgresql://db/tessera' }), 'db:5432/tessera');
    assert.equal(storageLocation({ kind: 'postgres', url: 'postgres://u:p@ss word@db:x/t' }), 'postgres');
  });
});
