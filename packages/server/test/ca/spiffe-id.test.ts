// principalOfSpiffeIds: the one reader of a service certificate's SPIFFE ID (mTLS and renewal
// both call it), the inverse of serviceIdentity.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { principalOfSpiffeIds, serviceIdentity } from '../../src/ca/service-identity.ts';

const TD = 'tessera.test';

describe('reading a SPIFFE ID back into a principal', () => {
  it('reads what serviceIdentity writes, also for a domain with dots', () => {
    for (const principal of ['alpha.api', 'sys.auth.admin']) {
      const { spiffeId } = serviceIdentity(principal, { trustDomain: TD, dnsSuffix: 'svc.tessera.test' }, null);
      assert.equal(principalOfSpiffeIds([spiffeId, 'https://example.com/x'], TD), principal);
    }
  });

  it('names nobody for another trust domain, another shape, or an invalid name', () => {
    for (const uri of [
      'spiffe://other.test/alpha/api',
      'spiffe://tessera.test/alpha',
      'spiffe://tessera.test/alpha/api/x',
      'spiffe://tessera.test/Alpha/api',
      'SPIFFE://tessera.test/alpha/api',
    ]) {
      assert.equal(principalOfSpiffeIds([uri], TD), null, uri);
    }
  });

  it('names nobody when there are two SPIFFE IDs, whatever the letter case of the second', () => {
    assert.equal(principalOfSpiffeIds(['spiffe://tessera.test/alpha/api', 'SPIFFE://tessera.test/sys.auth/admin'], TD), null);
    assert.equal(principalOfSpiffeIds(['spiffe://tessera.test/alpha/api', 'spiffe://other.test/beta/api'], TD), null);
  });

  it('names nobody without a SPIFFE ID: there is no fallback to the subject CN', () => {
    assert.equal(principalOfSpiffeIds([], TD), null);
  });
});
