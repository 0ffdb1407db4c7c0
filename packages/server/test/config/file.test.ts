import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configFile, load, problemOf, problemsOf, tempDir } from './helpers.ts';

void describe('config file', () => {
  void it('reads every setting from keys that mirror the Config shape', () => {
    const file = configFile({
      dataDir: '/var/lib/tessera',
      listen: 'https://0.0.0.0:9443',
      issuer: 'https://auth.example.com',
      database: 'sqlite',
      masterKeyFile: '/run/secrets/master.key',
      logLevel: 'debug',
      tokens: { defaultLifetime: '10m', maxLifetime: '1h' },
      signing: { alg: 'RS256', rotationInterval: '7d', prePublication: '2h', jwksMaxAge: 300, checkInterval: 15, thread: 'event-loop' },
      clockSkew: 30,
      bodyLimit: 4096,
    });
    const config = load({ flags: { config: file } });
    assert.equal(config.dataDir, '/var/lib/tessera');
    assert.equal(config.listen.href, 'https://0.0.0.0:9443/');
    assert.equal(config.issuer, 'https://auth.example.com');
    assert.deepEqual(config.masterKey, { source: 'file', path: '/run/secrets/master.key', generate: false });
    assert.equal(config.logLevel, 'debug');
    assert.deepEqual(config.tokens, { defaultLifetime: 600, maxLifetime: 3600 });
    assert.deepEqual(config.signing, {
      alg: 'RS256',
      rotationInterval: 604_800,
      prePublication: 7200,
      jwksMaxAge: 300,
      checkInterval: 15,
      thread: 'event-loop',
    });
    assert.equal(config.clockSkew, 30);
    assert.equal(config.bodyLimit, 4096);
  });

  void it('rejects an unknown key and suggests the closest one', () => {
    const file = configFile({ lissen: 'https://127.0.0.1:8443' });
    assert.equal(problemOf({ flags: { config: file } }), `${file}: unknown setting "lissen" (did you mean "listen"?)`);
  });

  void it('suggests across spellings: snake case, kebab case, other capitalisation', () => {
    const file = configFile({ data_dir: 'x', 'log-level': 'info' });
    assert.deepEqual(problemsOf({ flags: { config: file } }), [
      `${file}: unknown setting "data_dir" (did you mean "dataDir"?)`,
      `${file}: unknown setting "log-level" (did you mean "logLevel"?)`,
    ]);
  });

  void it('rejects an unknown nested key with the full path', () => {
    const file = configFile({ tokens: { maxLifetme: 60 } });
    assert.equal(problemOf({ flags: { config: file } }), `${file}: unknown setting "tokens.maxLifetme" (did you mean "tokens.maxLifetime"?)`);
  });

  void it('points at the right group for a setting at the wrong depth', () => {
    const file = configFile({ maxLifetime: 60, signing: { clockSkew: 5 } });
    assert.deepEqual(problemsOf({ flags: { config: file } }), [
      `${file}: unknown setting "maxLifetime" (did you mean "maxLifetime" inside "tokens"?)`,
      `${file}: unknown setting "signing.clockSkew" (did you mean "clockSkew" at the top level?)`,
    ]);
  });

  void it('offers no suggestion when nothing is close', () => {
    const file = configFile({ colour: 'blue' });
    assert.equal(problemOf({ flags: { config: file } }), `${file}: unknown setting "colour"`);
  });

  void it('refuses the master key itself', () => {
    const file = configFile({ masterKey: 'c2VjcmV0' });
    assert.match(
      problemOf({ flags: { config: file } }),
      /: masterKey: the master key is not read from a config file .*set TESSERA_MASTER_KEY, or masterKeyFile/,
    );
  });

  void it('rejects a value of the wrong type, naming the file and key', () => {
    const file = configFile({ listen: 8443, tokens: 'long' });
    assert.deepEqual(problemsOf({ flags: { config: file } }), [
      `${file}: tokens: expected an object with defaultLifetime, maxLifetime, got "long"`,
      `${file}: listen: expected a URL like https://127.0.0.1:8443 or http://127.0.0.1:8080, got 8443`,
    ]);
  });

  void it('reports a missing file against the flag that named it', () => {
    const path = join(tempDir(), 'missing.json');
    assert.equal(problemOf({ flags: { config: path } }), `--config: cannot read the config file ${path}: no such file`);
    assert.equal(problemOf({ env: { TESSERA_CONFIG: path } }), `TESSERA_CONFIG: cannot read the config file ${path}: no such file`);
  });

  void it('reports JSON that does not parse', () => {
    const file = configFile('{ "listen": "https://127.0.0.1:8443", }');
    assert.match(problemOf({ flags: { config: file } }), new RegExp(`^${file.replaceAll('.', '\\.')}: not valid JSON: `));
  });

  void it('requires a JSON object at the top', () => {
    const file = configFile('["listen"]');
    assert.equal(problemOf({ flags: { config: file } }), `${file}: expected a JSON object of settings, got an array`);
  });

  void it('reports file problems together with problems from other sources', () => {
    const file = configFile({ tokns: {} });
    assert.deepEqual(problemsOf({ flags: { config: file, listen: 'nope' } }), [
      `${file}: unknown setting "tokns" (did you mean "tokens"?)`,
      '--listen: expected a URL like https://127.0.0.1:8443 or http://127.0.0.1:8080, got "nope"',
    ]);
  });
});
