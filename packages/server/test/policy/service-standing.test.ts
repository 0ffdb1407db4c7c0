import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isServiceActive, serviceStanding } from '../../src/policy/service-standing.ts';
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
