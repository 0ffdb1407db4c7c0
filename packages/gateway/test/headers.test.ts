// What an upstream hears of a caller's headers and what the caller hears of the upstream's, as
// unit tests of headers.ts (the end-to-end tests send the same through a running gateway), and
// the header values the gateway judges (Host, Authorization) read from the raw headers.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { headerValues } from '../src/http/raw-headers.ts';
import { downstreamHeaders, upstreamHeaders, type ForwardedFrom } from '../src/proxy/headers.ts';

const from: ForwardedFrom = { remoteAddress: '10.0.0.7', proto: 'https', host: 'api.example' };

describe('upstream headers', () => {
  it('drops what Connection names (either spelling), hop-by-hop and identity headers, and the stripped names; sets its own', () => {
    const out = upstreamHeaders(
      {
        connection: 'keep-alive, X-Secret, close',
        'x-secret': '1',
        x_secret: '2',
        close: 'a header named close',
        'keep-alive': 'timeout=5',
        authorization: 'Bearer caller',
        x_tessera_principal: 'admin',
        'x-envoy-original-path': '/admin',
        'x-custom-strip': 's',
        x_custom_strip: 's',
        'x-kept': 'k',
        host: 'api.example',
        'content-length': '2',
      },
      'upstream-token',
      '127.0.0.1:9000',
      from,
      ['x-custom-strip'],
    );
    assert.deepEqual(out, {
      'x-kept': 'k',
      'content-length': '2',
      host: '127.0.0.1:9000',
      authorization: 'Bearer upstream-token',
      'x-forwarded-for': '10.0.0.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'api.example',
    });
  });

  it('passes every other header when there is no Connection header or no strip list', () => {
    const out = upstreamHeaders({ 'x-a': '1', 'x-b': ['2', '3'] }, 't', 'u', { ...from, host: undefined }, []);
    assert.deepEqual(out, { 'x-a': '1', 'x-b': ['2', '3'], host: 'u', authorization: 'Bearer t', 'x-forwarded-for': '10.0.0.7', 'x-forwarded-proto': 'https' });
  });

  it('strips a configured name in both spellings, whichever spelling the list uses', () => {
    const incoming = { 'x-remote-groups': 'a', x_remote_groups: 'b', 'x-auth-role': 'd', x_auth_role: 'e', 'x-kept': 'k' };
    for (const list of [
      ['x_remote_groups', 'X-Auth-Role'],
      ['X-Remote-Groups', 'x_auth_role'],
      ['X_REMOTE_GROUPS', 'x-auth_role'],
    ]) {
      const out = upstreamHeaders({ ...incoming }, 't', 'u', from, list);
      assert.deepEqual(
        Object.keys(out).filter((name) => name.startsWith('x-') && !name.startsWith('x-forwarded')),
        ['x-kept'],
        JSON.stringify(list),
      );
    }
  });

  it('follows a changed strip list (a reload gives a new list)', () => {
    const first = ['x-one'];
    assert.equal(upstreamHeaders({ 'x-one': '1', 'x-two': '2' }, 't', 'u', from, first)['x-one'], undefined);
    const second = ['x-two'];
    const out = upstreamHeaders({ 'x-one': '1', 'x-two': '2' }, 't', 'u', from, second);
    assert.equal(out['x-one'], '1');
    assert.equal(out['x-two'], undefined);
  });
});

describe('downstream headers', () => {
  it('drops hop-by-hop headers and those Connection names, keeps the rest', () => {
    assert.deepEqual(downstreamHeaders({ connection: 'X-Internal', 'x-internal': 'i', 'transfer-encoding': 'chunked', 'set-cookie': ['a=1'], 'x-ok': 'y' }), {
      'set-cookie': ['a=1'],
      'x-ok': 'y',
    });
    assert.deepEqual(downstreamHeaders({ connection: 'keep-alive', 'keep-alive': 'timeout=5', 'x-ok': 'y' }), { 'x-ok': 'y' });
  });
});

describe('header values from the raw headers', () => {
  it('gives every value of a name in any case, in order, or undefined', () => {
    const request = { rawHeaders: ['Host', 'a.example', 'X-Other', 'x', 'HOST', 'b.example', 'authorization', 'Bearer t'] };
    assert.deepEqual(headerValues(request, 'host'), ['a.example', 'b.example']);
    assert.deepEqual(headerValues(request, 'authorization'), ['Bearer t']);
    assert.equal(headerValues(request, 'cookie'), undefined);
    assert.equal(headerValues({ rawHeaders: [] }, 'host'), undefined);
  });
});
