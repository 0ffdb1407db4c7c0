// RFC 6749 §5.2: error_description is NQSCHAR only (%x20-21 / %x23-5B / %x5D-7E), printable
// ASCII without '"' and '\'. Descriptions echo what the caller sent (a scope, a parameter name,
// a client id), so the rule is enforced where every OAuth-style error is written, by one
// sanitizer; these tests pin the sanitizer and show it applied on each way out.
// test/fuzz/error-description.test.ts checks the property over every endpoint.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OAuthError, errorDescription } from '../../src/oauth2/errors.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const NQSCHAR = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

describe('errorDescription keeps to the RFC 6749 §5.2 grammar', () => {
  it('keeps printable ASCII other than the double quote and the backslash as it is', () => {
    const allowed = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i))
      .filter((c) => c !== '"' && c !== '\\')
      .join('');
    assert.equal(errorDescription(allowed), allowed);
  });

  it('turns double quotes into single quotes and backslashes into slashes', () => {
    assert.equal(errorDescription('scope "a\\b" is malformed'), "scope 'a/b' is malformed");
  });

  it('spells out the section sign and plain typography, and writes ? for anything else', () => {
    assert.equal(errorDescription('RFC 6749 §5.2'), 'RFC 6749 section 5.2');
    assert.equal(errorDescription('“a” ‘b’ c…d — e – f'), "'a' 'b' c...d - e - f");
    assert.equal(errorDescription('tab\there, newline\nthere, NUL\u0000, DEL\u007f'), 'tab?here, newline?there, NUL?, DEL?');
    assert.equal(errorDescription('é€\u2028'), '???');
  });

  it('writes one ? for a character outside the BMP and for a lone surrogate', () => {
    assert.equal(errorDescription('a😀b'), 'a?b');
    assert.equal(errorDescription('a\ud800b\udc00'), 'a?b?');
  });

  it('gives an allowed string for every input', () => {
    let text = '';
    for (let code = 0; code < 0x3000; code++) text += String.fromCharCode(code);
    assert.match(errorDescription(text), NQSCHAR);
  });

  it('is what OAuthError writes as error_description, whatever its message holds', () => {
    const error = new OAuthError(400, 'invalid_scope', 'scope "x\\y" §3.3\n');
    assert.equal(error.toBody().error_description, "scope 'x/y' section 3.3?");
  });
});

describe('error descriptions that echo the request keep to the grammar (end to end)', () => {
  let t: TestServer;
  let secret: string;
  before(async () => {
    t = await startTestServer();
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
    const created = await t.admin$('POST', '/domains/alpha/services', { name: 'api', secret: true });
    assert.equal(created.status, 201, created.text);
    secret = created.json.clientSecret;
  });
  after(() => t.stop());

  it('an invalid_scope answer to a scope holding quotes, a backslash and non-ASCII', async () => {
    const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'be"ta\\:dómain' });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error, 'invalid_scope');
    assert.match(res.json.error_description, NQSCHAR);
    assert.match(res.json.error_description, /be'ta\/:d\?main/);
  });

  it('a repeated parameter whose name holds a quote', async () => {
    const res = await t.send('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&a%22b=1&a%22b=2',
    });
    assert.equal(res.status, 400, res.text);
    assert.match(res.json.error_description, NQSCHAR);
    assert.match(res.json.error_description, /parameter 'a'b' is repeated/);
  });

  it('the JSON /auth/token dialect: message keeps to the same grammar', async () => {
    const res = await t.send('/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grantType: 'pass"word\\', clientId: 'alpha.api', clientSecret: secret }),
    });
    assert.equal(res.status, 400, res.text);
    assert.match(res.json.message, NQSCHAR);
    assert.match(res.json.message, /grantType 'pass'word\/' is not supported/);
  });
});
