// The CA holds a service to the same standing as the token endpoint does: a service whose
// `allowedIps` leave out the caller's address gets no certificate, whichever way the request
// proves who it is (join token, registered key, renewal over mutual TLS, EST enroll and
// re-enroll). Otherwise a stolen key or certificate, used from anywhere, mints identities that
// peers accept without asking Tessera. Enrollment also spends the per-address rate limit.
// Every request here comes from 127.0.0.1.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { csrFor, keyAssertion, sendMtls, serviceKey, type ServiceKey } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const ELSEWHERE = ['10.9.9.0/24', '2001:db8::/32'];
const LOOPBACK = ['10.9.9.0/24', '127.0.0.0/8'];

function assertOutsideRanges(res: TestResponse, principal: string): void {
  assert.equal(res.status, 403, res.text);
  assert.equal(res.json.error, 'forbidden', res.text);
  assert.match(res.json.message, new RegExp(`127\\.0\\.0\\.1 is not in the allowed IP ranges of ${principal.replace('.', '\\.')}`));
  assert.doesNotMatch(res.json.message, /10\.9\.9\.0/, "the message does not map the service's network");
}

/** EST's body: the CSR as bare base64 DER. */
const base64Der = (pem: string): string => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');

describe('the CA refuses a service calling from outside its allowedIps', () => {
  let t: TestServer;
  let adminToken: string;
  let audience: string;
  let registered: ServiceKey;

  const admin = (method: string, path: string, body?: unknown): Promise<TestResponse> => t.admin$(method, path, body, adminToken);
  const setRanges = async (service: string, allowedIps: string[]): Promise<void> => {
    assert.equal((await admin('PATCH', `/domains/alpha/services/${service}`, { allowedIps })).status, 200);
  };
  const joinToken = async (principal: string): Promise<string> => {
    const res = await admin('POST', '/join-tokens', { principal });
    assert.equal(res.status, 201, res.text);
    return res.json.token as string;
  };
  const certificates = (body: unknown): Promise<TestResponse> =>
    t.send('/ca/v1/certificates', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const withJoinToken = async (principal: string, key?: ServiceKey): Promise<TestResponse> =>
    certificates({ csr: await csrFor(key ?? (await serviceKey())), proof: { type: 'join-token', value: await joinToken(principal) } });
  const withKeyAssertion = async (): Promise<TestResponse> =>
    certificates({ csr: await csrFor(registered), proof: { type: 'key-assertion', value: await keyAssertion(registered, 'alpha.keyed', audience) } });
  const estEnroll = async (principal: string): Promise<TestResponse> =>
    t.send('/.well-known/est/simpleenroll', {
      method: 'POST',
      headers: { 'content-type': 'application/pkcs10', authorization: `Bearer ${await joinToken(principal)}` },
      body: base64Der(await csrFor(await serviceKey())),
    });
  /** A certificate for `principal` (enrolled while its ranges allow the caller), and its key. */
  const held = async (principal: string): Promise<{ key: ServiceKey; certificate: string }> => {
    const key = await serviceKey();
    const res = await withJoinToken(principal, key);
    assert.equal(res.status, 201, res.text);
    return { key, certificate: res.json.certificate as string };
  };
  const renewJson = async (holding: { key: ServiceKey; certificate: string }) =>
    sendMtls(`${t.url}/ca/v1/certificates`, {
      ca: t.ca,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(await serviceKey()) }),
      cert: holding.certificate,
      key: holding.key.privatePem,
    });
  const reenrollEst = async (holding: { key: ServiceKey; certificate: string }) =>
    sendMtls(`${t.url}/.well-known/est/simplereenroll`, {
      ca: t.ca,
      method: 'POST',
      headers: { 'content-type': 'application/pkcs10' },
      body: base64Der(await csrFor(await serviceKey())),
      cert: holding.certificate,
      key: holding.key.privatePem,
    });

  before(async () => {
    registered = await serviceKey();
    t = await startTestServer();
    adminToken = await t.adminToken();
    audience = `${t.url}/ca/v1/certificates`;
    assert.equal((await admin('POST', '/domains', { name: 'alpha' })).status, 201);
    for (const name of ['api', 'renewer', 'est']) assert.equal((await admin('POST', '/domains/alpha/services', { name })).status, 201);
    const publicKeys = [{ kid: 'k1', pem: registered.publicPem }];
    assert.equal((await admin('POST', '/domains/alpha/services', { name: 'keyed', publicKeys })).status, 201);
  });
  after(() => t.stop());

  it('the token endpoint and the CA give the same answer: AUTH_104 there, 403 forbidden here', async () => {
    const created = await admin('POST', '/domains/alpha/services/api/secrets', {});
    assert.equal(created.status, 201, created.text);
    await setRanges('api', ELSEWHERE);
    const token = await t.token('alpha.api', created.json.clientSecret, { grant_type: 'client_credentials' });
    assert.equal(token.status, 403, token.text);
    assert.equal(token.json.error_code, 'AUTH_104');
    assertOutsideRanges(await withJoinToken('alpha.api'), 'alpha.api');
  });

  it('refuses a join token (403) and issues once the ranges include the caller', async () => {
    await setRanges('api', ELSEWHERE);
    assertOutsideRanges(await withJoinToken('alpha.api'), 'alpha.api');
    await setRanges('api', LOOPBACK);
    const res = await withJoinToken('alpha.api');
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.principal, 'alpha.api');
  });

  it('refuses a key assertion by a registered key (403) and issues once the ranges include the caller', async () => {
    await setRanges('keyed', ELSEWHERE);
    assertOutsideRanges(await withKeyAssertion(), 'alpha.keyed');
    await setRanges('keyed', LOOPBACK);
    assert.equal((await withKeyAssertion()).status, 201);
  });

  it('refuses renewal over mutual TLS (403) and renews once the ranges include the caller', async () => {
    await setRanges('renewer', []);
    const holding = await held('alpha.renewer');
    await setRanges('renewer', ELSEWHERE);
    assertOutsideRanges(await renewJson(holding), 'alpha.renewer');
    await setRanges('renewer', LOOPBACK);
    const res = await renewJson(holding);
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.principal, 'alpha.renewer');
  });

  it('refuses EST simpleenroll (403) and enrolls once the ranges include the caller', async () => {
    await setRanges('est', ELSEWHERE);
    assertOutsideRanges(await estEnroll('alpha.est'), 'alpha.est');
    await setRanges('est', LOOPBACK);
    const res = await estEnroll('alpha.est');
    assert.equal(res.status, 200, res.text);
    assert.match(String(res.headers['content-type']), /application\/pkcs7-mime/);
  });

  it('refuses EST simplereenroll (403) and re-enrolls once the ranges include the caller', async () => {
    await setRanges('est', []);
    const holding = await held('alpha.est');
    await setRanges('est', ELSEWHERE);
    assertOutsideRanges(await reenrollEst(holding), 'alpha.est');
    await setRanges('est', LOOPBACK);
    assert.equal((await reenrollEst(holding)).status, 200);
  });
});

describe('the CA behind the per-address rate limit', () => {
  let t: TestServer;
  let adminToken: string;

  before(async () => {
    // The address budget is one for the token endpoint and the CA: the admin token spends one.
    t = await startTestServer({ edit: (config) => void (config.rateLimits.ip = { rate: 1, burst: 3 }) });
    adminToken = await t.adminToken();
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' }, adminToken)).status, 201);
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'api' }, adminToken)).status, 201);
  });
  after(() => t.stop());

  it('answers 429 rate_limited with Retry-After before the proof runs, so the join token is not spent', async () => {
    const token = await t.admin$('POST', '/join-tokens', { principal: 'alpha.api' }, adminToken);
    assert.equal(token.status, 201, token.text);
    const csr = await csrFor(await serviceKey());
    const body = JSON.stringify({ csr, proof: { type: 'join-token', value: token.json.token } });
    const post = (): Promise<TestResponse> => t.send('/ca/v1/certificates', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const bogus = JSON.stringify({ csr, proof: { type: 'join-token', value: 'tsj_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } });
    let limited: TestResponse | undefined;
    for (let i = 0; i < 5 && limited === undefined; i += 1) {
      const res = await t.send('/ca/v1/certificates', { method: 'POST', headers: { 'content-type': 'application/json' }, body: bogus });
      if (res.status === 429) limited = res;
      else assert.equal(res.status, 401, res.text);
    }
    assert.ok(limited, 'the CA answered 429 within five requests');
    assert.equal(limited.json.error, 'rate_limited', limited.text);
    assert.match(limited.json.message, /too many requests for address 127\.0\.0\.1 \(at most 1 per second, bursts of 3\); retry after 1 s/);
    assert.equal(limited.headers['retry-after'], '1');

    const refused = await post();
    assert.equal(refused.status, 429, refused.text);
    const est = await t.send('/.well-known/est/simpleenroll', {
      method: 'POST',
      headers: { 'content-type': 'application/pkcs10', authorization: `Bearer ${token.json.token}` },
      body: base64Der(csr),
    });
    assert.equal(est.status, 429, est.text);
    assert.equal(est.headers['retry-after'], '1');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const issued = await post();
    assert.equal(issued.status, 201, `the refused requests did not spend the join token: ${issued.text}`);
  });
});
