// The console's hash routes, outside a browser (router.ts touches no DOM): names are decoded,
// a bad or missing ?limit= is the default, and anything else is "not found", never an exception.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LIMIT, approvalsHref, callersHref, domainHref, parseRoute, reviewsHref, roleHref, systemHref, timelineHref } from '../web/router.ts';

describe('console routes', () => {
  it('reads the pages and their names', () => {
    assert.deepEqual(parseRoute(''), { page: 'domains', limit: DEFAULT_LIMIT });
    assert.deepEqual(parseRoute('#/'), { page: 'domains', limit: DEFAULT_LIMIT });
    assert.deepEqual(parseRoute('#/sign-in'), { page: 'sign-in' });
    assert.deepEqual(parseRoute('#/domains?limit=2'), { page: 'domains', limit: 2 });
    assert.deepEqual(parseRoute('#/domains/sys.auth'), { page: 'domain', domain: 'sys.auth', limit: DEFAULT_LIMIT });
    assert.deepEqual(parseRoute('#/domains/pay-prod/roles/readers?limit=1000'), { page: 'role', domain: 'pay-prod', role: 'readers', limit: 1000 });
    assert.deepEqual(parseRoute('#/domains/orders/callers'), { page: 'callers', domain: 'orders', period: '30d', limit: DEFAULT_LIMIT });
    assert.deepEqual(parseRoute('#/domains/orders/callers?period=24h&limit=5'), { page: 'callers', domain: 'orders', period: '24h', limit: 5 });
    assert.deepEqual(parseRoute('#/domains/orders/callers?period=7d'), { page: 'callers', domain: 'orders', period: '7d', limit: DEFAULT_LIMIT });
    assert.deepEqual(
      parseRoute('#/domains/orders/callers?period=1y'),
      { page: 'callers', domain: 'orders', period: '30d', limit: DEFAULT_LIMIT },
      'unknown: 30 days',
    );
    assert.deepEqual(parseRoute('#/system'), { page: 'system', period: '24h' });
    assert.deepEqual(parseRoute('#/system?period=7d'), { page: 'system', period: '7d' });
    assert.deepEqual(parseRoute('#/system?period=30d'), { page: 'system', period: '24h' }, 'unknown: 24 hours');
    assert.equal(systemHref('7d'), '#/system?period=7d');
  });

  it('reads the reviews inbox with its window, and a domain’s approvals', () => {
    assert.deepEqual(parseRoute('#/reviews'), { page: 'reviews', days: 14, limit: DEFAULT_LIMIT });
    assert.deepEqual(parseRoute('#/reviews?days=90&limit=5'), { page: 'reviews', days: 90, limit: 5 });
    assert.deepEqual(parseRoute('#/reviews?days=8'), { page: 'reviews', days: 14, limit: DEFAULT_LIMIT }, 'unknown window: 14 days');
    assert.deepEqual(parseRoute('#/domains/pay.prod/approvals'), { page: 'approvals', domain: 'pay.prod', limit: DEFAULT_LIMIT });
    assert.deepEqual(parseRoute(approvalsHref('a b')), { page: 'approvals', domain: 'a b', limit: DEFAULT_LIMIT });
    assert.equal(reviewsHref(30), '#/reviews?days=30');
    assert.equal(reviewsHref(), '#/reviews');
  });

  it('takes the default for a limit out of 1 to 1,000, and "not found" for other paths', () => {
    for (const limit of ['0', '1001', '2.5', '-1', 'many', ''])
      assert.equal((parseRoute(`#/domains?limit=${limit}`) as { limit: number }).limit, DEFAULT_LIMIT, limit);
    assert.deepEqual(parseRoute('#/domains/a/services'), { page: 'not-found', path: '/domains/a/services' });
    assert.deepEqual(parseRoute('#/elsewhere'), { page: 'not-found', path: '/elsewhere' });
    assert.deepEqual(parseRoute('#/domains/%E0%A4%A'), { page: 'not-found', path: '/domains/%E0%A4%A' }, 'a malformed escape');
    for (const dots of ['.', '..', '%2E', '%2e%2E'])
      assert.equal(parseRoute(`#/domains/${dots}/timeline`).page, 'not-found', `${dots} names no domain (the browser would resolve it in an API path)`);
    assert.equal(parseRoute('#/domains/alpha/roles/..').page, 'not-found');
  });

  it('round-trips names through the links it makes, whatever they hold', () => {
    const odd = 'a/b?c#d%e';
    assert.deepEqual(parseRoute(domainHref(odd)), { page: 'domain', domain: odd, limit: DEFAULT_LIMIT });
    assert.deepEqual(parseRoute(roleHref(odd, odd)), { page: 'role', domain: odd, role: odd, limit: DEFAULT_LIMIT });
    assert.deepEqual(parseRoute(timelineHref(odd)), { page: 'timeline', domain: odd, target: null, limit: DEFAULT_LIMIT });
    assert.deepEqual(parseRoute(timelineHref(odd, `${odd}:role.${odd}`)), {
      page: 'timeline',
      domain: odd,
      target: `${odd}:role.${odd}`,
      limit: DEFAULT_LIMIT,
    });
    assert.deepEqual(parseRoute(callersHref(odd, '7d')), { page: 'callers', domain: odd, period: '7d', limit: DEFAULT_LIMIT });
  });
});
