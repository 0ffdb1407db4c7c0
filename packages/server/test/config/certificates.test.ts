// The certificate sections of the Config: `ca`, `mtls`, `joinTokens`, `oidcProofs`, `certLogin`.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createCa } from '../../src/ca/create-ca.ts';
import { DEFAULTS, oidcIssuersFor } from '../../src/config/config.ts';
import { configFile, load, problemOf, problemsOf, tempDir } from './helpers.ts';

let caPem: string;
before(async () => {
  caPem = (await createCa({ now: Date.now(), trustDomain: 'partner.test' })).record.rootPem;
});

/** Writes PEM files into a fresh directory; returns the directory. */
function pemDir(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

const OIDC = {
  issuer: 'https://kubernetes.default.svc',
  jwksUri: 'https://kubernetes.default.svc/openid/v1/jwks',
  audience: 'tessera',
  pattern: '^system:serviceaccount:(?<domain>[^:]+):(?<service>[^:]+)$',
};

void describe('certificate settings: defaults', () => {
  void it('a generated CA for tessera.local, no mTLS extras, join tokens of 15 min, no OIDC issuers, certificate login off', () => {
    const config = load();
    assert.deepEqual(config.ca, { ...DEFAULTS.ca, import: null });
    assert.deepEqual(config.ca, {
      trustDomain: 'tessera.local',
      dnsSuffix: 'svc.tessera.local',
      certLifetime: 86_400,
      maxCertLifetime: 604_800,
      prePublication: 86_400,
      import: null,
    });
    assert.deepEqual(config.mtls, { externalCas: [], proxyCertHeader: null });
    assert.deepEqual(config.joinTokens, { defaultTtl: 900, maxTtl: 86_400 });
    assert.deepEqual(config.oidcProofs, []);
    assert.deepEqual(config.certLogin, { enabled: false, requireClientAuthEku: true, trustedCas: [], mappings: [] });
  });
});

void describe('certificate settings: environment', () => {
  void it('reads every TESSERA_* variable of the CA, mTLS, join tokens and certificate login', () => {
    const dir = pemDir({ 'a.pem': caPem, 'b.pem': caPem });
    const config = load({
      cwd: dir,
      env: {
        TESSERA_TRUST_DOMAIN: 'prod.example',
        TESSERA_CA_DNS_SUFFIX: 'SVC.Prod.Example',
        TESSERA_CA_CERT_LIFETIME: '12h',
        TESSERA_CA_MAX_CERT_LIFETIME: '2d',
        TESSERA_CA_PRE_PUBLICATION: '6h',
        TESSERA_CA_KEY_FILE: 'ca.key',
        TESSERA_CA_CHAIN_FILE: '/etc/tessera/chain.pem',
        TESSERA_MTLS_EXTERNAL_CAS: 'a.pem, b.pem',
        TESSERA_MTLS_PROXY_CERT_HEADER: 'X-SSL-Client-Cert',
        TESSERA_TRUSTED_PROXIES: '10.0.0.0/8',
        TESSERA_JOIN_TOKEN_TTL: '5m',
        TESSERA_JOIN_TOKEN_MAX_TTL: '1h',
        TESSERA_CERT_LOGIN: 'true',
      },
    });
    assert.deepEqual(config.ca, {
      trustDomain: 'prod.example',
      dnsSuffix: 'svc.prod.example',
      certLifetime: 43_200,
      maxCertLifetime: 172_800,
      prePublication: 21_600,
      import: { keyFile: join(dir, 'ca.key'), chainFile: '/etc/tessera/chain.pem' },
    });
    assert.deepEqual(config.mtls, { externalCas: [join(dir, 'a.pem'), join(dir, 'b.pem')], proxyCertHeader: 'x-ssl-client-cert' });
    assert.deepEqual(config.joinTokens, { defaultTtl: 300, maxTtl: 3600 });
    assert.equal(config.certLogin.enabled, true);
  });
});

void describe('certificate settings: config file', () => {
  void it('reads every section, with paths relative to the file and lists of objects', () => {
    const dir = pemDir({ 'partner.pem': caPem });
    const file = join(dir, 'tessera.json');
    writeFileSync(
      file,
      JSON.stringify({
        ca: { trustDomain: 'corp.test', certLifetime: '1h', import: { keyFile: 'keys/ca.key', chainFile: 'keys/chain.pem' } },
        mtls: { externalCas: ['partner.pem'] },
        joinTokens: { defaultTtl: 60 },
        oidcProofs: [
          OIDC,
          {
            issuer: 'https://idp.example',
            jwksUri: 'http://idp.internal/jwks',
            audience: 'tessera',
            claim: 'email',
            principals: { 'ci@example.com': 'ci.runner' },
          },
        ],
        certLogin: {
          enabled: true,
          requireClientAuthEku: false,
          trustedCas: ['partner.pem'],
          mappings: [
            { subject: 'CN=gateway,O=Partner', principal: 'partner.gateway', cas: ['partner.pem'] },
            { fingerprint: `${'AB:'.repeat(31)}AB`, principal: 'partner.batch', cas: ['partner.pem', './partner.pem'] },
          ],
        },
      }),
    );
    const config = load({ flags: { config: file } });
    assert.equal(config.ca.trustDomain, 'corp.test');
    assert.equal(config.ca.certLifetime, 3600);
    assert.deepEqual(config.ca.import, { keyFile: join(dir, 'keys/ca.key'), chainFile: join(dir, 'keys/chain.pem') });
    assert.deepEqual(config.mtls.externalCas, [join(dir, 'partner.pem')]);
    assert.deepEqual(config.joinTokens, { defaultTtl: 60, maxTtl: 86_400 });
    assert.deepEqual(config.oidcProofs, [
      { ...OIDC, claim: 'sub' },
      {
        issuer: 'https://idp.example',
        jwksUri: 'http://idp.internal/jwks',
        audience: 'tessera',
        claim: 'email',
        principals: { 'ci@example.com': 'ci.runner' },
      },
    ]);
    assert.deepEqual(config.certLogin, {
      enabled: true,
      requireClientAuthEku: false,
      trustedCas: [join(dir, 'partner.pem')],
      mappings: [
        { cas: [join(dir, 'partner.pem')], subject: 'CN=gateway,O=Partner', principal: 'partner.gateway' },
        { cas: [join(dir, 'partner.pem')], fingerprint: 'ab'.repeat(32), principal: 'partner.batch' },
      ],
    });
  });

  void it('suggests the right name for a misspelt CA setting', () => {
    assert.match(
      problemOf({ flags: { config: configFile({ ca: { trustDomian: 'x.test' } }) } }),
      /unknown setting "ca\.trustDomian" \(did you mean "ca\.trustDomain"\?\)/,
    );
  });
});

void describe('certificate settings: problems', () => {
  const env = (variables: Record<string, string>): string => problemOf({ env: variables });

  void it('a trust domain or DNS suffix that cannot be in a certificate', () => {
    assert.equal(
      env({ TESSERA_TRUST_DOMAIN: 'Tessera Local' }),
      "TESSERA_TRUST_DOMAIN: expected a SPIFFE trust domain (lower-case letters, digits, '.', '-' and '_'), e.g. \"tessera.local\", got \"Tessera Local\"",
    );
    assert.match(env({ TESSERA_CA_DNS_SUFFIX: 'svc..local' }), /^TESSERA_CA_DNS_SUFFIX: expected a DNS name such as "svc\.tessera\.local"/);
    assert.match(env({ TESSERA_CA_DNS_SUFFIX: 'svc.local.' }), /no trailing dot\), got "svc\.local\."/);
  });

  void it('certificate lifetimes out of range, or a default longer than the maximum', () => {
    assert.match(env({ TESSERA_CA_CERT_LIFETIME: '30s' }), /^TESSERA_CA_CERT_LIFETIME: expected a duration of at least 1m, got "30s"/);
    assert.match(env({ TESSERA_CA_MAX_CERT_LIFETIME: '400d' }), /at most 365d \(service certificates are short-lived and renewed\)/);
    assert.equal(
      env({ TESSERA_CA_CERT_LIFETIME: '3d', TESSERA_CA_MAX_CERT_LIFETIME: '2d' }),
      'ca.certLifetime (TESSERA_CA_CERT_LIFETIME) is 3d but ca.maxCertLifetime (TESSERA_CA_MAX_CERT_LIFETIME) is 2d: the default certificate lifetime cannot exceed the maximum',
    );
  });

  void it('a CA pre-publication shorter than the check interval', () => {
    assert.match(
      env({ TESSERA_CA_PRE_PUBLICATION: '10s', TESSERA_SIGNING_CHECK_INTERVAL: '1m' }),
      /^ca\.prePublication \(TESSERA_CA_PRE_PUBLICATION\) is 10s but must be at least signing\.checkInterval \(1m\): instances load a new CA up to one check interval late/,
    );
  });

  void it('an imported CA with only its key or only its chain', () => {
    assert.equal(
      env({ TESSERA_CA_KEY_FILE: '/k.pem' }),
      'ca.import.keyFile (TESSERA_CA_KEY_FILE) is set but ca.import.chainFile (TESSERA_CA_CHAIN_FILE) is not: an imported CA needs both its private key and its certificate chain; set both, or neither to use the generated CA',
    );
    assert.match(
      env({ TESSERA_CA_CHAIN_FILE: '/c.pem' }),
      /^ca\.import\.chainFile \(TESSERA_CA_CHAIN_FILE\) is set but ca\.import\.keyFile \(TESSERA_CA_KEY_FILE\) is not/,
    );
    assert.match(
      problemOf({ flags: { config: configFile({ ca: { import: { keyFile: '', chainFile: 'c.pem' } } }) } }),
      /ca\.import\.keyFile: expected a file system path, got ""/,
    );
  });

  void it('external CA files that are missing, hold no certificate or do not parse', () => {
    const dir = pemDir({ 'empty.pem': 'nothing', 'broken.pem': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'good.pem': caPem });
    const problem = problemOf({ cwd: dir, env: { TESSERA_MTLS_EXTERNAL_CAS: 'good.pem,missing.pem,empty.pem,broken.pem' } });
    assert.equal(
      problem,
      `TESSERA_MTLS_EXTERNAL_CAS: cannot read ${join(dir, 'missing.pem')}: no such file; ${join(dir, 'empty.pem')} holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); ${join(dir, 'broken.pem')}: certificate 1 does not parse`,
    );
    assert.match(
      problemOf({ flags: { config: configFile({ certLogin: { trustedCas: [5] } }) } }),
      /certLogin\.trustedCas: expected PEM files of CA certificates/,
    );
  });

  void it('a proxy certificate header that is no header name, or is set without trusted proxies', () => {
    assert.match(
      env({ TESSERA_MTLS_PROXY_CERT_HEADER: 'x ssl', TESSERA_TRUSTED_PROXIES: '10.0.0.1/32' }),
      /expected an HTTP header name such as "x-ssl-client-cert", got "x ssl"/,
    );
    assert.equal(
      env({ TESSERA_MTLS_PROXY_CERT_HEADER: 'x-ssl-client-cert' }),
      'TESSERA_MTLS_PROXY_CERT_HEADER: a client certificate in a header is believed only from the proxies in trustedProxies (TESSERA_TRUSTED_PROXIES), which is empty; set it to the proxy addresses, or unset the header',
    );
  });

  void it('join-token lifetimes and the certificate-login switch', () => {
    assert.match(
      env({ TESSERA_JOIN_TOKEN_TTL: '2d' }),
      /joinTokens\.defaultTtl \(TESSERA_JOIN_TOKEN_TTL\) is 2d but joinTokens\.maxTtl \(default\) is 1d: the default join-token lifetime cannot exceed the maximum/,
    );
    assert.match(env({ TESSERA_JOIN_TOKEN_MAX_TTL: 'forever' }), /^TESSERA_JOIN_TOKEN_MAX_TTL: expected a duration/);
    assert.equal(env({ TESSERA_CERT_LOGIN: 'maybe' }), 'TESSERA_CERT_LOGIN: expected true or false, got "maybe"');
  });

  void it('OIDC issuers: every field checked, every problem named with its index', () => {
    const fileProblem = (oidcProofs: unknown): string => problemOf({ flags: { config: configFile({ oidcProofs }) } });
    assert.match(fileProblem({ issuer: 'x' }), /oidcProofs: expected a list of OIDC issuers/);
    const problem = fileProblem([
      { ...OIDC, issuer: 'http://insecure.example' },
      { ...OIDC, jwksUri: 'ftp://x', audience: '' },
      { ...OIDC, pattern: '^(?<domain>[^:]+$' },
      { ...OIDC, pattern: '^(?<ns>[^:]+):(?<service>.+)$' },
      { issuer: 'https://a.example', jwksUri: 'https://a.example/jwks', audience: 'x' },
      { ...OIDC, pattern: undefined, principals: { a: 'Not A Principal' } },
      { ...OIDC, audiance: 'x' },
      'text',
    ]);
    for (const expected of [
      '[0].issuer: expected an https:// URL, got "http://insecure.example"',
      '[1].jwksUri: expected an https:// or http:// URL, got "ftp://x"',
      '[1].audience: expected the audience the tokens carry, got ""',
      '[2].pattern: does not compile',
      '[3].pattern: needs the named group(s) (?<domain>…)',
      '[4]: give "pattern" (a regular expression with named groups domain and service) or "principals"',
      '[5].principals["a"]: expected a principal name',
      '[6]: unknown field "audiance" (did you mean "audience"?)',
      '[7]: expected an object, got "text"',
    ]) {
      assert.ok(problem.includes(expected), `missing ${JSON.stringify(expected)} in:\n${problem}`);
    }
    assert.match(fileProblem([OIDC, OIDC]), /\[1\]\.issuer: https:\/\/kubernetes\.default\.svc is listed twice; merge the two entries/);
  });

  void it('OIDC issuers for client assertions: uses, replay and maxLifetime read, certificates only by default', () => {
    const config = load({
      flags: {
        config: configFile({
          oidcProofs: [
            { ...OIDC, uses: ['certificates', 'client-assertions'], replay: 'token-hash', maxLifetime: '10m' },
            { ...OIDC, issuer: 'https://ci.example', uses: ['client-assertions'] },
            { ...OIDC, issuer: 'https://certs.example' },
          ],
        }),
      },
    });
    assert.deepEqual(
      config.oidcProofs.map(({ issuer, uses, replay, maxLifetime }) => ({ issuer, uses, replay, maxLifetime })),
      [
        { issuer: OIDC.issuer, uses: ['certificates', 'client-assertions'], replay: 'token-hash', maxLifetime: 600 },
        { issuer: 'https://ci.example', uses: ['client-assertions'], replay: undefined, maxLifetime: undefined },
        { issuer: 'https://certs.example', uses: undefined, replay: undefined, maxLifetime: undefined },
      ],
    );
    assert.deepEqual(
      oidcIssuersFor(config.oidcProofs, 'client-assertions').map(({ issuer }) => issuer),
      [OIDC.issuer, 'https://ci.example'],
    );
    assert.deepEqual(
      oidcIssuersFor(config.oidcProofs, 'certificates').map(({ issuer }) => issuer),
      [OIDC.issuer, 'https://certs.example'],
    );
  });

  void it('OIDC issuers for client assertions: every problem named', () => {
    const fileProblem = (oidcProofs: unknown): string => problemOf({ flags: { config: configFile({ oidcProofs }) } });
    const clients = ['client-assertions'];
    const problem = fileProblem([
      { ...OIDC, uses: [] },
      { ...OIDC, issuer: 'https://b.example', uses: ['client-assertion'] },
      { ...OIDC, issuer: 'https://c.example', uses: ['certificates', 'certificates'] },
      { ...OIDC, issuer: 'https://d.example', uses: clients, replay: 'none' },
      { ...OIDC, issuer: 'https://e.example', uses: clients, maxLifetime: '2d' },
      { ...OIDC, issuer: 'https://f.example', uses: clients, maxLifetime: 'an hour' },
      { ...OIDC, issuer: 'https://g.example', replay: 'jti', maxLifetime: '5m' },
      { ...OIDC, issuer: 'https://h.example', use: clients },
    ]);
    for (const expected of [
      '[0].uses: expected a non-empty list of distinct uses out of "certificates", "client-assertions"',
      '[1].uses: expected a non-empty list of distinct uses',
      '[2].uses: expected a non-empty list of distinct uses',
      '[3].replay: expected "jti" or "token-hash", got "none"',
      '[4].maxLifetime: expected a duration of at most 1d (a client assertion is a short-lived credential), got "2d"',
      '[5].maxLifetime: expected a duration',
      '[6].replay: applies to client assertions only; add "client-assertions" to "uses", or remove replay',
      '[6].maxLifetime: applies to client assertions only',
      '[7]: unknown field "use" (did you mean "uses"?)',
    ]) {
      assert.ok(problem.includes(expected), `missing ${JSON.stringify(expected)} in:\n${problem}`);
    }
  });

  void it('certificate-login mappings: a principal and at least one thing to match by', () => {
    const problem = problemOf({
      flags: {
        config: configFile({
          certLogin: {
            mappings: [
              { subject: 'CN=x', cas: ['/x.pem'] },
              { principal: 'alpha.api', cas: ['/x.pem'] },
              { fingerprint: 'abc', principal: 'alpha.api', cas: ['/x.pem'] },
              { san: 'x', principal: 'alpha.api', fingerprnt: 'x', cas: ['/x.pem'] },
            ],
          },
        }),
      },
    });
    for (const expected of [
      '[0].principal: expected a principal name',
      '[1]: give at least one of "subject", "san" or "fingerprint" to match certificates by',
      '[2].fingerprint: expected the SHA-256 fingerprint in hex (64 digits, colons allowed), got "abc"',
      '[3]: unknown field "fingerprnt" (did you mean "fingerprint"?)',
    ]) {
      assert.ok(problem.includes(expected), `missing ${JSON.stringify(expected)} in:\n${problem}`);
    }
  });

  void it('reports the certificate problems together with every other one', () => {
    const problems = problemsOf({ env: { TESSERA_TRUST_DOMAIN: 'A B', TESSERA_CA_KEY_FILE: 'k', TESSERA_LOG_LEVEL: 'loud' } });
    assert.deepEqual(
      problems.map((problem) => problem.split(':')[0]),
      ['TESSERA_LOG_LEVEL', 'TESSERA_TRUST_DOMAIN', 'ca.import.keyFile (TESSERA_CA_KEY_FILE) is set but ca.import.chainFile (TESSERA_CA_CHAIN_FILE) is not'],
    );
  });

  void it('certificate-login mappings: each names the CA files it maps, from mtls.externalCas or certLogin.trustedCas', () => {
    const dir = pemDir({ 'partner.pem': caPem, 'login.pem': caPem, 'stray.pem': caPem });
    const fileProblem = (mappings: unknown[]): string =>
      problemOf({
        flags: { config: configFile({ mtls: { externalCas: [join(dir, 'partner.pem')] }, certLogin: { trustedCas: [join(dir, 'login.pem')], mappings } }) },
      });
    const missing = fileProblem([{ san: 'jobs.example.com', principal: 'alpha.jobs' }]);
    assert.match(
      missing,
      /\[0\]: name the CA files whose certificates this rule maps: add "cas": \[\.\.\.\] with files from mtls.externalCas \(the token endpoint\) or certLogin.trustedCas \(certificate login\)/,
    );
    assert.match(
      fileProblem([{ san: 'x', principal: 'alpha.jobs', cas: [] }]),
      /\[0\]\.cas: expected a non-empty list of CA files such as \["\/etc\/tessera\/partner-ca.pem"\], got an array/,
    );
    const stray = fileProblem([{ san: 'x', principal: 'alpha.jobs', cas: [join(dir, 'login.pem'), join(dir, 'stray.pem')] }]);
    assert.match(
      stray,
      /certLogin\.mappings\[0\]\.cas names .*stray\.pem, which is not a file of mtls\.externalCas or certLogin\.trustedCas; a mapping applies only to certificates of a CA trusted there/,
    );
    assert.doesNotMatch(stray, /login\.pem, which/);
  });
});
