// RFC 8725 §3 attacks against the admin API's own token check (own-token-verifier.ts), plus
// token-type confusion and hostile JSON bodies: black-box over HTTPS against a real server.
// Cases already covered elsewhere are listed in SECURITY.md rather than repeated here.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createPublicKey } from 'node:crypto';
import { SignJWT } from 'jose';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function assertInvalidToken(res: TestResponse): void {
  assert.equal(res.status, 401, res.text);
  assert.equal(res.json.error, 'invalid_token', res.text);
  assert.equal(typeof res.json.message, 'string');
}

describe('attacks on the admin API token check', () => {
  let t: TestServer;
  let root: string;
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  let signature: string;

  before(async () => {
    t = await startTestServer();
    root = await t.adminToken();
    const [h, p, s] = root.split('.') as [string, string, string];
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    signature = s;
  });
  after(() => t.stop());

  it('the genuine admin token works (control)', async () => {
    assert.equal((await t.admin$('GET', '/domains', undefined, root)).status, 200);
  });

  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    it(`401 invalid_token for alg "${alg}", with and without a signature`, async () => {
      const unsigned = `${b64({ ...header, alg })}.${b64(claims)}`;
      assertInvalidToken(await t.admin$('GET', '/domains', undefined, `${unsigned}.`));
      assertInvalidToken(await t.admin$('GET', '/domains', undefined, `${unsigned}.${signature}`));
    });
  }

  it('401 invalid_token for HS256 signed with the published public key (PEM and JWK) as the secret', async () => {
    const jwks = await t.send('/.well-known/jwks.json');
    const jwk = (jwks.json.keys as Array<Record<string, unknown>>).find((k) => k['kid'] === header['kid']) ?? jwks.json.keys[0];
    const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    for (const secret of [pem, JSON.stringify(jwk)]) {
      const forged = await new SignJWT(claims).setProtectedHeader({ ...header, alg: 'HS256' }).sign(new TextEncoder().encode(secret));
      assertInvalidToken(await t.admin$('GET', '/domains', undefined, forged));
    }
  });

  it('401 invalid_token for a psychic ECDSA signature (r = s = 0, raw and DER)', async () => {
    const signingInput = `${b64({ ...header, alg: 'ES256' })}.${b64(claims)}`;
    for (const sig of [Buffer.alloc(64), Buffer.from('3006020100020100', 'hex'), Buffer.alloc(0)]) {
      assertInvalidToken(await t.admin$('GET', '/domains', undefined, `${signingInput}.${sig.toString('base64url')}`));
    }
  });

  it('401 invalid_token for an attacker kid, jku, x5u or embedded jwk header', async () => {
    const [, p, s] = root.split('.') as [string, string, string];
    for (const extra of [
      { kid: '../../../../dev/null' },
      { kid: "' OR 1=1 --" },
      { jku: 'https://127.0.0.1:1/jwks' },
      { x5u: 'https://127.0.0.1:1/cert' },
      { jwk: { kty: 'oct', k: 'AAAA' } },
    ]) {
      assertInvalidToken(await t.admin$('GET', '/domains', undefined, `${b64({ ...header, ...extra })}.${p}.${s}`));
    }
  });

  it('401 invalid_token for a crit header naming an unknown extension', async () => {
    const [, p, s] = root.split('.') as [string, string, string];
    assertInvalidToken(await t.admin$('GET', '/domains', undefined, `${b64({ ...header, crit: ['x-unknown'], 'x-unknown': 1 })}.${p}.${s}`));
  });

  it('401 invalid_token for claims with a duplicate sub appended after signing', async () => {
    const [h, p, s] = root.split('.') as [string, string, string];
    const json = Buffer.from(p, 'base64url').toString('utf8');
    const duplicated = `${json.slice(0, -1)},"sub":"alpha.attacker"}`;
    assertInvalidToken(await t.admin$('GET', '/domains', undefined, `${h}.${Buffer.from(duplicated).toString('base64url')}.${s}`));
  });

  it('401 invalid_token for an ID token presented as an access token', async () => {
    const id = t.admin.clientId;
    const audience = `${id.slice(0, id.lastIndexOf('.'))}:service.${id.slice(id.lastIndexOf('.') + 1)}`;
    const res = await t.token(id, t.admin.clientSecret, { grant_type: 'client_credentials', scope: `openid sys.auth:role.admin ${audience}` });
    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.json.id_token, 'string', 'the server issued an ID token');
    assertInvalidToken(await t.admin$('GET', '/domains', undefined, res.json.id_token));
  });

  it('401 invalid_client when an access token is sent as a client assertion', async () => {
    const res = await t.send('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'sys.auth:role.admin',
        client_id: t.admin.clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: root,
      }).toString(),
    });
    assert.equal(res.status, 401, res.text);
    assert.equal(res.json.error, 'invalid_client', res.text);
    assert.equal(typeof res.json.error_code, 'string');
  });

  it('400 invalid_request (never a 500) for a deeply nested JSON body', async () => {
    const depth = 100_000;
    const res = await t.send('/admin/v1/domains', {
      method: 'POST',
      headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' },
      body: `${'['.repeat(depth)}${']'.repeat(depth)}`,
    });
    assert.ok(res.status === 400 || res.status === 413, res.text);
    assert.equal(res.json.error, 'invalid_request', res.text);
  });

  it('415 or 400 for an admin body with a wrong content type', async () => {
    const res = await t.send('/admin/v1/domains', {
      method: 'POST',
      headers: { authorization: `Bearer ${root}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ name: 'ctype' }),
    });
    assert.ok(res.status === 400 || res.status === 415, res.text);
    assert.equal(typeof res.json.message, 'string', res.text);
  });
});
