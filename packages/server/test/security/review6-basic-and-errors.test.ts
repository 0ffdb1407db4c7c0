// Review 6 (outside attacker): Basic credentials now parsed in one module (http/authorization.ts)
// and every error answered through one mapping with a dialect per API. The attacker sends odd
// Basic headers (NUL, %3A, '+', UTF-8, invalid UTF-8, bad percent-encoding, empty parts, odd
// scheme case) to the endpoints that read them, looking for endpoints that disagree, a 5xx, a
// stack trace or internal message, or an answer that lost its challenge or `no-store`. Each test
// FAILS while the hole it names exists.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import type { TestResponse } from '@tessera/testkit/https';
import { csr, newKeys } from '../e2e/mtls-support.ts';

const TOKEN = { grant_type: 'client_credentials', scope: 'beta:domain' };
const FORM = 'application/x-www-form-urlencoded';
const BASIC_CHALLENGE = 'Basic realm="tessera", charset="UTF-8"';
const raw = (text: string | Buffer, scheme = 'Basic'): string => `${scheme} ${Buffer.from(text).toString('base64')}`;

/** Nothing internal in an error body: no stack frame, no source path, no 5xx. */
function assertClean(res: TestResponse, label: string): void {
  assert.ok(res.status < 500, `${label}: ${res.status} ${res.text}`);
  assert.doesNotMatch(res.text, /\bat [^ ]+ \(|\.ts:\d+|node:internal|node_modules|Error: /, `${label}: the body leaks internals: ${res.text}`);
}

describe('review6: Basic credentials and error answers', () => {
  let t: TestServer;
  let secret = '';
  let oddSecret = '';

  before(async () => {
    t = await startTestServer({ edit: (config) => void (config.certLogin.enabled = true) });
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const other = await t.admin$('POST', '/domains/alpha/services', { name: 'other', secret: true });
    assert.equal(other.status, 201, other.text);
    secret = other.json.clientSecret as string;
    const odd = await t.admin$('POST', '/domains/alpha/services', { name: 'odd', secret: true });
    oddSecret = odd.json.clientSecret as string;
    const members = ['other', 'odd'].map((name) => ({ principal: `alpha.${name}` }));
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members })).status, 201);
  });
  after(() => t.stop());

  const post = (path: string, authorization: string, form: Record<string, string> = {}): Promise<TestResponse> => {
    const body = path === '/oauth2/token' ? { ...TOKEN, ...form } : path === '/auth/x509/login' ? { scope: TOKEN.scope, ...form } : { token: 'x', ...form };
    return t.send(path, { method: 'POST', headers: { 'content-type': FORM, authorization }, body: new URLSearchParams(body).toString() });
  };
  const PATHS = ['/oauth2/token', '/oauth2/introspect', '/oauth2/revoke', '/auth/x509/login'];

  it('every endpoint that takes client_secret_basic reads the same header the same way', async () => {
    const headers: [string, string][] = [
      ['form-encoded id and secret', basic('alpha.other', secret)],
      ['percent-encoded dot in the id', raw(`alpha%2Eother:${secret}`)],
      ['scheme in upper case', raw(`alpha.other:${secret}`, 'BASIC')],
      ['scheme in lower case', raw(`alpha.other:${secret}`, 'basic')],
      ['NUL in the id', raw(`alpha.other%00:${secret}`)],
      ['raw NUL in the id', raw(`alpha.other\0:${secret}`)],
      ['%3A in the id', raw(`alpha%3Aother:${secret}`)],
      ['+ in the id', raw(`alpha+other:${secret}`)],
      ['UTF-8 in the id', raw(`alpha.%C3%B6ther:${secret}`)],
      ['invalid UTF-8', `Basic ${Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`:${secret}`)]).toString('base64')}`],
      ['bad percent-encoding', raw(`alpha%ZZ:${secret}`)],
      ['empty password', raw('alpha.other:')],
      ['empty user', raw(`:${secret}`)],
      ['no colon', raw('alpha.other')],
      ['empty credentials', 'Basic '],
      ['not base64', 'Basic !!!!'],
    ];
    for (const [label, authorization] of headers) {
      const answers: string[] = [];
      for (const path of PATHS) {
        const res = await post(path, authorization);
        assertClean(res, `${path}, ${label}`);
        assert.equal(res.headers['cache-control'], 'no-store', `${path}, ${label}: ${res.status}`);
        if (res.status === 401 && /^basic /i.test(authorization.trim())) {
          assert.equal(res.headers['www-authenticate'], BASIC_CHALLENGE, `${path}, ${label}: a 401 to a Basic client without the challenge`);
        }
        answers.push(`${res.status} ${res.status === 200 ? 'ok' : String(res.json.error)}`);
      }
      const valid = ['form-encoded id and secret', 'percent-encoded dot in the id', 'scheme in upper case', 'scheme in lower case'].includes(label);
      assert.equal(answers[0], valid ? '200 ok' : answers[0] === '400 invalid_request' ? answers[0] : '401 invalid_client', `${label}: ${answers[0]}`);
      assert.equal(new Set(answers).size, 1, `${label}: the endpoints disagree on one header: ${PATHS.map((p, i) => `${p} ${answers[i]}`).join(', ')}`);
    }
  });

  it('the Basic user is the client: a form-encoded ":" or "+" never splits or shifts credentials onto another client', async () => {
    // alpha.other's secret, with the id spelled so a double decoding or a split at an encoded colon would reach alpha.other.
    for (const user of ['alpha.other%253A', 'alpha%252Eother', 'alpha.other%3Ax']) {
      const res = await post('/oauth2/token', raw(`${user}:${secret}`));
      assert.equal(res.status, 401, `${user}: ${res.text}`);
    }
    // A secret holding ':' after the first colon belongs to the password, and the odd client's secret does not open alpha.other.
    assert.equal((await post('/oauth2/token', raw(`alpha.other:${oddSecret}`))).status, 401);
    assert.equal((await post('/oauth2/token', raw(`alpha.other:${secret}:`))).status, 401);
  });

  it("a duplicated Authorization header does not mix two clients' credentials", async () => {
    const url = new URL(t.url);
    const tls = await import('node:tls');
    const text = await new Promise<string>((resolve, reject) => {
      const body = new URLSearchParams(TOKEN).toString();
      const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca: t.ca, servername: undefined }, () => {
        socket.write(
          `POST /oauth2/token HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: ${FORM}\r\nContent-Length: ${body.length}\r\n` +
            `Authorization: ${raw('alpha.odd:wrong')}\r\nAuthorization: ${basic('alpha.other', secret)}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      let data = '';
      socket.on('data', (chunk) => (data += chunk));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    assert.doesNotMatch(text.split('\r\n')[0] ?? '', / 200 | 5\d\d /, `two Authorization headers: ${text.split('\r\n')[0]}`);
  });

  it('error answers keep their challenge, no-store and Allow, and never leak internals', async () => {
    const checks: [string, Promise<TestResponse>, (res: TestResponse) => void][] = [
      [
        'GET /oauth2/token',
        t.send('/oauth2/token'),
        (r) => (assert.equal(r.status, 405), assert.equal(r.headers['allow'], 'POST'), assert.equal(r.headers['cache-control'], 'no-store')),
      ],
      [
        'JSON to the token endpoint with Basic',
        t.send('/oauth2/token', { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic('x', 'y') }, body: '{' }),
        (r) => (assert.equal(r.status, 400), assert.equal(r.headers['cache-control'], 'no-store')),
      ],
      [
        'an oversized form',
        t.send('/oauth2/token', { method: 'POST', headers: { 'content-type': FORM, authorization: basic('x', 'y') }, body: `a=${'x'.repeat(2_000_000)}` }),
        (r) => (assert.equal(r.status, 413), assert.equal(r.headers['cache-control'], 'no-store')),
      ],
      [
        'no client authentication',
        t.send('/oauth2/token', { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams(TOKEN).toString() }),
        (r) => (
          assert.equal(r.status, 401),
          assert.equal(r.headers['www-authenticate'], BASIC_CHALLENGE),
          assert.equal(r.headers['cache-control'], 'no-store')
        ),
      ],
      [
        'certificate login, bad JSON',
        t.send('/auth/x509/login', { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic('x', 'y') }, body: '{x' }),
        (r) => (assert.equal(r.status, 400), assert.equal(r.headers['cache-control'], 'no-store')),
      ],
      [
        'certificate login, text',
        t.send('/auth/x509/login', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }),
        (r) => (assert.equal(r.status, 400), assert.equal(r.headers['cache-control'], 'no-store')),
      ],
      [
        'admin without a token',
        t.send('/admin/v1/domains'),
        (r) => (assert.equal(r.status, 401), assert.match(String(r.headers['www-authenticate']), /^Bearer realm="tessera"/)),
      ],
      [
        'admin with Basic',
        t.send('/admin/v1/domains', { headers: { authorization: basic(t.admin.clientId, t.admin.clientSecret) } }),
        (r) => (assert.equal(r.status, 401), assert.match(String(r.headers['www-authenticate']), /^Bearer /)),
      ],
      [
        'JSON token dialect, bad secret',
        t.send('/auth/token', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ clientId: 'alpha.other', clientSecret: 'x' }),
        }),
        (r) => (assert.equal(r.status, 401), assert.equal(r.headers['cache-control'], 'no-store')),
      ],
      [
        'JSON token dialect, broken JSON',
        t.send('/auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{x' }),
        (r) => (assert.equal(r.status, 400), assert.equal(r.headers['cache-control'], 'no-store')),
      ],
    ];
    for (const [label, pending, check] of checks) {
      const res = await pending;
      assertClean(res, label);
      check(res);
    }
  });

  it('EST: every Basic or Bearer refusal is a clean 401 with the EST challenge', async () => {
    const body = (await csr(await newKeys(), 'alpha.other')).replace(/-----[^-]+-----|\s/g, '');
    const headers = [
      undefined,
      'Bearer nope',
      basic('alpha.other', 'nope'),
      raw('alpha.other\0:nope'),
      raw(':tsj_0000000000000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'),
      raw('alpha.other'),
      'Basic !!!!',
      'Digest x',
      `Basic ${Buffer.from([0xff, 0x3a, 0xfe]).toString('base64')}`,
    ];
    for (const authorization of headers) {
      const res = await t.send('/.well-known/est/simpleenroll', {
        method: 'POST',
        headers: { 'content-type': 'application/pkcs10', ...(authorization && { authorization }) },
        body,
      });
      assertClean(res, `EST ${authorization}`);
      assert.equal(res.status, 401, `EST ${authorization}: ${res.text}`);
      assert.equal(res.headers['www-authenticate'], 'Basic realm="tessera-est", Bearer realm="tessera-est"', `EST ${authorization}`);
    }
  });
});
