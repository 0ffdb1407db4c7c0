import assert from 'node:assert/strict';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { DEFAULTS } from '../../src/config/config.ts';
import { listenPort } from '../../src/config/load.ts';
import { configFile, KEY, load, problemOf, problemsOf } from './helpers.ts';

void describe('loadConfig defaults', () => {
  void it('serves the embedded setup from ./.tessera with no flags, env or file', () => {
    const config = load({ cwd: '/srv/app' });
    assert.equal(config.dataDir, '/srv/app/.tessera');
    assert.equal(config.listen.href, 'https://127.0.0.1:8443/');
    assert.equal(config.issuer, 'https://127.0.0.1:8443');
    assert.deepEqual(config.database, { kind: 'sqlite', path: '/srv/app/.tessera/tessera.db' });
    assert.deepEqual(config.masterKey, { source: 'file', path: '/srv/app/.tessera/master.key', generate: true });
    assert.equal(config.logLevel, 'info');
    assert.deepEqual(config.tokens, DEFAULTS.tokens);
    assert.deepEqual(config.signing, DEFAULTS.signing);
    assert.equal(config.clockSkew, DEFAULTS.clockSkew);
    assert.equal(config.bodyLimit, DEFAULTS.bodyLimit);
  });
});

void describe('loadConfig precedence', () => {
  const file = configFile({ listen: 'https://127.0.0.1:1001', logLevel: 'debug', tokens: { maxLifetime: '2h' } });

  void it('takes values from the config file over the defaults', () => {
    const config = load({ flags: { config: file } });
    assert.equal(config.listen.port, '1001');
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.tokens.maxLifetime, 7200);
    assert.equal(config.tokens.defaultLifetime, DEFAULTS.tokens.defaultLifetime);
  });

  void it('takes TESSERA_* variables over the config file', () => {
    const config = load({
      flags: { config: file },
      env: { TESSERA_LISTEN: 'https://127.0.0.1:1002', TESSERA_TOKEN_MAX_LIFETIME: '3h' },
    });
    assert.equal(config.listen.port, '1002');
    assert.equal(config.tokens.maxLifetime, 10_800);
    assert.equal(config.logLevel, 'debug');
  });

  void it('takes flags over TESSERA_* variables', () => {
    const config = load({
      flags: { config: file, listen: 'https://127.0.0.1:1003', logLevel: 'warn', signingAlg: 'EdDSA' },
      env: { TESSERA_LISTEN: 'https://127.0.0.1:1002', TESSERA_LOG_LEVEL: 'error', TESSERA_SIGNING_ALG: 'RS256' },
    });
    assert.equal(config.listen.port, '1003');
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.signing.alg, 'EdDSA');
  });

  void it('ignores flags commander passes as undefined', () => {
    const config = load({ flags: { listen: undefined }, env: { TESSERA_LISTEN: 'https://127.0.0.1:1002' } });
    assert.equal(config.listen.port, '1002');
  });

  void it('finds the config file through TESSERA_CONFIG, and --config over it', () => {
    const other = configFile({ logLevel: 'trace' });
    assert.equal(load({ env: { TESSERA_CONFIG: file } }).logLevel, 'debug');
    assert.equal(load({ flags: { config: other }, env: { TESSERA_CONFIG: file } }).logLevel, 'trace');
  });

  void it('reads every numeric setting from its environment variable', () => {
    const config = load({
      env: {
        TESSERA_TOKEN_DEFAULT_LIFETIME: '10m',
        TESSERA_TOKEN_MAX_LIFETIME: '1h',
        TESSERA_SIGNING_ROTATION_INTERVAL: '7d',
        TESSERA_SIGNING_PRE_PUBLICATION: '2h',
        TESSERA_JWKS_MAX_AGE: '5m',
        TESSERA_SIGNING_CHECK_INTERVAL: '10s',
        TESSERA_CLOCK_SKEW: '0',
        TESSERA_BODY_LIMIT: '1024',
      },
    });
    assert.deepEqual(config.tokens, { defaultLifetime: 600, maxLifetime: 3600 });
    assert.deepEqual(config.signing, {
      alg: 'ES256',
      rotationInterval: 604_800,
      prePublication: 7200,
      jwksMaxAge: 300,
      checkInterval: 10,
      thread: 'auto',
    });
    assert.equal(config.clockSkew, 0);
    assert.equal(config.bodyLimit, 1024);
  });
});

void describe('loadConfig paths', () => {
  void it('resolves --data-dir and TESSERA_DATA_DIR against cwd', () => {
    assert.equal(load({ cwd: '/srv/app', flags: { dataDir: 'state' } }).dataDir, '/srv/app/state');
    assert.equal(load({ cwd: '/srv/app', env: { TESSERA_DATA_DIR: '/var/lib/tessera' } }).dataDir, '/var/lib/tessera');
  });

  void it('resolves paths in the config file against the file’s directory', () => {
    const file = configFile({ dataDir: 'state', masterKeyFile: 'secrets/master.key' });
    const config = load({ cwd: '/srv/app', flags: { config: file } });
    assert.equal(config.dataDir, join(file, '..', 'state'));
    assert.deepEqual(config.masterKey, { source: 'file', path: join(file, '..', 'secrets/master.key'), generate: false });
  });

  void it('resolves the config file path itself against cwd', () => {
    const file = configFile({ logLevel: 'warn' });
    assert.equal(load({ cwd: join(file, '..'), flags: { config: 'tessera.json' } }).logLevel, 'warn');
  });

  void it('puts the embedded database and generated master key in the data dir', () => {
    const config = load({ cwd: '/srv/app', flags: { dataDir: 'd', database: 'sqlite' } });
    assert.deepEqual(config.database, { kind: 'sqlite', path: '/srv/app/d/tessera.db' });
    assert.deepEqual(config.masterKey, { source: 'file', path: '/srv/app/d/master.key', generate: true });
  });
});

void describe('loadConfig durations', () => {
  const maxLifetime = (value: unknown): number =>
    load({ flags: { config: configFile({ tokens: { maxLifetime: value, defaultLifetime: 1 } }) } }).tokens.maxLifetime;

  for (const [value, seconds] of [
    [7200, 7200],
    ['7200', 7200],
    ['90s', 90],
    ['15m', 900],
    ['1h', 3600],
    ['30d', 2_592_000],
  ] as const) {
    void it(`reads ${JSON.stringify(value)} as ${seconds} seconds`, () => assert.equal(maxLifetime(value), seconds));
  }

  for (const value of ['1.5h', '10w', '1h30m', '', ' 60', '-5', 'soon']) {
    void it(`rejects ${JSON.stringify(value)}`, () => {
      assert.equal(
        problemOf({ env: { TESSERA_TOKEN_MAX_LIFETIME: value } }),
        `TESSERA_TOKEN_MAX_LIFETIME: expected a duration: whole seconds (3600) or a whole number with a unit s, m, h or d ("90s", "15m", "1h", "30d"), got ${JSON.stringify(value)}`,
      );
    });
  }

  void it('rejects a fractional or non-numeric duration in the config file', () => {
    const file = configFile({ signing: { rotationInterval: 1.5 } });
    assert.match(problemOf({ flags: { config: file } }), /: signing\.rotationInterval: expected a duration: .*got 1\.5$/);
  });

  void it('rejects zero and negative durations where a positive one is needed', () => {
    assert.equal(problemOf({ env: { TESSERA_TOKEN_DEFAULT_LIFETIME: '0s' } }), 'TESSERA_TOKEN_DEFAULT_LIFETIME: expected a duration of at least 1s, got "0s"');
    const file = configFile({ tokens: { maxLifetime: -60 } });
    assert.equal(problemOf({ flags: { config: file } }), `${file}: tokens.maxLifetime: expected a duration of at least 1s, got -60`);
  });

  void it('allows a JWKS max-age of zero, so verifiers do not cache', () => {
    assert.equal(load({ env: { TESSERA_JWKS_MAX_AGE: '0' } }).signing.jwksMaxAge, 0);
  });

  void it('reads where tokens are signed from TESSERA_SIGNING_THREAD, and names the three choices when it is none of them', () => {
    assert.equal(load({ env: { TESSERA_SIGNING_THREAD: 'thread-pool' } }).signing.thread, 'thread-pool');
    assert.equal(load({ env: { TESSERA_SIGNING_THREAD: 'event-loop' } }).signing.thread, 'event-loop');
    assert.match(problemOf({ env: { TESSERA_SIGNING_THREAD: 'main' } }), /^TESSERA_SIGNING_THREAD: .*auto.*event-loop.*thread-pool.*"main"/);
  });

  void it('rejects a check interval longer than a Node timer can wait', () => {
    assert.equal(
      problemOf({ env: { TESSERA_SIGNING_CHECK_INTERVAL: '25d' } }),
      'TESSERA_SIGNING_CHECK_INTERVAL: expected a duration of at most 24d (the longest timer Node keeps), got "25d"',
    );
  });
});

void describe('loadConfig listen and issuer', () => {
  void it('names the flag, the expected form and the value for a listen that is not a URL', () => {
    assert.equal(problemOf({ flags: { listen: 'foo' } }), '--listen: expected a URL like https://127.0.0.1:8443 or http://127.0.0.1:8080, got "foo"');
  });

  void it('rejects a listen URL with another scheme, a path or no port', () => {
    assert.match(problemOf({ flags: { listen: 'ftp://127.0.0.1:21' } }), /\(only http and https can be served\)$/);
    assert.match(problemOf({ flags: { listen: 'https://127.0.0.1:8443/auth' } }), /\(only a scheme, host and port: no path, query or user\)$/);
    assert.match(problemOf({ env: { TESSERA_LISTEN: 'https://127.0.0.1' } }), /^TESSERA_LISTEN: .*\(the port is missing\)$/);
    assert.match(problemOf({ flags: { listen: 'http://127.0.0.1:0' } }), /\(the port must be between 1 and 65535\)$/);
  });

  void it('accepts the scheme’s default port when written out', () => {
    const config = load({ flags: { listen: 'https://auth.internal:443' } });
    assert.equal(listenPort(config.listen), 443);
    assert.equal(config.issuer, 'https://auth.internal');
  });

  void it('defaults the issuer to the listen origin', () => {
    assert.equal(load({ flags: { listen: 'http://10.0.0.5:8080' } }).issuer, 'http://10.0.0.5:8080');
  });

  void it('keeps an explicit issuer as written', () => {
    assert.equal(load({ flags: { issuer: 'https://auth.example.com/tenant' } }).issuer, 'https://auth.example.com/tenant');
  });

  void it('requires an https issuer unless listening on http', () => {
    assert.equal(
      problemOf({ env: { TESSERA_ISSUER: 'http://auth.example.com' } }),
      'TESSERA_ISSUER: expected an https:// URL (http:// only when listening on http), got "http://auth.example.com"',
    );
    const config = load({ flags: { listen: 'http://127.0.0.1:8080', issuer: 'http://auth.test' } });
    assert.equal(config.issuer, 'http://auth.test');
  });

  void it('rejects an issuer with a query or fragment', () => {
    assert.match(problemOf({ flags: { issuer: 'https://auth.example.com?x=1' } }), /^--issuer: expected an https:\/\/ URL .*without query, fragment or user/);
  });
});

void describe('loadConfig database and master key', () => {
  const postgres = 'postgres://tessera:s3cret@db.internal:5432/tessera';

  void it('switches to PostgreSQL for postgres:// and postgresql:// URLs', () => {
    for (const url of [postgres, 'postgresql://db.internal/tessera']) {
      assert.deepEqual(load({ flags: { database: url }, env: { TESSERA_MASTER_KEY: KEY } }).database, { kind: 'postgres', url });
    }
  });

  void it('rejects other databases without showing the password', () => {
    const problem = problemOf({ flags: { database: 'mysql://root:hunter2@db/tessera' } });
    assert.equal(problem, '--database: expected "sqlite" or a URL like postgres://user:password@host:5432/tessera, got "mysql://root:***@db/tessera"');
  });

  void it('requires an explicit master key with PostgreSQL', () => {
    assert.equal(
      problemOf({ env: { TESSERA_DATABASE: postgres } }),
      'TESSERA_DATABASE: several instances sharing one database must share one master key: set TESSERA_MASTER_KEY or --master-key-file (masterKeyFile in the config file)',
    );
  });

  void it('takes the master key from TESSERA_MASTER_KEY', () => {
    const config = load({ flags: { database: postgres }, env: { TESSERA_MASTER_KEY: KEY } });
    assert.deepEqual(config.masterKey, { source: 'env', value: KEY });
  });

  void it('takes the master key from a file without generating it', () => {
    const config = load({ cwd: '/srv/app', flags: { database: postgres, masterKeyFile: 'master.key' } });
    assert.deepEqual(config.masterKey, { source: 'file', path: '/srv/app/master.key', generate: false });
    const viaFile = load({ flags: { config: configFile({ database: postgres, masterKeyFile: '/run/secrets/key' }) } });
    assert.deepEqual(viaFile.masterKey, { source: 'file', path: '/run/secrets/key', generate: false });
  });

  void it('lets a stronger source choose between the key and a key file', () => {
    const file = configFile({ masterKeyFile: '/run/secrets/key' });
    assert.equal(load({ flags: { config: file }, env: { TESSERA_MASTER_KEY: KEY } }).masterKey.source, 'env');
    assert.deepEqual(load({ flags: { masterKeyFile: '/k' }, env: { TESSERA_MASTER_KEY: KEY } }).masterKey, {
      source: 'file',
      path: '/k',
      generate: false,
    });
  });

  void it('rejects both TESSERA_MASTER_KEY and TESSERA_MASTER_KEY_FILE', () => {
    assert.equal(
      problemOf({ env: { TESSERA_MASTER_KEY: KEY, TESSERA_MASTER_KEY_FILE: '/k' } }),
      'TESSERA_MASTER_KEY and TESSERA_MASTER_KEY_FILE: both are set; set only one of them',
    );
  });

  void it('rejects a master key that is not 32 bytes of base64, without echoing it', () => {
    const problem = problemOf({ env: { TESSERA_MASTER_KEY: 'not-a-real-key-but-secret' } });
    assert.match(problem, /^TESSERA_MASTER_KEY: expected 32 random bytes, base64-encoded/);
    assert.doesNotMatch(problem, /not-a-real-key-but-secret/);
  });

  void it('accepts the key in base64url as well', () => {
    const key = Buffer.alloc(32, 0xfb).toString('base64url');
    assert.equal(load({ env: { TESSERA_MASTER_KEY: key } }).masterKey.source, 'env');
  });
});

void describe('loadConfig enumerations', () => {
  void it('rejects an unknown log level with a suggestion', () => {
    assert.equal(problemOf({ flags: { logLevel: 'warning' } }), '--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "warning"');
    assert.equal(
      problemOf({ flags: { logLevel: 'INFO' } }),
      '--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "INFO" (did you mean info?)',
    );
  });

  void it('rejects an unknown signing algorithm', () => {
    assert.equal(
      problemOf({ env: { TESSERA_SIGNING_ALG: 'ES265' } }),
      'TESSERA_SIGNING_ALG: expected one of ES256, EdDSA, RS256, got "ES265" (did you mean ES256?)',
    );
  });

  void it('rejects a body limit that is not a positive number of bytes', () => {
    assert.equal(problemOf({ env: { TESSERA_BODY_LIMIT: '64kb' } }), 'TESSERA_BODY_LIMIT: expected a positive whole number of bytes, got "64kb"');
  });
});

void describe('loadConfig relations between settings', () => {
  void it('rejects a default token lifetime above the maximum', () => {
    assert.equal(
      problemOf({ env: { TESSERA_TOKEN_DEFAULT_LIFETIME: '2d' } }),
      'tokens.defaultLifetime (TESSERA_TOKEN_DEFAULT_LIFETIME) is 2d but tokens.maxLifetime (default) is 1d: the default token lifetime cannot exceed the maximum',
    );
  });

  void it('rejects a pre-publication shorter than the JWKS cache time, and says why', () => {
    assert.equal(
      problemOf({ env: { TESSERA_SIGNING_PRE_PUBLICATION: '5m' } }),
      'signing.jwksMaxAge (default) is 10m but signing.prePublication (TESSERA_SIGNING_PRE_PUBLICATION) is 5m: a new key must be published at least as long as verifiers may cache the JWKS, or they reject tokens from a key they have not fetched yet',
    );
  });

  void it('rejects a pre-publication that does not also cover one key check interval', () => {
    assert.equal(
      problemOf({ env: { TESSERA_SIGNING_PRE_PUBLICATION: '10m', TESSERA_SIGNING_CHECK_INTERVAL: '1m' } }),
      'signing.prePublication (TESSERA_SIGNING_PRE_PUBLICATION) is 10m but must be at least signing.jwksMaxAge + signing.checkInterval (11m): instances load a new key up to one check interval late, and verifiers then cache that JWKS for jwksMaxAge',
    );
  });

  void it('rejects a rotation interval not longer than the pre-publication', () => {
    const file = configFile({ signing: { rotationInterval: '1h' } });
    assert.equal(
      problemOf({ flags: { config: file } }),
      `signing.prePublication (default) is 1h but signing.rotationInterval (${file}) is 1h: the rotation interval must be longer, since each key is published that long before it takes over from the previous one`,
    );
  });

  void it('does not compare a setting that is itself invalid', () => {
    assert.deepEqual(problemsOf({ env: { TESSERA_TOKEN_MAX_LIFETIME: 'x', TESSERA_TOKEN_DEFAULT_LIFETIME: '30d' } }), [
      'TESSERA_TOKEN_MAX_LIFETIME: expected a duration: whole seconds (3600) or a whole number with a unit s, m, h or d ("90s", "15m", "1h", "30d"), got "x"',
    ]);
  });
});

void describe('loadConfig error reporting', () => {
  void it('lists every problem at once, one per line', () => {
    const problems = problemsOf({
      flags: { listen: 'foo', logLevel: 'loud', database: 'oracle' },
      env: { TESSERA_SIGNING_ALG: 'HS256', TESSERA_JWKS_MAX_AGE: 'long' },
    });
    assert.deepEqual(
      problems.map((problem) => problem.split(':')[0]),
      ['--listen', '--database', 'TESSERA_JWKS_MAX_AGE', '--log-level', 'TESSERA_SIGNING_ALG'],
    );
  });

  void it('rejects empty values rather than treating them as unset', () => {
    assert.equal(problemOf({ env: { TESSERA_DATA_DIR: '' } }), 'TESSERA_DATA_DIR: expected a file system path, got ""');
    assert.equal(problemOf({ env: { TESSERA_CONFIG: '' } }), 'TESSERA_CONFIG: expected the path of a JSON config file, got ""');
  });
});

void describe('loadConfig guards and reuse', () => {
  void it('defaults: no trusted proxies, limits on, reuse off, accounts in service-accounts', () => {
    const config = load({});
    assert.deepEqual(config.trustedProxies, []);
    assert.deepEqual(config.rateLimits, { client: { rate: 50, burst: 100 }, ip: { rate: 200, burst: 400 } });
    assert.deepEqual(config.alerts, { failureThreshold: 10, failureWindow: 60, webhookUrl: null });
    assert.deepEqual(config.tokenReuse, { enabled: false, window: 30 });
    assert.equal(config.serviceAccounts.domain, 'service-accounts');
  });

  void it('reads lists, numbers, booleans and URLs from the environment', () => {
    const config = load({
      env: {
        TESSERA_TRUSTED_PROXIES: '10.0.0.0/8, ::1/128',
        TESSERA_RATE_LIMIT_CLIENT: '0',
        TESSERA_RATE_LIMIT_IP: '20',
        TESSERA_RATE_LIMIT_IP_BURST: '40',
        TESSERA_TOKEN_REUSE: 'true',
        TESSERA_TOKEN_REUSE_WINDOW: '10s',
        TESSERA_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/hook',
        TESSERA_SERVICE_ACCOUNTS_DOMAIN: 'accounts',
        TESSERA_REGISTRY_CACHE_MAX_CLIENTS: '5000',
        TESSERA_DATABASE_POOL_SIZE: '40',
      },
    });
    assert.deepEqual(config.registryCache, { maxClients: 5000 });
    assert.equal(config.databasePoolSize, 40);
    assert.equal(load().databasePoolSize, 10, 'the default');
    assert.deepEqual(load().registryCache, { maxClients: 100_000 }, 'the default');
    assert.deepEqual(config.trustedProxies, ['10.0.0.0/8', '::1/128']);
    assert.equal(config.rateLimits.client.rate, 0);
    assert.deepEqual(config.rateLimits.ip, { rate: 20, burst: 40 });
    assert.deepEqual(config.tokenReuse, { enabled: true, window: 10 });
    assert.equal(config.alerts.webhookUrl, 'http://127.0.0.1:9/hook');
    assert.equal(config.serviceAccounts.domain, 'accounts');
  });

  void it('reads tokenExchange.maxDepth: 4 actors by default, 1 to 16', () => {
    assert.deepEqual(load().tokenExchange, { maxDepth: 4 }, 'the default');
    assert.deepEqual(load({ env: { TESSERA_TOKEN_EXCHANGE_MAX_DEPTH: '2' } }).tokenExchange, { maxDepth: 2 });
    assert.deepEqual(load({ env: { TESSERA_TOKEN_EXCHANGE_MAX_DEPTH: '16' } }).tokenExchange, { maxDepth: 16 });
    assert.match(problemOf({ env: { TESSERA_TOKEN_EXCHANGE_MAX_DEPTH: '0' } }), /^TESSERA_TOKEN_EXCHANGE_MAX_DEPTH: expected a whole number of at least 1/);
    assert.match(problemOf({ env: { TESSERA_TOKEN_EXCHANGE_MAX_DEPTH: '17' } }), /^TESSERA_TOKEN_EXCHANGE_MAX_DEPTH: expected at most 16 actors/);
  });

  void it('reads console.enabled: on by default, off from the environment or the config file', () => {
    assert.deepEqual(load().console, { enabled: true, oidc: null }, 'the default');
    assert.deepEqual(load({ env: { TESSERA_CONSOLE: 'false' } }).console, { enabled: false, oidc: null });
    assert.deepEqual(load({ flags: { config: configFile({ console: { enabled: false } }) } }).console, { enabled: false, oidc: null });
    assert.match(problemOf({ env: { TESSERA_CONSOLE: 'off-ish' } }), /^TESSERA_CONSOLE: expected true or false/);
    assert.match(problemOf({ flags: { config: configFile({ console: { enabled: 'yes please' } }) } }), /console\.enabled.*expected true or false/);
  });

  void it('reads console.oidc from the config file, with defaults, the secret file beside it, and a message per bad field', () => {
    const oidc = { issuer: 'https://login.example.org/realms/staff', clientId: 'tessera-console', principal: { claim: 'preferred_username', domain: 'user' } };
    const file = configFile({ console: { oidc: { ...oidc, clientSecretFile: 'oidc-secret' } } });
    assert.deepEqual(load({ flags: { config: file } }).console.oidc, {
      ...oidc,
      clientSecretFile: join(file, '..', 'oidc-secret'),
      scopes: ['openid', 'profile', 'email'],
      groups: null,
      sessionLifetime: 900,
    });
    const full = load({
      flags: {
        config: configFile({
          console: {
            oidc: {
              ...oidc,
              scopes: 'openid groups',
              groups: { roles: { admins: ['sys.auth:role.admin', 'payments:role.admin'] } },
              sessionLifetime: 3600,
            },
          },
        }),
      },
    }).console.oidc!;
    assert.deepEqual(
      [full.scopes, full.groups, full.sessionLifetime, full.clientSecretFile],
      [['openid', 'groups'], { claim: 'groups', roles: { admins: ['sys.auth:role.admin', 'payments:role.admin'] } }, 3600, null],
    );
    const bad = (value: unknown): string => problemOf({ flags: { config: configFile({ console: { oidc: value } }) } });
    assert.match(
      bad({ ...oidc, issuer: 'http://login.example.org' }),
      /console\.oidc.*issuer: expected the provider's https:\/\/ issuer URL \(http:\/\/ only on a loopback address\)/,
    );
    assert.doesNotThrow(() => load({ flags: { config: configFile({ console: { oidc: { ...oidc, issuer: 'http://127.0.0.1:9000' } } }) } }));
    assert.match(bad({ ...oidc, clientId: '' }), /clientId: expected the client id/);
    assert.match(bad({ ...oidc, scopes: ['profile'] }), /scopes: expected a list of scope names including "openid"/);
    assert.match(bad({ ...oidc, principal: { claim: 'email', domain: 'Bad Domain' } }), /principal\.domain: expected a domain name/);
    assert.match(bad({ ...oidc, groups: { roles: { admins: ['payments:role.reader'] } } }), /groups\.roles\["admins"\]: expected a list of admin roles/);
    assert.match(bad({ ...oidc, sessionLifetime: 7200 }), /sessionLifetime: expected whole seconds from 60 to 3600, got 7200/);
    assert.match(bad({ ...oidc, clientSecret: 'inline' }), /unknown field "clientSecret"/);
    assert.match(bad('on'), /console\.oidc.*expected an object with issuer, clientId and principal/);
  });

  void it('explains bad values', () => {
    assert.match(
      problemOf({ env: { TESSERA_TRUSTED_PROXIES: '10.0.0.0/99' } }),
      /^TESSERA_TRUSTED_PROXIES: expected CIDR blocks: "10.0.0.0\/99" needs a prefix length from 0 to 32/,
    );
    assert.match(problemOf({ env: { TESSERA_RATE_LIMIT_CLIENT: 'lots' } }), /^TESSERA_RATE_LIMIT_CLIENT: expected a whole number/);
    assert.match(problemOf({ env: { TESSERA_TOKEN_REUSE: 'maybe' } }), /^TESSERA_TOKEN_REUSE: expected true or false/);
    assert.match(problemOf({ env: { TESSERA_REGISTRY_CACHE_MAX_CLIENTS: '0' } }), /^TESSERA_REGISTRY_CACHE_MAX_CLIENTS: expected a whole number/);
    assert.match(problemOf({ env: { TESSERA_DATABASE_POOL_SIZE: '0' } }), /^TESSERA_DATABASE_POOL_SIZE: expected a whole number/);
    assert.match(problemOf({ env: { TESSERA_ALERT_WEBHOOK_URL: 'ftp://x' } }), /^TESSERA_ALERT_WEBHOOK_URL: expected an http\(s\) URL/);
    assert.match(problemOf({ env: { TESSERA_SERVICE_ACCOUNTS_DOMAIN: 'Bad Name' } }), /^TESSERA_SERVICE_ACCOUNTS_DOMAIN: expected a domain name/);
    assert.match(
      problemOf({ env: { TESSERA_RATE_LIMIT_IP: '100', TESSERA_RATE_LIMIT_IP_BURST: '10' } }),
      /burst is 10 but must be at least rateLimits.ip.rate \(100\)/,
    );
    assert.match(
      problemOf({ env: { TESSERA_TOKEN_REUSE: 'on', TESSERA_TOKEN_REUSE_WINDOW: '2h' } }),
      /tokenReuse.window \(2h\) must be shorter than tokens.defaultLifetime/,
    );
  });
});

void describe('audit retention and connection settings', () => {
  void it('defaults: 30 d / 90 d / 400 d retention, 60 s summaries, connection caps and timeouts of seconds', () => {
    const config = load();
    assert.deepEqual(config.audit, {
      retention: { tokenEvents: 30 * 86_400, summaries: 90 * 86_400, adminEvents: 400 * 86_400, callers: 90 * 86_400 },
      summaryInterval: 60,
    });
    assert.deepEqual(config.connections, {
      max: 4096,
      maxPerAddress: 256,
      handshakeTimeout: 10,
      headersTimeout: 10,
      requestTimeout: 30,
      keepAliveTimeout: 5,
      maxRequestsPerSocket: 0,
    });
  });

  void it('takes them from TESSERA_* variables, 0 keeping a kind of event forever', () => {
    const config = load({
      env: {
        TESSERA_AUDIT_RETENTION_TOKEN_EVENTS: '7d',
        TESSERA_AUDIT_RETENTION_ADMIN_EVENTS: '0',
        TESSERA_AUDIT_RETENTION_CALLERS: '400d',
        TESSERA_MAX_CONNECTIONS_PER_ADDRESS: '50',
        TESSERA_HANDSHAKE_TIMEOUT: '3s',
      },
    });
    assert.equal(config.audit.retention.tokenEvents, 7 * 86_400);
    assert.equal(config.audit.retention.adminEvents, 0);
    assert.equal(config.audit.retention.callers, 400 * 86_400);
    assert.equal(config.connections.maxPerAddress, 50);
    assert.equal(config.connections.handshakeTimeout, 3);
  });

  void it('reports a retention under a day, a per-address cap above the overall one and a zero timeout, all at once', () => {
    const problems = problemsOf({
      env: { TESSERA_AUDIT_RETENTION_SUMMARIES: '1h', TESSERA_MAX_CONNECTIONS: '10', TESSERA_MAX_CONNECTIONS_PER_ADDRESS: '20', TESSERA_HEADERS_TIMEOUT: '0' },
    });
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.match(problems[0]!, /^TESSERA_AUDIT_RETENTION_SUMMARIES: expected a retention of at least 1d, or 0 to keep events forever/);
    assert.match(problems[1]!, /^TESSERA_HEADERS_TIMEOUT: expected a duration of at least 1s/);
    assert.match(problems[2]!, /connections\.maxPerAddress is 20 but connections\.max is 10/);
  });
});

void describe('loadConfig workers', () => {
  const expected = (got: string): string => `expected "auto" (one worker process per core) or a whole number of worker processes from 1 to 256, got ${got}`;

  void it('defaults to one worker per core', () => {
    assert.equal(load().workers, Math.min(availableParallelism(), 256));
    assert.equal(load({ flags: { workers: 'auto' } }).workers, Math.min(availableParallelism(), 256));
  });

  void it('reads a number from --workers, TESSERA_WORKERS and the config file, flag first', () => {
    const file = configFile({ workers: 3 });
    assert.equal(load({ flags: { config: file } }).workers, 3);
    assert.equal(load({ flags: { config: file }, env: { TESSERA_WORKERS: '1' } }).workers, 1);
    assert.equal(load({ flags: { config: file, workers: '4' }, env: { TESSERA_WORKERS: '1' } }).workers, 4);
  });

  for (const value of ['0', '-1', 'abc', '10000', '1.5', '', ' 2']) {
    void it(`rejects --workers ${JSON.stringify(value)}`, () => {
      assert.equal(problemOf({ flags: { workers: value } }), `--workers: ${expected(JSON.stringify(value))}`);
    });
  }

  void it('names the variable or the file key that holds a bad value', () => {
    assert.equal(problemOf({ env: { TESSERA_WORKERS: 'many' } }), `TESSERA_WORKERS: ${expected('"many"')}`);
    const file = configFile({ workers: 0 });
    assert.equal(problemOf({ flags: { config: file } }), `${file}: workers: ${expected('0')}`);
  });
});

void describe('loadConfig workerDistribution', () => {
  const expected = (got: string): string => `expected one of round-robin, by-address, got ${got}`;

  void it('defaults to round-robin', () => {
    assert.equal(load().workerDistribution, 'round-robin');
    assert.equal(load({ env: { TESSERA_TRUSTED_PROXIES: '10.0.0.0/8' } }).workerDistribution, 'round-robin');
  });

  void it('reads by-address from --worker-distribution, TESSERA_WORKER_DISTRIBUTION and the config file, flag first', () => {
    const file = configFile({ workerDistribution: 'by-address' });
    assert.equal(load({ flags: { config: file } }).workerDistribution, 'by-address');
    assert.equal(load({ flags: { config: file }, env: { TESSERA_WORKER_DISTRIBUTION: 'round-robin' } }).workerDistribution, 'round-robin');
    assert.equal(
      load({ flags: { config: file, workerDistribution: 'by-address' }, env: { TESSERA_WORKER_DISTRIBUTION: 'round-robin' } }).workerDistribution,
      'by-address',
    );
  });

  void it('rejects a misspelt value and suggests the one meant', () => {
    assert.equal(problemOf({ flags: { workerDistribution: 'by_address' } }), `--worker-distribution: ${expected('"by_address"')} (did you mean by-address?)`);
    assert.equal(
      problemOf({ env: { TESSERA_WORKER_DISTRIBUTION: 'roundrobin' } }),
      `TESSERA_WORKER_DISTRIBUTION: ${expected('"roundrobin"')} (did you mean round-robin?)`,
    );
  });

  for (const value of ['', 'hash', 'ip', 'random']) {
    void it(`rejects --worker-distribution ${JSON.stringify(value)}`, () => {
      assert.equal(problemOf({ flags: { workerDistribution: value } }), `--worker-distribution: ${expected(JSON.stringify(value))}`);
    });
  }

  void it('names the file key that holds a bad value', () => {
    const file = configFile({ workerDistribution: 2 });
    assert.equal(problemOf({ flags: { config: file } }), `${file}: workerDistribution: ${expected('2')}`);
  });

  void it('refuses by-address together with trustedProxies, naming where each comes from', () => {
    assert.equal(
      problemOf({ flags: { workerDistribution: 'by-address' }, env: { TESSERA_TRUSTED_PROXIES: '10.0.0.0/8' } }),
      "workerDistribution (--worker-distribution) is by-address but trustedProxies is set: behind proxies every connection comes from a proxy's " +
        'address, so by-address would put all traffic on a few workers; use round-robin (the default)',
    );
  });
});

void describe('loadConfig unknown TESSERA_* variables', () => {
  void it('warns of each TESSERA_* variable that is no setting, with the setting it most likely meant', () => {
    const config = load({ cwd: '/srv/app', env: { TESSERA_DATADIR: '/data', TESSERA_LOGLEVEL: 'debug', TESSERA_FROBNICATE: '1' } });
    assert.deepEqual(config.warnings, [
      'TESSERA_DATADIR is not a Tessera setting and is ignored; did you mean TESSERA_DATA_DIR?',
      'TESSERA_FROBNICATE is not a Tessera setting and is ignored (the settings are listed in docs/configuration.md)',
      'TESSERA_LOGLEVEL is not a Tessera setting and is ignored; did you mean TESSERA_LOG_LEVEL?',
    ]);
    // Ignored indeed: the defaults stand.
    assert.equal(config.dataDir, '/srv/app/.tessera');
    assert.equal(config.logLevel, 'info');
  });

  void it("says nothing of settings, of variables the CLI and examples read, or of the test suite's", () => {
    const config = load({
      cwd: '/srv/app',
      env: {
        TESSERA_DATA_DIR: '/data',
        TESSERA_CONFIG: undefined,
        TESSERA_DEBUG: '1',
        TESSERA_CA: 'ca.pem',
        TESSERA_TEST_LOG_DIR: 'x',
        TESSERA_REQUIRE_GO: '1',
        HOME: '/root',
      },
    });
    assert.equal(config.warnings, undefined);
  });
});
