// Parsing of the values admin commands take, and of credential files.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseMember, parseRoleRef, parseServiceRef, parseTime } from '../src/admin/arguments.ts';
import { parseCredentials, serverFromTokenEndpoint } from '../src/credentials.ts';
import { formUrlEncode } from '../../sdk/src/client/basic-auth.ts';

const NOW = Date.parse('2030-01-01T00:00:00Z');

describe('admin arguments', () => {
  it('splits a principal at the last dot: domains may hold dots, services not', () => {
    assert.deepEqual(parseServiceRef('sys.auth.admin'), { domain: 'sys.auth', service: 'admin' });
    assert.deepEqual(parseServiceRef('alpha.api'), { domain: 'alpha', service: 'api' });
    for (const bad of ['alpha', '.api', 'alpha.']) assert.throws(() => parseServiceRef(bad), /<domain>\.<service>/);
  });

  it('reads roles in the long and short form', () => {
    assert.deepEqual(parseRoleRef('beta:role.readers'), { domain: 'beta', role: 'readers' });
    assert.deepEqual(parseRoleRef('sys.auth:admin'), { domain: 'sys.auth', role: 'admin' });
    for (const bad of ['beta', ':role.x', 'beta:role.', 'beta:']) assert.throws(() => parseRoleRef(bad));
  });

  it('reads ISO 8601 times, treating a time without zone as UTC', () => {
    assert.equal(parseTime('2031-06-30', NOW, 'future'), '2031-06-30T00:00:00.000Z');
    assert.equal(parseTime('2031-06-30T12:00', NOW, 'future'), '2031-06-30T12:00:00.000Z');
    assert.equal(parseTime('2031-06-30T12:00:00+02:00', NOW, 'future'), '2031-06-30T10:00:00.000Z');
    assert.equal(parseTime('2031-06-30 12:00:00Z', NOW, 'future'), '2031-06-30T12:00:00.000Z');
  });

  it('reads durations forwards for expiries and backwards for --since', () => {
    assert.equal(parseTime('90d', NOW, 'future'), '2030-04-01T00:00:00.000Z');
    assert.equal(parseTime('30m', NOW, 'past'), '2029-12-31T23:30:00.000Z');
  });

  it('rejects what is neither a time nor a duration', () => {
    for (const bad of ['1', 'tomorrow', '2031-13-45', '5w', '']) assert.throws(() => parseTime(bad, NOW, 'future'));
  });

  it('reads a member with an optional expiry', () => {
    assert.deepEqual(parseMember('alpha.api', NOW), { principal: 'alpha.api' });
    assert.deepEqual(parseMember('alpha.api@1h', NOW), { principal: 'alpha.api', expiresAt: '2030-01-01T01:00:00.000Z' });
    assert.throws(() => parseMember('@1h', NOW));
  });
});

describe('credential files', () => {
  it('derives the server from the tokenEndpoint, keeping a path prefix', () => {
    assert.equal(serverFromTokenEndpoint(new URL('https://127.0.0.1:8443/oauth2/token')).href, 'https://127.0.0.1:8443/');
    assert.equal(serverFromTokenEndpoint(new URL('https://gw.example/auth/zts/v1/oauth2/token')).href, 'https://gw.example/auth');
    assert.equal(serverFromTokenEndpoint(new URL('https://idp.example/token')).href, 'https://idp.example/');
  });

  it('requires clientId and clientSecret and an http(s) tokenEndpoint', () => {
    assert.throws(() => parseCredentials('{"clientId":"a.b"}', 'f.json'), /lacks clientSecret/);
    assert.throws(() => parseCredentials('[]', 'f.json'), /not a JSON object/);
    assert.throws(() => parseCredentials('{', 'f.json'), /not JSON/);
    assert.throws(() => parseCredentials('{"clientId":"a","clientSecret":"b","tokenEndpoint":"file:///x"}', 'f.json'), /tokenEndpoint/);
  });
});

describe('form-urlencoding for client_secret_basic', () => {
  it('encodes as application/x-www-form-urlencoded: space as +, reserved characters escaped', () => {
    assert.equal(formUrlEncode("a b+c:d/e?f&g=h%i~j*k-l_m.n!o'p"), 'a+b%2Bc%3Ad%2Fe%3Ff%26g%3Dh%25i%7Ej*k-l_m.n%21o%27p');
    assert.equal(formUrlEncode('ö'), '%C3%B6');
  });
});
