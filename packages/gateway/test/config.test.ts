// The config file's checks: every mistake is a GatewayConfigError naming the setting, so a typo
// stops the start (or a reload) instead of opening or closing a route by surprise.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { GatewayConfigError, loadConfig } from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-gateway-config-'));
writeFileSync(join(dir, 'gw.secret'), 'secret\n');
writeFileSync(join(dir, 'empty.secret'), '\n');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON document under test
const base = (): Record<string, any> => ({
  listen: 'http://127.0.0.1:0',
  tessera: { url: 'https://tessera.example:8443', clientId: 'edge.gw', clientSecretFile: 'gw.secret' },
  routes: [{ pathPrefix: '/orders', methods: ['GET'], upstream: 'http://127.0.0.1:7001', audience: 'orders', require: { scope: ['orders:role.readers'] } }],
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const load = (edit: (config: Record<string, any>) => void, env: Record<string, string> = {}) => {
  const config = base();
  edit(config);
  const file = join(dir, 'gateway.json');
  writeFileSync(file, JSON.stringify(config));
  return loadConfig(file, env);
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const refused = (edit: (config: Record<string, any>) => void, pattern: RegExp): void => {
  assert.throws(
    () => load(edit),
    (error: unknown) => error instanceof GatewayConfigError && pattern.test(error.message),
  );
};

describe('gateway config', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the minimal file, with defaults', () => {
    const config = load(() => {});
    assert.equal(config.tessera.tokenEndpoint, 'https://tessera.example:8443/oauth2/token');
    assert.equal(config.tessera.clientSecret, 'secret');
    assert.equal(config.routes[0]!.name, '* /orders');
    assert.deepEqual(config.routes[0]!.require, ['orders:role.readers']);
    assert.equal(config.routes[0]!.timeoutMs, 30_000);
    assert.equal(config.tessera.issuer, 'https://tessera.example:8443');
    assert.equal(config.tessera.jwksUri, 'https://tessera.example:8443/oauth2/keys');
  });

  it('reads stripHeaders names in lower case with underscores as dashes (CGI gives both spellings one variable)', () => {
    assert.deepEqual(load((c) => (c['stripHeaders'] = ['x_remote_groups', 'X-Auth_Role', 'X-Plain'])).stripHeaders, [
      'x-remote-groups',
      'x-auth-role',
      'x-plain',
    ]);
  });

  it('reads tessera.identityRecheck (seconds an upstream token is reused before Tessera checks the caller again)', () => {
    assert.equal(load(() => {}).tessera.identityRecheck, 10);
    assert.equal(load((c) => (c['tessera']['identityRecheck'] = 1)).tessera.identityRecheck, 1);
    assert.equal(load((c) => (c['tessera']['identityRecheck'] = 0)).tessera.identityRecheck, 0);
    assert.equal(load((c) => (c['tessera']['identityRecheck'] = 300)).tessera.identityRecheck, 300);
    for (const bad of [301, -1, '10', null, Number.NaN, true]) {
      refused((c) => (c['tessera']['identityRecheck'] = bad), /^tessera\.identityRecheck must be a number of seconds from 0 to 300/);
    }
  });

  it('takes settings from the environment over the file', () => {
    const config = load(() => {}, { TESSERA_GATEWAY_LISTEN: 'http://127.0.0.1:7777', TESSERA_GATEWAY_CLIENT_ID: 'edge.other' });
    assert.equal(config.listen.port, 7777);
    assert.equal(config.tessera.clientId, 'edge.other');
  });

  it('refuses what would open or blur a route', () => {
    refused((c) => (c.routes = []), /routes" is empty/);
    refused((c) => delete c.routes[0].require, /require is missing/);
    refused((c) => (c.routes[0].require.scope = []), /require.scope is empty/);
    refused((c) => (c.routes[0].require.scope = ['billing:role.readers']), /role of billing, but the route's audience is orders/);
    refused((c) => (c.routes[0].require.scope = ['orders']), /is not "<domain>:role.<role>"/);
    refused((c) => (c.routes[0].pathPrefix = 'orders'), /must start with "\/"/);
    refused((c) => (c.routes[0].pathPrefix = '/orders/../admin'), /plain path/);
    refused((c) => (c.routes[0].pathPrefix = '/orders%2f'), /plain path/);
    refused((c) => (c.routes[0].methods = []), /methods is empty/);
    refused((c) => (c.routes[0].methods = ['*', 'GET']), /"\*" stands alone/);
    refused((c) => (c.routes[0].upstream = 'ftp://x'), /http:\/\/ or https:\/\//);
    refused((c) => (c.routes[0].audience = 'Orders!'), /not a Tessera domain/);
    refused((c) => (c.routes[0].pathprefix = '/x'), /unknown setting "pathprefix"/);
    refused((c) => c.routes.push({ ...c.routes[0] }), /both match GET \/orders/);
  });

  it('reads acceptDelegated (off by default), and refuses one that is malformed or names the gateway itself', () => {
    assert.equal(load(() => {}).routes[0]!.acceptDelegated, undefined);
    const opted = load((c) => (c.routes[0].acceptDelegated = { allowedActors: ['bff.web', 'bff.web'] }));
    assert.deepEqual(opted.routes[0]!.acceptDelegated, { maxDepth: 1, allowedActors: ['bff.web'] });
    assert.equal(load((c) => (c.routes[0].acceptDelegated = { maxDepth: 3, allowedActors: ['bff.web'] })).routes[0]!.acceptDelegated!.maxDepth, 3);
    refused((c) => (c.routes[0].acceptDelegated = true), /acceptDelegated is missing or not an object/);
    refused((c) => (c.routes[0].acceptDelegated = { maxDepth: 1 }), /acceptDelegated.allowedActors is missing/);
    refused((c) => (c.routes[0].acceptDelegated = { allowedActors: [] }), /allowedActors is empty/);
    refused((c) => (c.routes[0].acceptDelegated = { allowedActors: ['bff'] }), /"bff" is not a principal/);
    refused((c) => (c.routes[0].acceptDelegated = { maxDepth: 0, allowedActors: ['bff.web'] }), /maxDepth must be a number from 1 to 8/);
    refused((c) => (c.routes[0].acceptDelegated = { maxDepth: 1.5, allowedActors: ['bff.web'] }), /maxDepth must be a whole number/);
    refused((c) => (c.routes[0].acceptDelegated = { allowedActors: ['bff.web'], actors: [] }), /unknown setting "actors"/);
    refused((c) => (c.routes[0].acceptDelegated = { allowedActors: ['bff.web', 'edge.gw'] }), /names the gateway itself \(edge.gw\)/);
    assert.throws(
      () => load((c) => (c.routes[0].acceptDelegated = { allowedActors: ['edge.other'] }), { TESSERA_GATEWAY_CLIENT_ID: 'edge.other' }),
      /names the gateway itself \(edge.other\)/,
    );
  });

  it('refuses a listener, a Tessera or a secret it cannot use safely', () => {
    refused((c) => (c.listen = 'http://0.0.0.0:9443'), /loopback only/);
    refused((c) => (c.listen = 'https://127.0.0.1:9443'), /give "tls"/);
    refused((c) => (c.tessera.url = 'http://tessera.example'), /must be https/);
    refused((c) => (c.tessera.jwksUri = 'http://keys.example/jwks'), /tessera.jwksUri must be https/);
    refused((c) => (c.tessera.clientSecretFile = 'missing.secret'), /cannot read/);
    refused((c) => (c.tessera.clientSecretFile = 'empty.secret'), /is empty/);
    refused((c) => (c.tessera.clientId = 'gw'), /not a principal/);
    refused((c) => (c.authz = { allowFrom: ['somewhere'] }), /not an IP address/);
    refused((c) => (c.certificateMappings = [{ cas: ['x.pem'], subject: 'CN=a', principal: 'a.b' }]), /not in tls.externalCas/);
    refused((c) => (c.surprise = 1), /unknown setting "surprise"/);
  });
});
