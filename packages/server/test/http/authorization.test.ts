// The one reader of `Authorization: Basic` (RFC 7617) and the RFC 6749 §2.3.1 decoding the OAuth
// endpoints apply to the client id and secret inside it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { basicCredentials, decodeBasic, formDecode, isBasic } from '../../src/http/authorization.ts';

const basic = (text: string): string => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`;

describe('Basic credentials', () => {
  it('splits user and password at the first colon, so a password may hold colons', () => {
    assert.deepEqual(basicCredentials(basic('svc-a:s3:cr:et')), { user: 'svc-a', password: 's3:cr:et' });
  });

  it('reads the scheme in any case and ignores whitespace around the credentials', () => {
    assert.deepEqual(basicCredentials(`bAsIc   ${Buffer.from('a:b').toString('base64')}  `), { user: 'a', password: 'b' });
    assert.equal(isBasic('BASIC x'), true);
  });

  it('is undefined for another scheme, no header, or a scheme not followed by a space', () => {
    assert.equal(basicCredentials(undefined), undefined);
    assert.equal(basicCredentials('Bearer abc'), undefined);
    assert.equal(basicCredentials('Basic'), undefined);
    assert.equal(basicCredentials(`Basic\t${Buffer.from('a:b').toString('base64')}`), undefined);
    assert.equal(isBasic('Basicx abc'), false);
  });

  it('says malformed when the decoded text has no colon', () => {
    assert.equal(basicCredentials(basic('just-a-user')), 'malformed');
    assert.equal(basicCredentials('Basic '), 'malformed');
  });

  it('decodes malformed base64 leniently, as Node does, so garbage reads as having no colon', () => {
    assert.equal(basicCredentials('Basic !!!!'), 'malformed');
    assert.equal(basicCredentials('Basic ***@@@'), 'malformed');
    // Characters outside the alphabet are skipped and padding may be missing: clients that omit it still work.
    assert.deepEqual(decodeBasic('YTpi'), { user: 'a', password: 'b' });
    assert.deepEqual(decodeBasic('YT!pi'), { user: 'a', password: 'b' });
    assert.deepEqual(decodeBasic('YTpiYw'), { user: 'a', password: 'bc' });
  });

  it('keeps an empty user and an empty password (the callers decide what they mean)', () => {
    assert.deepEqual(basicCredentials(basic(':secret')), { user: '', password: 'secret' });
    assert.deepEqual(basicCredentials(basic('client:')), { user: 'client', password: '' });
    assert.deepEqual(basicCredentials(basic(':')), { user: '', password: '' });
  });

  it("does not percent-decode: that is the OAuth layer's rule, not Basic's", () => {
    assert.deepEqual(basicCredentials(basic('a%20b:c+d')), { user: 'a%20b', password: 'c+d' });
  });
});

describe('RFC 6749 §2.3.1 form decoding of the client id and secret', () => {
  it('turns + into a space and %XX into the byte it names, UTF-8 included', () => {
    assert.equal(formDecode('my+client'), 'my client');
    assert.equal(formDecode('a%3Ab%25c%2B'), 'a:b%c+');
    assert.equal(formDecode('caf%C3%A9'), 'café');
  });

  it('leaves text without escapes as it is, the empty string included', () => {
    assert.equal(formDecode('svc-a'), 'svc-a');
    assert.equal(formDecode(''), '');
  });

  it('is undefined for a broken escape or bytes that are not UTF-8', () => {
    assert.equal(formDecode('100%'), undefined);
    assert.equal(formDecode('%zz'), undefined);
    assert.equal(formDecode('%C3'), undefined);
  });
});
