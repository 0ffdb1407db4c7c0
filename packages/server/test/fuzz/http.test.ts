// Property-based fuzzing of the HTTP surface over a real in-process server: the OAuth token
// endpoint, the service-account JSON dialect's /auth endpoints and the admin API. Whatever arrives, the answer is never
// a 5xx, the heap stays bounded and refused requests leave stored data as it was.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { basic, type TestServer } from '@tessera/testkit/server';
import type { TestResponse } from '@tessera/testkit/https';
import { assertNot5xx, fuzzRuns, HEAP_BOUND_BYTES, heapUsed, snapshot, startFuzzServer, tally } from './support.ts';

const PARAM_NAMES = ['grant_type', 'scope', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'resource', 'audience', 'token'];
const GRANTS = ['client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'authorization_code', ''];

// Control characters on purpose: random strings seldom hold a NUL, which PostgreSQL refuses.
const control = fc.constantFrom('\u0000', 'a\u0000b', 'fz.svc\u0000', '\n', '\u001b[2J', '\u0085', '\u2028');
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), control);
const scope = fc
  .array(fc.oneof(fc.constantFrom('sys.auth:role.admin', 'fz:reader', 'openid', '*', ':', 'a:b:c'), text), { maxLength: 6 })
  .map((parts) => parts.join(' '));
const paramValue = fc.oneof(text, fc.constantFrom(...GRANTS), scope, fc.string({ maxLength: 3000 }));
const pairs = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...PARAM_NAMES), text), paramValue), { maxLength: 8 });

/** Raw bodies that URLSearchParams would never produce: stray %, lone surrogates, odd separators. */
const oddBody = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc
    .array(fc.constantFrom('%', '%zz', '%e2%82', '%00', '&', '=', ';', '+', 'grant_type', 'client_credentials', '%ED%A0%80', 'scope'), { maxLength: 30 })
    .map((s) => s.join('')),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
);

/** Close to a real request, so the odd values reach authentication and the audit, not only the parser. */
const plausible = fc
  .record(
    { grant_type: fc.constantFrom('client_credentials', ''), client_id: fc.oneof(text, fc.constant('fz.svc')), client_secret: text, scope },
    { requiredKeys: ['grant_type', 'client_id'] },
  )
  .map((fields) => new URLSearchParams(fields as Record<string, string>).toString() as string | Buffer);

const formBody = fc.oneof(
  plausible,
  pairs.map((p) => new URLSearchParams(p).toString() as string | Buffer),
  pairs.map((p) => p.map(([k, v]) => `${k}=${v}`).join('&') as string | Buffer),
  oddBody,
);

const contentType = fc.constantFrom(
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=latin1',
  'application/json',
  'text/plain',
  'multipart/form-data; boundary=x',
  '',
  'application/x-www-form-urlencoded;;;',
);

/** Headers must be latin1 to be sendable at all; the server sees everything else as bytes anyway. */
const headerSafe = (value: string): string =>
  Buffer.from(value, 'utf8')
    .toString('latin1')
    .replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '');

// Both backends: PostgreSQL refuses values SQLite stores (a NUL in text, say), so a path that
// is safe on one may answer 500 on the other.
for (const backend of ['sqlite', 'postgres'] as const)
  describe(`fuzz (${backend}): HTTP endpoints never answer 5xx and refused requests change nothing`, () => {
    let t: TestServer;
    let token: string;
    const runs = fuzzRuns();

    before(async () => {
      t = await startFuzzServer(backend);
      token = await t.adminToken();
      assert.equal((await t.admin$('POST', '/domains', { name: 'fz' }, token)).status, 201);
      assert.equal((await t.admin$('POST', '/domains/fz/services', { name: 'svc' }, token)).status, 201);
      assert.equal((await t.admin$('PUT', '/domains/fz/roles/reader', { members: [{ principal: 'fz.svc' }] }, token)).status, 201);
    });
    after(() => t.stop());

    it('the snapshot sees the fixture domain, its service and its role', async () => {
      const view = JSON.stringify(await snapshot(t, token));
      for (const name of ['"fz/services"', '"svc"', '"reader"']) assert.ok(view.includes(name), view);
    });

    /** Runs a property over `send`, re-snapshotting only when a request was accepted. */
    async function fuzzTarget(
      target: string,
      arb: fc.Arbitrary<unknown>,
      request: (input: never) => Promise<TestResponse>,
      mutates: (res: TestResponse, input: never) => boolean,
    ): Promise<void> {
      const counter = tally(`${target} (${backend})`);
      const heapBefore = heapUsed();
      let expected = await snapshot(t, token);
      await fc.assert(
        fc.asyncProperty(arb, async (input) => {
          counter.count();
          const res = await request(input as never);
          assertNot5xx(res, input);
          // An accepted change becomes the new baseline; everything refused must leave it as it is.
          if (mutates(res, input as never)) expected = await snapshot(t, token);
        }),
        { numRuns: runs },
      );
      assert.deepEqual(await snapshot(t, token), expected);
      assert.ok(heapUsed() - heapBefore < HEAP_BOUND_BYTES, `heap grew by ${heapUsed() - heapBefore} bytes`);
      counter.done();
    }

    it('POST /oauth2/token with random form bodies, Basic headers and content types never answers 5xx', async () => {
      const authorization = fc.oneof(
        fc.constant(undefined),
        fc.constant(basic(t.admin.clientId, t.admin.clientSecret)),
        fc.tuple(text, text).map(([id, secret]) => basic(id, secret)),
        fc.tuple(fc.constant(t.admin.clientId), text).map(([id, secret]) => basic(id, secret)),
        fc.string({ unit: 'binary', maxLength: 80 }).map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
        fc.constantFrom('Basic', 'Basic ', 'Basic ===', 'Basic Og==', 'basic Og==', 'Bearer x', 'Basic !!!!'),
        text.map((s) => `Basic ${s}`),
      );
      await fuzzTarget(
        'POST /oauth2/token',
        fc.record({ body: formBody, type: contentType, authorization }),
        (input: { body: string | Buffer; type: string; authorization: string | undefined }) => {
          const headers: Record<string, string> = {};
          if (input.type !== '') headers['content-type'] = input.type;
          if (input.authorization !== undefined) headers['authorization'] = headerSafe(input.authorization);
          return t.send('/oauth2/token', { method: 'POST', headers, body: input.body });
        },
        () => false,
      );
    });

    it('POST /auth/token with random JSON never answers 5xx', async () => {
      const body = fc.oneof(
        fc
          .record(
            {
              clientId: fc.oneof(text, fc.constant(t.admin.clientId), fc.jsonValue()),
              clientSecret: fc.oneof(text, fc.jsonValue()),
              scope: fc.oneof(scope, fc.jsonValue()),
            },
            { requiredKeys: [] },
          )
          .map((v) => JSON.stringify(v)),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.string({ unit: 'binary', maxLength: 200 }),
      );
      await fuzzTarget(
        'POST /auth/token',
        fc.record({ body, type: fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain') }),
        (input: { body: string; type: string }) => t.send('/auth/token', { method: 'POST', headers: { 'content-type': input.type }, body: input.body }),
        () => false,
      );
    });

    it('/auth/admin/service-accounts with random JSON and ids never answers 5xx', async () => {
      const account = fc.record(
        {
          name: fc.oneof(text, fc.jsonValue()),
          description: fc.oneof(text, fc.jsonValue()),
          scopes: fc.oneof(fc.array(text, { maxLength: 5 }), fc.jsonValue()),
          allowedIps: fc.oneof(fc.array(fc.oneof(text, fc.ipV4(), fc.constantFrom('10.0.0.0/33', '::1/128', '1.2.3.4/-1')), { maxLength: 4 }), fc.jsonValue()),
        },
        { requiredKeys: [] },
      );
      await fuzzTarget(
        '/auth/admin/service-accounts',
        fc.record({
          method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
          id: fc.option(text),
          body: fc.oneof(
            account.map((v) => JSON.stringify(v)),
            fc.string({ unit: 'binary', maxLength: 100 }),
          ),
        }),
        (input: { method: string; id: string | null; body: string }) =>
          t.send(`/auth/admin/service-accounts${input.id === null ? '' : `/${encodeURIComponent(input.id)}`}`, {
            method: input.method,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: input.method === 'GET' || input.method === 'DELETE' ? undefined : input.body,
          }),
        (res, input: { method: string }) => input.method !== 'GET' && res.status < 300,
      );
    });

    it('the admin API with random paths and JSON bodies never answers 5xx', async () => {
      const segment = fc.oneof(
        fc.constantFrom('domains', 'fz', 'svc', 'reader', 'services', 'roles', 'members', 'api-keys', 'keys', 'secrets', 'fz:svc', '..', '%'),
        text.map(encodeURIComponent),
      );
      const body = fc.oneof(
        fc
          .record(
            {
              name: fc.oneof(text, fc.jsonValue()),
              description: fc.oneof(text, fc.jsonValue()),
              scopes: fc.jsonValue(),
              members: fc.oneof(
                fc.array(fc.record({ principal: text, expiresAt: fc.oneof(text, fc.jsonValue()) }, { requiredKeys: [] }), { maxLength: 3 }),
                fc.jsonValue(),
              ),
            },
            { requiredKeys: [] },
          )
          .map((v) => JSON.stringify(v)),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.string({ unit: 'binary', maxLength: 100 }),
      );
      await fuzzTarget(
        'admin API',
        fc.record({
          method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
          path: fc.array(segment, { minLength: 1, maxLength: 7 }),
          body: fc.option(body),
        }),
        (input: { method: string; path: string[]; body: string | null }) => {
          // A GET or DELETE with a body is refused by Node's HTTP layer, which then closes the socket.
          const body = input.method === 'GET' || input.method === 'DELETE' ? null : input.body;
          const headers: Record<string, string> = { authorization: `Bearer ${token}` };
          if (body !== null) headers['content-type'] = 'application/json';
          return t.send(`/admin/v1/${input.path.join('/')}`, { method: input.method, headers, body: body ?? undefined });
        },
        (res, input: { method: string }) => input.method !== 'GET' && res.status < 300,
      );
    });

    // A request refused at the door is still audited (in a summary row); one value the store cannot take (a NUL on
    // PostgreSQL) used to hold back every audit event after it.
    it('the fuzzed requests left their audit summary in the store: nothing held back', async () => {
      await t.server.flushAudit();
      const refused = await t.admin$('GET', '/audit?type=token.refused.summary&limit=1', undefined, token);
      assert.equal(refused.status, 200, refused.text);
      assert.equal(refused.json.events.length, 1, 'the token endpoint targets were audited');
    });
  });
