import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { API_KEY_LENGTH, API_KEY_PATTERN, checksum, generateApiKey, parseApiKey } from '../../src/keys/api-keys.ts';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Replaces the character at `index` with another one of the same alphabet. */
function flip(key: string, index: number): string {
  const char = key.charAt(index);
  const other = /[0-9]/.test(char) ? (char === '1' ? '2' : '1') : char === 'a' ? 'b' : 'a';
  return key.slice(0, index) + other + key.slice(index + 1);
}

describe('API key format', () => {
  it('generates tsk_<16 hex id>_<43 base64url secret><6 base62 checksum>, 70 characters', () => {
    const { key, id } = generateApiKey();
    assert.equal(key.length, 70);
    assert.equal(API_KEY_LENGTH, 70);
    assert.match(key, /^tsk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}[0-9A-Za-z]{6}$/);
    assert.match(id, /^[0-9a-f]{16}$/);
    assert.equal(key.slice(4, 20), id);
  });

  it('ends with the CRC-32 of the rest, in base62, left-padded to six digits', () => {
    const { key } = generateApiKey();
    const body = key.slice(0, -6);
    let value = 0;
    for (const digit of key.slice(-6)) value = value * 62 + BASE62.indexOf(digit);
    assert.equal(value, crc32(body));
  });

  it('encodes known checksums exactly', () => {
    assert.equal(checksum(''), '000000'); // crc32('') = 0
    assert.equal(crc32('hello'), 0x3610a686);
    assert.equal(checksum('hello'), '0zNvy2'); // 907060870 in base62
  });

  it('parses a generated key back to its id', () => {
    const { key, id } = generateApiKey();
    assert.deepEqual(parseApiKey(key), { id });
  });

  it('makes a different key each time', () => {
    const keys = new Set(Array.from({ length: 200 }, () => generateApiKey().key));
    assert.equal(keys.size, 200);
  });

  it('rejects a key with any one character changed (the checksum catches it)', () => {
    const { key } = generateApiKey();
    for (let i = 4; i < key.length; i++) {
      if (i === 20) continue; // the '_' separator: changing it breaks the shape instead
      assert.equal(parseApiKey(flip(key, i)), null, `character ${i} changed`);
    }
  });

  it('rejects the wrong prefix, length, alphabet or shape', () => {
    const { key } = generateApiKey();
    assert.equal(parseApiKey(`tsx_${key.slice(4)}`), null);
    assert.equal(parseApiKey(key.slice(0, -1)), null);
    assert.equal(parseApiKey(`${key}0`), null);
    assert.equal(parseApiKey(` ${key.slice(1)}`), null);
    assert.equal(parseApiKey(key.toUpperCase()), null);
    assert.equal(parseApiKey(''), null);
    assert.equal(parseApiKey('eyJhbGciOiJFUzI1NiJ9.e30.sig'), null);
    // Right shape and a recomputed checksum, but a non-hex id.
    const body = `tsk_${'g'.repeat(16)}_${'A'.repeat(43)}`;
    assert.equal(parseApiKey(body + checksum(body)), null);
  });

  it('gives secret scanners a pattern that finds a key in text but not inside a longer word', () => {
    const { key } = generateApiKey();
    assert.equal(API_KEY_PATTERN.exec(`export KEY="${key}"\n`)?.[0], key);
    assert.equal(API_KEY_PATTERN.test(`x${key}`), false);
    assert.equal(API_KEY_PATTERN.test(`${key}x`), false);
    assert.equal(API_KEY_PATTERN.flags.includes('g'), false, 'a shared global regex would carry lastIndex between calls');
  });
});
