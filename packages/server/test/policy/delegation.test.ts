// policy/delegation.ts: the act chain's shape (RFC 8693 §4.1: current actor outermost), who
// holds a token, and which roles a chain may carry.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { actClaim, actorsOf, exchangedFromOf, holderOf, mayActOf, roleAllows, rolesCarried } from '../../src/policy/delegation.ts';
import type { HeldRole } from '../../src/storage/records.ts';

const held = (actors: string[], impersonators: string[] = []): HeldRole => ({
  domain: 'orders',
  role: 'readers',
  maxLifetime: null,
  expiresAt: null,
  delegation: { actors, impersonators, idTokenSubjects: false },
});

describe('the act chain', () => {
  it('nests earlier actors inside the current one, and reads them back in the same order', () => {
    assert.equal(actClaim([]), undefined);
    assert.deepEqual(actClaim(['d.x']), { sub: 'd.x' });
    assert.deepEqual(actClaim(['d.x', 'c.x', 'b.x']), { sub: 'd.x', act: { sub: 'c.x', act: { sub: 'b.x' } } });
    assert.deepEqual(actorsOf(actClaim(['d.x', 'c.x', 'b.x'])), ['d.x', 'c.x', 'b.x']);
    assert.deepEqual(actorsOf(undefined), []);
  });

  it('refuses a chain that is not one Tessera writes', () => {
    const malformed = [null, 'b.x', [], { act: { sub: 'b.x' } }, { sub: '' }, { sub: 'c.x', act: 'b.x' }];
    for (const bad of malformed) assert.equal(actorsOf(bad), null, JSON.stringify(bad));
    const deep = actClaim(Array.from({ length: 40 }, (_, i) => `d${i}.x`));
    assert.equal(actorsOf(deep), null, 'nested deeper than any configurable depth');
  });

  it('tells who holds a token: its subject, a chain whose current actor is the client, or an impersonator', () => {
    assert.deepEqual(holderOf({ sub: 'a.x', client_id: 'a.x' }), { actors: [], mode: null });
    assert.deepEqual(holderOf({ sub: 'a.x', client_id: 'c.x', act: actClaim(['c.x', 'b.x']) }), { actors: ['c.x', 'b.x'], mode: 'delegation' });
    assert.deepEqual(holderOf({ sub: 'a.x', client_id: 'b.x' }), { actors: ['b.x'], mode: 'impersonation' });
    assert.equal(holderOf({ sub: 'a.x', client_id: 'b.x', act: { sub: 'c.x' } }), null, 'act and client_id disagree');
  });

  it('reads may_act and exchanged_from strictly', () => {
    assert.equal(mayActOf(undefined), undefined);
    assert.equal(mayActOf({ sub: 'b.x' }), 'b.x');
    assert.equal(mayActOf({}), null);
    assert.deepEqual(exchangedFromOf(undefined), []);
    assert.deepEqual(exchangedFromOf(['j1', 'j2']), ['j1', 'j2']);
    assert.equal(exchangedFromOf('j1'), null);
    assert.equal(exchangedFromOf(['j1', 2]), null);
  });
});

describe('roleAllows', () => {
  it('needs every actor of the chain listed, and nobody by default', () => {
    assert.equal(roleAllows({ domain: 'orders', role: 'readers', maxLifetime: null, expiresAt: null }, ['b.x'], 'delegation'), false);
    assert.equal(roleAllows(held(['b.x', 'c.x']), ['c.x', 'b.x'], 'delegation'), true);
    assert.equal(roleAllows(held(['c.x']), ['c.x', 'b.x'], 'delegation'), false, 'an earlier hop not allowed');
    assert.equal(roleAllows(held(['b.x']), [], 'delegation'), false);
  });

  it('keeps impersonation apart from delegation, and to one actor', () => {
    assert.equal(roleAllows(held(['b.x']), ['b.x'], 'impersonation'), false, 'an actor is no impersonator');
    assert.equal(roleAllows(held([], ['b.x']), ['b.x'], 'delegation'), false, 'an impersonator is no actor');
    assert.equal(roleAllows(held([], ['b.x']), ['b.x'], 'impersonation'), true);
    assert.equal(roleAllows(held([], ['b.x', 'c.x']), ['c.x', 'b.x'], 'impersonation'), false);
  });
});

describe('rolesCarried', () => {
  it('names the roles of a one-domain token with its domain, and keeps those of a several-domain token that name one of its domains', () => {
    assert.deepEqual(rolesCarried({ aud: 'orders', scp: ['readers', 'writers'] }), ['orders:readers', 'orders:writers']);
    assert.deepEqual(rolesCarried({ aud: ['orders'], scp: ['readers'] }), ['orders:readers']);
    assert.deepEqual(rolesCarried({ aud: ['orders', 'back'], scp: ['orders:readers', 'back:callers', 'elsewhere:x'] }), ['orders:readers', 'back:callers']);
  });
  it("carries nothing for claims that are not a token of Tessera's", () => {
    assert.deepEqual(rolesCarried({ aud: 'orders', scp: 'readers' }), []);
    assert.deepEqual(rolesCarried({ aud: 'orders', scp: [1] }), []);
    assert.deepEqual(rolesCarried({ scp: ['readers'] }), []);
  });
});
