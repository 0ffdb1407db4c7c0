// Route matching as an attacker tries it: prefix confusion (`/orders` vs `/ordersX`), dot
// segments plain and encoded, encoded slashes, `//`, servlet `;parameters`, Host tricks, methods,
// and the longest prefix winning; and the target forms refused before any route is consulted.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteConfig } from '../src/config/config.ts';
import { createRouteTable, hostName, readBySegments, readHost, readTarget } from '../src/routes/match.ts';

function route(name: string, pathPrefix: string, methods: string[] | null = ['GET'], host?: string): RouteConfig {
  return {
    name,
    host,
    pathPrefix,
    methods: methods && new Set(methods),
    upstream: new URL('http://127.0.0.1:1'),
    audience: 'orders',
    require: ['orders:role.readers'],
    southboundScope: 'orders:role.readers',
    timeoutMs: 1000,
    websocket: true,
    acceptDelegated: undefined,
  };
}

const table = createRouteTable([
  route('orders', '/orders'),
  route('admin', '/orders/admin'),
  route('internal-host', '/orders', ['GET'], 'internal.example'),
  route('writes', '/orders', ['POST']),
]);

const matched = (target: string, method = 'GET', host = 'public.example'): string | undefined => {
  const read = readTarget(target);
  assert.ok(read.ok, `${target} should be readable`);
  return table.match(host, method, read.path)?.name;
};

describe('route matching', () => {
  it('matches a prefix at segment boundaries only', () => {
    assert.equal(matched('/orders'), 'orders');
    assert.equal(matched('/orders/'), 'orders');
    assert.equal(matched('/orders/7?x=1'), 'orders');
    assert.equal(matched('/ordersX'), undefined);
    assert.equal(matched('/orders.json'), undefined);
    assert.equal(matched('/order'), undefined);
    assert.equal(matched('/'), undefined);
  });

  it('takes the longest prefix, and judges encoded and parameterized paths as the upstream will read them', () => {
    assert.equal(matched('/orders/admin/users'), 'admin');
    assert.equal(matched('/orders/%61dmin'), 'admin', 'percent-encoded letters are the same path');
    assert.equal(matched('/orders/admin;jsessionid=1'), 'admin', 'a servlet container drops ;parameters');
    assert.equal(matched('/orders;x/admin'), 'admin');
    assert.equal(matched('/ORDERS/admin'), undefined, 'matching is case-sensitive, as the prefixes are written');
  });

  it('refuses targets two servers could read differently', () => {
    for (const target of [
      '/orders/../admin',
      '/orders/./admin',
      '/orders/%2e%2e/admin',
      '/orders/%2E/x',
      '/orders/..;/admin',
      '/orders/%2fadmin',
      '/orders%2Fadmin',
      '/orders/%5cadmin',
      '/orders\\admin',
      '/orders//admin',
      '//orders',
      '/orders/%00',
      '/orders/%zz',
      'http://internal.example/orders',
      '*',
      'orders',
      '',
    ]) {
      const read = readTarget(target);
      assert.equal(read.ok, false, `${target} must be refused`);
    }
  });

  it('refuses double percent-encodings (a twice-decoding upstream would read "..", "/" or "\\"), and lets a lone "%25" through', () => {
    for (const target of ['/orders/%252e%252e/admin', '/orders/x%252f..%252fadmin', '/orders/%255cadmin', '/orders/%252E', '/orders/a%2541']) {
      const read = readTarget(target);
      assert.equal(read.ok, false, `${target} must be refused`);
      assert.match((read as { reason: string }).reason, /double percent-encoding/, target);
    }
    assert.deepEqual(readTarget('/orders/100%25off'), { ok: true, path: '/orders/100%off', raw: '/orders/100%25off' });
    assert.deepEqual(readTarget('/orders/%25'), { ok: true, path: '/orders/%', raw: '/orders/%25' });
  });

  it('refuses an encoded "?" or "#" (an upstream decoding the path once would end the path there)', () => {
    for (const target of ['/orders/admin%3F', '/orders/admin%3fdelete=1', '/orders/admin%23', '/orders/a%3Fb/c', '/orders/%23x?q=1']) {
      const read = readTarget(target);
      assert.equal(read.ok, false, `${target} must be refused`);
      assert.match((read as { reason: string }).reason, /encoded "\?" or "#"/, target);
    }
    // In the query they are the caller's business.
    assert.deepEqual(readTarget('/orders/x?a=%3F%23'), { ok: true, path: '/orders/x', raw: '/orders/x?a=%3F%23' });
  });

  it('matches methods exactly and a route naming its host only on that host', () => {
    assert.equal(matched('/orders/1', 'POST'), 'writes');
    assert.equal(matched('/orders/1', 'DELETE'), undefined);
    assert.equal(matched('/orders/1', 'get'), undefined);
    assert.equal(matched('/orders/1', 'GET', 'internal.example'), 'internal-host');
    assert.equal(hostName('Internal.Example:8443'), 'internal.example');
    assert.equal(hostName('internal.example.'), 'internal.example');
    assert.equal(hostName('[::1]:443'), '[::1]');
    assert.equal(hostName(undefined), '');
  });
});

describe('the Host header', () => {
  it('reads a host name or IP literal with an optional port, and the name routes see', () => {
    const cases: [string | undefined, string][] = [
      ['internal.example', 'internal.example'],
      ['Internal.Example.:8443', 'internal.example'],
      ['internal.example:', 'internal.example'],
      ['127.0.0.1:65535', '127.0.0.1'],
      ['[::1]:443', '[::1]'],
      ['[2001:DB8::7]', '[2001:db8::7]'],
      ['my_service', 'my_service'],
      ['', ''],
      [undefined, ''],
    ];
    for (const [header, name] of cases) assert.deepEqual(readHost(header), { ok: true, name, value: header || undefined }, String(header));
  });

  it('refuses anything else with a sentence saying what a Host must be', () => {
    for (const header of [
      'internal.example:evil',
      'internal.example, elsewhere',
      'internal.example,',
      'elsewhere, internal.example',
      'internal.example:0',
      'internal.example:65536',
      'internal.example:443:443',
      'user@internal.example',
      'internal.example/x',
      'internal..example',
      '.internal.example',
      '-internal.example',
      '[::1',
      '[internal.example]',
      '[::1]x',
      '::1',
      'internal example',
      'internal.example\tx',
    ]) {
      const read = readHost(header);
      assert.equal(read.ok, false, header);
      assert.match((read as { reason: string }).reason, /^the Host header .* is not a host name or IP address with an optional port/, header);
    }
  });
});

describe('the shortcut for plain paths', () => {
  it('reads every path as the segment-by-segment reading does (random paths of the characters that matter)', () => {
    const pieces = [
      '/',
      '/',
      '/',
      'a',
      'Z',
      '0',
      '.',
      '..',
      ';',
      ';x',
      '%2e',
      '%2f',
      '%25',
      '%3f',
      '%3F',
      '%23',
      '%',
      '-',
      '_',
      '~',
      ':',
      '@',
      '!',
      '$',
      "'",
      '+',
      ',',
      '=',
      '*',
      '\\',
      ' ',
      '#',
      '\u00e9',
    ];
    let seed = 12345;
    const next = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 20_000; i++) {
      let path = '/';
      for (let j = next(8); j > 0; j--) path += pieces[next(pieces.length)];
      const pathPart = path;
      for (const raw of [path, `${path}?q=1`]) assert.deepEqual(readTarget(raw), readBySegments(pathPart, raw), `for ${JSON.stringify(raw)}`);
    }
  });

  it('still refuses dot segments, empty segments and encodings next to plain ones', () => {
    for (const raw of ['/a/./b', '/a/../b', '/..', '/.', '/a/.', '/a//b', '//a', '/a/%2e%2e/b', '/a;x/b']) {
      const read = readTarget(raw);
      if (raw === '/a;x/b') assert.deepEqual(read, { ok: true, path: '/a/b', raw });
      else assert.equal(read.ok, false, raw);
    }
    assert.deepEqual(readTarget('/a/.well-known/b..c/d.'), { ok: true, path: '/a/.well-known/b..c/d.', raw: '/a/.well-known/b..c/d.' });
  });
});
