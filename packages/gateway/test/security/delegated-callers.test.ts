// Delegated tokens as callers' credentials: a Bearer token that already names an actor (`act`) is
// refused unless the route opts in with `acceptDelegated`, and a chain naming the gateway itself
// (its own upstream tokens, replayed) is refused on every route.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, GATEWAY, spawnGateway, startWorld, type RunningGateway, type World } from './review8-world.ts';

describe('delegated callers', () => {
  let world: World;
  let gw: RunningGateway;
  /** A token for alpha.api that carol.api obtained by token exchange (act: carol.api). */
  let viaCarol: string;

  before(async () => {
    world = await startWorld();
    const members = (...principals: string[]): { principal: string }[] => principals.map((principal) => ({ principal }));
    await world.admin('PUT', '/domains/orders/roles/readers', {
      members: members('alpha.api', 'carol.api', GATEWAY),
      actors: [GATEWAY, 'carol.api'],
    });
    const subject = await world.token('alpha.api', 'orders:domain');
    const exchanged = await world.tessera.token('carol.api', world.secrets['carol.api']!, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subject,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'orders:role.readers',
    });
    assert.equal(exchanged.status, 200, exchanged.text);
    viaCarol = exchanged.json.access_token as string;
    const route = { methods: ['GET'], upstream: world.upstream.url, audience: 'orders', require: { scope: ['orders:role.readers'] } };
    gw = await spawnGateway(
      world.config((c) => {
        c['routes'].push(
          { ...route, name: 'deleg', pathPrefix: '/deleg', acceptDelegated: { allowedActors: ['carol.api'] } },
          { ...route, name: 'deleg-other', pathPrefix: '/deleg-other', acceptDelegated: { maxDepth: 2, allowedActors: ['partner.billing'] } },
        );
      }),
    );
  });
  after(async () => {
    await gw?.stop();
    await world?.close();
  });

  const bearer = (token: string): { headers: Record<string, string> } => ({ headers: { authorization: `Bearer ${token}` } });
  const ownUpstreamToken = async (): Promise<string> => {
    const cert = world.certificate(world.pki.ca, '/CN=alpha.api', 'extendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://tessera.local/alpha/api\n');
    const res = await call(gw, world.pki, '/svc/echo-token', { ...cert });
    assert.equal(res.status, 200, res.text);
    return res.text.replace(/^Bearer /, '');
  };

  it('refuses, by default, a token another service obtained for the caller, saying why (401 invalid_token)', async () => {
    const res = await call(gw, world.pki, '/svc/1', bearer(viaCarol));
    assert.equal(res.status, 401, res.text);
    assert.equal(res.json.error, 'invalid_token');
    assert.match(res.json.error_description, /obtained for the caller by another service \(act: carol\.api\).*acceptDelegated is not set/);
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
  });

  it("names the gateway's own upstream token as such when it is replayed, on a default route and on one accepting delegated callers", async () => {
    const token = await ownUpstreamToken();
    for (const path of ['/svc/1', '/deleg/1']) {
      const before = world.upstream.seen.length;
      const res = await call(gw, world.pki, path, bearer(token));
      assert.equal(res.status, 401, `${path}: ${res.text}`);
      assert.match(res.json.error_description, /obtained through this gateway \(edge\.gw\) for an upstream/, path);
      assert.equal(world.upstream.seen.length, before, path);
    }
  });

  it('accepts a delegated token on a route whose acceptDelegated names its actor, and the upstream sees the whole chain', async () => {
    const res = await call(gw, world.pki, '/deleg/7', bearer(viaCarol));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.principal, 'alpha.api');
    const seen = world.upstream.seen.findLast((s) => s.url === '/deleg/7')!;
    assert.deepEqual(seen.claims?.['act'], { sub: GATEWAY, act: { sub: 'carol.api' } });
  });

  it("refuses a delegated token whose actor the route's acceptDelegated does not name", async () => {
    const res = await call(gw, world.pki, '/deleg-other/7', bearer(viaCarol));
    assert.equal(res.status, 401, res.text);
    assert.match(res.json.error_description, /obtained through 'carol\.api', which may not act for callers of this route/);
  });
});
