// Property: no endpoint that answers in the OAuth dialect ever writes a character outside RFC
// 6749 §5.2's NQSCHAR (%x20-21 / %x23-5B / %x5D-7E) into an error_description, whatever the
// request held; nor into the `message` of the JSON /auth/token dialect, which stands in for it;
// and every WWW-Authenticate challenge stays well-formed, its quoted values NQSCHAR too (RFC 6750
// §3 for error_description). Inputs are biased towards what descriptions echo and the grammar
// excludes: double quotes, backslashes, control characters, non-ASCII.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { CERT_LOGIN_PATH } from '../../src/cert-login/index.ts';
import { JWT_BEARER_ASSERTION_TYPE } from '../../src/oauth2/client-auth/private_key_jwt.ts';
import { makeCa } from '../e2e/mtls-support.ts';
import type { TestResponse } from '@tessera/testkit/https';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { freePort } from '@tessera/testkit/port';
import { assertNot5xx, fuzzRuns, tally } from './support.ts';

const NQSCHAR = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;
const FORM = 'application/x-www-form-urlencoded';
/** RFC 7235 §2.1 challenges: a scheme, then auth-params whose quoted values may not hold '"' or '\'. */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const PARAM = `${TOKEN}=(?:${TOKEN}|"[\\x20-\\x21\\x23-\\x5b\\x5d-\\x7e]*")`;
const CHALLENGE = new RegExp(`^${TOKEN}(?: ${PARAM}(?:, ?${PARAM})*)?$`);

/** Characters the grammar excludes, and the ones descriptions quote values with. */
const nasty = fc.constantFrom('"', '\\', '\u0000', '\n', '\r', '\t', '\u007f', 'é', '§', '€', '😀', '\ud800', '\u2028', '“');
const plain = fc.constantFrom('a', 'z', '0', '.', ':', '-', '_', ' ', '=', '&', '%', "'", 'fz', 'svc', 'role.', 'openid');
const text = fc.oneof(
  fc.array(fc.oneof(nasty, plain), { maxLength: 24 }).map((parts) => parts.join('')),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
const scopeDomain = fc.constantFrom('fz', 'fz"', 'f\\z', 'nope');
const scopeKind = fc.constantFrom(':domain', ':role.', ':role.reader', ':service.', ':');
const scopeItem = fc.tuple(scopeDomain, scopeKind, text).map((parts) => parts.join(''));
const scope = fc.oneof(
  text,
  scopeItem,
  fc.array(text, { maxLength: 4 }).map((parts) => ['openid', ...parts].join(' ')),
);
const PARAMS = ['grant_type', 'scope', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'token'];
type Fields = [string, string][];
const paramName = fc.oneof(fc.constantFrom(...PARAMS, 'token_type_hint', 'expires_in'), text);
const paramValue = fc.oneof(text, scope, fc.constantFrom('client_credentials', JWT_BEARER_ASSERTION_TYPE));
const formFields: fc.Arbitrary<Fields> = fc.array(fc.tuple(paramName, paramValue), { maxLength: 7 });

/** Headers are latin1 on the wire; the rest of the bytes reach the server through the body. */
const latin1 = (value: string): string =>
  Buffer.from(value, 'utf8')
    .toString('latin1')
    .replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '');
/** HTTP Basic without the form-encoding, which a lone surrogate would make throw. */
const rawBasic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

function assertDescriptions(res: TestResponse, input: unknown, dialectMessage: boolean): void {
  assertNot5xx(res, input);
  const where = `${res.status} ${res.text.slice(0, 400)} for ${JSON.stringify(input).slice(0, 600)}`;
  const body = res.text.startsWith('{') ? (res.json as Record<string, unknown>) : {};
  if (body['error_description'] !== undefined) {
    assert.equal(typeof body['error_description'], 'string', where);
    assert.match(body['error_description'] as string, NQSCHAR, `error_description outside RFC 6749 §5.2: ${where}`);
  }
  if (dialectMessage && body['message'] !== undefined) {
    assert.match(String(body['message']), NQSCHAR, `/auth/token message outside NQSCHAR: ${where}`);
  }
  const challenge = res.headers['www-authenticate'];
  for (const value of challenge === undefined ? [] : [challenge].flat()) {
    // A header may hold several challenges, each starting with its scheme.
    for (const one of value.split(/, (?=[A-Za-z][\w-]* (?:[\w-]+=|$))/)) {
      assert.match(one, CHALLENGE, `malformed WWW-Authenticate challenge "${value}": ${where}`);
    }
  }
}

describe('fuzz: every OAuth-style error_description keeps to RFC 6749 §5.2', () => {
  let t: TestServer;
  let dir: string;
  let secret: string;
  let token: string;
  const runs = fuzzRuns();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-fuzz-errors-'));
    await writeFile(join(dir, 'partner.pem'), (await makeCa('Fuzz Partner Root')).certPem);
    t = await startTestServer({
      flags: { listen: `http://127.0.0.1:${await freePort()}` },
      edit: (config) => {
        config.certLogin.enabled = true;
        config.certLogin.trustedCas = [join(dir, 'partner.pem')];
        // Off, so every input reaches the checks that echo it instead of a 429.
        config.rateLimits = { client: { rate: 0, burst: 0 }, ip: { rate: 0, burst: 0 } };
      },
    });
    token = await t.adminToken();
    assert.equal((await t.admin$('POST', '/domains', { name: 'fz' }, token)).status, 201);
    const created = await t.admin$('POST', '/domains/fz/services', { name: 'svc', secret: true }, token);
    assert.equal(created.status, 201, created.text);
    secret = created.json.clientSecret;
    const role = await t.admin$('PUT', '/domains/fz/roles/reader', { members: [{ principal: 'fz.svc' }] }, token);
    assert.equal(role.status, 201, role.text);
  });
  after(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function property<T>(target: string, arb: fc.Arbitrary<T>, send: (input: T) => Promise<TestResponse>, dialect = false): Promise<void> {
    const counter = tally(`${target} error_description`);
    await fc.assert(
      fc.asyncProperty(arb, async (input) => {
        counter.count();
        assertDescriptions(await send(input), input, dialect);
      }),
      { numRuns: runs },
    );
    counter.done();
  }

  interface Who {
    fields: Fields;
    authorization?: string;
  }

  const headers = (type: string, authorization: string | undefined): Record<string, string> =>
    authorization === undefined ? { 'content-type': type } : { 'content-type': type, authorization: latin1(authorization) };
  const form = (path: string, fields: Fields, authorization?: string): Promise<TestResponse> =>
    t.send(path, { method: 'POST', headers: headers(FORM, authorization), body: new URLSearchParams(fields).toString() });

  /** Who the request says it is: nobody, the fixture with its secret, or something odd. */
  const credentials = (): fc.Arbitrary<Who> =>
    fc.oneof(
      fc.constant<Who>({ fields: [] }),
      fc.constant<Who>({ fields: [], authorization: basic('fz.svc', secret) }),
      fc.constant<Who>({
        fields: [
          ['client_id', 'fz.svc'],
          ['client_secret', secret],
        ],
      }),
      fc.tuple(text, text).map(([id, s]): Who => ({ fields: [], authorization: rawBasic(id, s) })),
      text.map((s): Who => ({ fields: [], authorization: `Basic ${s}` })),
      fc.tuple(text, text).map(([type, assertion]): Who => ({
        fields: [
          ['client_assertion_type', type],
          ['client_assertion', assertion],
          ['client_id', 'fz.svc'],
        ],
      })),
      text.map((assertion): Who => ({
        fields: [
          ['client_assertion_type', JWT_BEARER_ASSERTION_TYPE],
          ['client_assertion', `${assertion}.e30.x`],
        ],
      })),
    );

  it('POST /oauth2/token (client secrets and private_key_jwt)', async () => {
    const grant = fc.oneof(text, fc.constant('client_credentials'));
    const arb = fc.record({ who: credentials(), grant, scope, extra: formFields });
    await property('POST /oauth2/token', arb, (input) => {
      const fields: Fields = [['grant_type', input.grant], ['scope', input.scope], ...input.who.fields, ...input.extra];
      return form('/oauth2/token', fields, input.who.authorization);
    });
  });

  it('POST /oauth2/introspect and /oauth2/revoke', async () => {
    const path = fc.constantFrom('/oauth2/introspect', '/oauth2/revoke');
    const arb = fc.record({ path, who: credentials(), token: text, extra: formFields });
    await property('introspect/revoke', arb, (input) =>
      form(input.path, [['token', input.token], ...input.who.fields, ...input.extra], input.who.authorization),
    );
  });

  it('POST /auth/token (JSON dialect)', async () => {
    const fields = {
      grantType: fc.oneof(text, fc.constant('client_credentials')),
      clientId: fc.oneof(text, fc.constant('fz.svc')),
      clientSecret: fc.oneof(text, fc.constant(secret)),
      scope,
      expiresIn: fc.integer(),
    };
    const body = fc.oneof(
      fc.record(fields, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
      text,
    );
    await property(
      'POST /auth/token',
      body,
      (input) => t.send('/auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: input }),
      true,
    );
  });

  it('POST /auth/x509/login (certificate login, here without a certificate)', async () => {
    const arb = fc.record({ who: credentials(), scope, extra: formFields, json: fc.boolean() });
    await property('POST /auth/x509/login', arb, (input) => {
      const fields: Fields = [['scope', input.scope], ...input.who.fields, ...input.extra];
      if (!input.json) return form(CERT_LOGIN_PATH, fields, input.who.authorization);
      const body = JSON.stringify(Object.fromEntries(fields));
      const json = headers('application/json', input.who.authorization);
      return t.send(CERT_LOGIN_PATH, { method: 'POST', headers: json, body });
    });
  });

  it('401s with WWW-Authenticate: admin API, service-account API, EST', async () => {
    const authorization = fc.oneof(
      text.map((s) => `Bearer ${s}`),
      fc.constant('Bearer e30.e30.x'),
      fc.tuple(text, text).map(([id, s]) => rawBasic(id, s)),
      text,
    );
    const path = fc.constantFrom('/admin/v1/domains', '/admin/v1/domains/fz/services', '/auth/admin/service-accounts', '/.well-known/est/simpleenroll');
    await property('401 challenges', fc.record({ path, authorization }), (input) => {
      const method = input.path.includes('/est/') ? 'POST' : 'GET';
      return t.send(input.path, { method, headers: { authorization: latin1(input.authorization) } });
    });
  });
});
