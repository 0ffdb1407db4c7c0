import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callerStanding, isServiceActive, serviceStanding } from '../../src/policy/service-standing.ts';
import type { Service } from '../../src/storage/records.ts';

const NOW = 1_800_000_000_000;

function service(patch: Partial<Service> = {}): Service {
  return {
    principal: 'alpha.api',
    domain: 'alpha',
    name: 'api',
    clientId: 'alpha.api',
    description: null,
    accountId: null,
    status: 'ACTIVE',
    allowedIps: [],
    expiresAt: null,
    createdAt: NOW - 1000,
    updatedAt: NOW - 1000,
    keyRemovedAt: null,
    ...patch,
  };
}

describe('whether a service is active now', () => {
  it('an ACTIVE service without an end, or whose end is still ahead, is active', () => {
    assert.equal(serviceStanding(service(), NOW), 'active');
    assert.equal(serviceStanding(service({ expiresAt: NOW + 1 }), NOW), 'active');
    assert.equal(isServiceActive(service(), NOW), true);
  });

  it('a missing service, a DISABLED one, and one whose end has come are not, each with its reason', () => {
    assert.equal(serviceStanding(null, NOW), 'missing');
    assert.equal(serviceStanding(service({ status: 'DISABLED' }), NOW), 'disabled');
    assert.equal(serviceStanding(service({ status: 'DISABLED', expiresAt: NOW - 1 }), NOW), 'disabled');
    assert.equal(serviceStanding(service({ expiresAt: NOW }), NOW), 'expired', 'its end is exclusive');
    assert.equal(serviceStanding(service({ expiresAt: NOW - 1 }), NOW), 'expired');
    for (const candidate of [null, service({ status: 'DISABLED' }), service({ expiresAt: NOW })]) {
      assert.equal(isServiceActive(candidate, NOW), false);
    }
  });
});

describe('the standing of a caller that proved it is the service', () => {
  it('an empty allowedIps allows every address', () => {
    assert.equal(callerStanding(service(), '203.0.113.9', NOW), 'active');
  });

  it('allowedIps that include the address leave it active, IPv4-mapped IPv6 included', () => {
    const ranged = service({ allowedIps: ['10.9.9.0/24', '2001:db8::/32'] });
    assert.equal(callerStanding(ranged, '10.9.9.7', NOW), 'active');
    assert.equal(callerStanding(ranged, '::ffff:10.9.9.7', NOW), 'active');
    assert.equal(callerStanding(ranged, '2001:db8::1', NOW), 'active');
  });

  it('allowedIps that leave out the address answer outside-ranges', () => {
    assert.equal(callerStanding(service({ allowedIps: ['10.9.9.0/24'] }), '127.0.0.1', NOW), 'outside-ranges');
  });

  it('a disabled, expired or missing service answers that first, wherever it calls from', () => {
    assert.equal(callerStanding(service({ status: 'DISABLED', allowedIps: ['10.9.9.0/24'] }), '127.0.0.1', NOW), 'disabled');
    assert.equal(callerStanding(service({ expiresAt: NOW, allowedIps: ['10.9.9.0/24'] }), '127.0.0.1', NOW), 'expired');
    assert.equal(callerStanding(null, '127.0.0.1', NOW), 'missing');
  });
});
