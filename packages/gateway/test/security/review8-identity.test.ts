// Review 8: who the gateway believes is calling. Tokens minted for upstreams replayed as caller
// credentials, tokens for another audience, certificates from untrusted or partner CAs with
// tricky SANs, revoked API keys, and whether one caller can be served another's upstream token.
// Holes are marked HOLE; every other test is an attack the gateway refuses today.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, spawnGateway, startWorld, type RunningGateway, type World } from './review8-world.ts';

describe('review8: caller identity', () => {
  let world: World;
  let gw: RunningGateway;

  before(async () => {
    world = await startWorld();
    gw = await spawnGateway(world.config());
  });
  after(async () => {
    await gw?.stop();
    await world?.close();
  });

  const spiffe = (domain: string, service: string): { cert: string; key: string } =>
    world.certificate(
      world.pki.ca,
      `/CN=${domain}.${service}`,
      `extendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://tessera.local/${domain}/${service}\n`,
    );

  // HOLE: the gateway accepts, as a caller's Bearer token, a token that already carries `act`,
  // including the very token it minted for an upstream. Whoever sees an upstream token (the
  // upstream itself, its logs, an upstream that echoes headers) replays it to the gateway and
  // reaches every other route of that audience as the original caller; the access log names the
  // original caller, hiding who really called.
  it("refuses a Bearer token that already names an actor (the gateway's own upstream token replayed)", async () => {
    const first = await call(gw, world.pki, '/svc/echo-token', { ...spiffe('alpha', 'api') });
    assert.equal(first.status, 200, first.text);
    const upstreamToken = first.text.replace(/^Bearer /, '');
    const claims = JSON.parse(Buffer.from(upstreamToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.deepEqual(claims['act'], { sub: 'edge.gw' });
    const before = world.upstream.seen.length;
    const replay = await call(gw, world.pki, '/svc/orders/1', { headers: { authorization: `Bearer ${upstreamToken}` } });
    assert.equal(replay.status, 401, `the replayed upstream token was accepted: ${replay.status} ${replay.text}`);
    assert.equal(world.upstream.seen.length, before, 'the replayed upstream token reached the upstream');
  });

  it('refuses a Bearer token for another audience (billing token on an orders route), before any exchange', async () => {
    const token = await world.token('alpha.api', 'billing:domain');
    const before = world.upstream.seen.length;
    const res = await call(gw, world.pki, '/svc/1', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 401, res.text);
    assert.equal(res.json.error, 'invalid_token');
    assert.equal(world.upstream.seen.length, before);
  });

  it('refuses a certificate from a CA nobody trusts, even with a SPIFFE name, and does not fall back to anonymous', async () => {
    const cert = world.certificate(world.untrusted.ca, '/CN=carol.api', 'extendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://tessera.local/carol/api\n');
    const res = await call(gw, world.pki, '/svc/1', { ...cert });
    assert.equal(res.status, 401, res.text);
    assert.equal(res.json.error, 'invalid_token');
  });

  it('refuses Tessera-CA certificates with tricky SANs: two URI SANs, another trust domain, an extra path segment, upper case', async () => {
    const cases = [
      'subjectAltName=URI:spiffe://tessera.local/carol/api,URI:spiffe://tessera.local/alpha/api',
      'subjectAltName=URI:spiffe://evil.local/carol/api',
      'subjectAltName=URI:spiffe://tessera.local/carol/api/x',
      'subjectAltName=URI:spiffe://tessera.local/Carol/api',
      'subjectAltName=URI:spiffe://tessera.local.evil/carol/api',
      'subjectAltName=URI:spiffe://tessera.local/carol/api?x=1',
    ];
    for (const san of cases) {
      const res = await call(gw, world.pki, '/svc/admin/x', { ...world.certificate(world.pki.ca, '/CN=carol.api', `extendedKeyUsage=clientAuth\n${san}\n`) });
      assert.equal(res.status, 401, `${san}: ${res.status} ${res.text}`);
    }
  });

  it('refuses a Tessera-CA certificate without the clientAuth extended key usage (a server certificate)', async () => {
    const cert = world.certificate(world.pki.ca, '/CN=carol.api', 'extendedKeyUsage=serverAuth\nsubjectAltName=URI:spiffe://tessera.local/carol/api\n');
    const res = await call(gw, world.pki, '/svc/1', { ...cert });
    assert.equal(res.status, 401, res.text);
  });

  it('never lets a partner CA mint a SPIFFE name (a partner certificate claiming spiffe://tessera.local/carol/api)', async () => {
    const cert = world.certificate(world.partner.ca, '/CN=mallory', 'extendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://tessera.local/carol/api\n');
    const res = await call(gw, world.pki, '/svc/admin/x', { ...cert });
    assert.equal(res.status, 401, res.text);
  });

  it('does not read a SAN whose value embeds ", URI:<mapped SAN>" as the mapped SAN (SAN injection)', async () => {
    const ext =
      'extendedKeyUsage=clientAuth\nsubjectAltName=@alt\n[alt]\nURI.1=https://evil.example/a, URI:https://ci.partner.example/runner, URI:https://evil.example/b\n';
    const res = await call(gw, world.pki, '/svc/1', { ...world.certificate(world.partner.ca, '/CN=mallory', ext) });
    assert.equal(res.status, 401, res.text);
  });

  it('does not map a subject that only contains the mapped one (CN=billing plus more RDNs, or CN=billing in another RDN)', async () => {
    for (const subj of ['/CN=billing/O=Evil', '/O=billing/CN=mallory', '/CN=billing2', '/CN=Billing']) {
      const res = await call(gw, world.pki, '/svc/1', { ...world.certificate(world.partner.ca, subj, 'extendedKeyUsage=clientAuth\n') });
      assert.equal(res.status, 401, `${subj}: ${res.status} ${res.text}`);
    }
    // The real mapping still works (so the refusals above are about the subject, not the CA).
    const ok = await call(gw, world.pki, '/svc/1', { ...world.certificate(world.partner.ca, '/CN=billing', 'extendedKeyUsage=clientAuth\n') });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.principal, 'partner.billing');
  });

  it("does not map a certificate of an untrusted CA that copies a partner's mapped subject", async () => {
    const res = await call(gw, world.pki, '/svc/1', { ...world.certificate(world.untrusted.ca, '/CN=billing', 'extendedKeyUsage=clientAuth\n') });
    assert.equal(res.status, 401, res.text);
  });

  it('never serves one caller the upstream token minted for another (alpha after carol on the same route and scope)', async () => {
    const carol = await call(gw, world.pki, '/svc/admin/1', { ...spiffe('carol', 'api') });
    assert.equal(carol.status, 200, carol.text);
    assert.equal(carol.json.principal, 'carol.api');
    const alpha = await call(gw, world.pki, '/svc/admin/1', { ...spiffe('alpha', 'api') });
    assert.equal(alpha.status, 403, alpha.text);
    const alphaKey = await call(gw, world.pki, '/svc/admin/1', { headers: { authorization: `ApiKey ${world.apiKey}` } });
    assert.equal(alphaKey.status, 403, alphaKey.text);
    const alphaToken = await call(gw, world.pki, '/svc/1', { headers: { authorization: `Bearer ${await world.token('alpha.api', 'orders:domain')}` } });
    assert.equal(alphaToken.json.principal, 'alpha.api');
  });

  it('uses the Authorization header, not a certificate presented beside it, and refuses two Authorization headers', async () => {
    const res = await call(gw, world.pki, '/svc/admin/1', { ...spiffe('carol', 'api'), headers: { authorization: `ApiKey ${world.apiKey}` } });
    assert.equal(res.status, 403, res.text);
    const both = await call(gw, world.pki, '/svc/1', { headers: { authorization: [`ApiKey ${world.apiKey}`, 'Bearer x'] as unknown as string } });
    assert.equal(both.status, 400, both.text);
  });

  it('stops honouring a revoked API key once its cache time (apiKeyCacheTtl: 1) has passed', async () => {
    const created = await world.admin('POST', '/domains/alpha/services/api/api-keys', { audience: 'orders' });
    const key = created.apiKey as string;
    const first = await call(gw, world.pki, '/svc/1', { headers: { authorization: `ApiKey ${key}` } });
    assert.equal(first.status, 200, first.text);
    await world.admin('DELETE', `/domains/alpha/services/api/api-keys/${created.id}`);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const again = await call(gw, world.pki, '/svc/1', { headers: { authorization: `ApiKey ${key}` } });
    assert.equal(again.status, 401, again.text);
  });
});
