// The delegation chain (RFC 8693 `act`): read into AuthContext.actors outermost first, malformed
// `act` claims refused, and the per-call policy (required, maxDepth, allowedActors) enforced for
// tokens and API keys alike.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createVerifier, delegationChain, InvalidTokenError, type Verifier } from '../src/verifier/index.ts';
import { startIssuer, type TestIssuer } from './verifier-fixtures.ts';

describe('verifier: delegation', () => {
  let issuer: TestIssuer;
  let verifier: Verifier;
  const delegationRefusal =
    (pattern: RegExp) =>
    (error: unknown): boolean =>
      error instanceof InvalidTokenError && error.reason === 'delegation' && pattern.test(error.message);

  before(async () => {
    issuer = await startIssuer();
    verifier = createVerifier({ issuer: issuer.url, audience: 'beta' });
  });
  after(() => issuer.close());

  it('a direct call has no actors; a delegated one lists them outermost first', async () => {
    assert.deepEqual((await verifier.verify(await issuer.sign())).actors, []);
    const chained = await verifier.verify(await issuer.sign({ act: { sub: 'edge.gw', act: { sub: 'mesh.proxy' } } }));
    assert.equal(chained.principal, 'alpha.api');
    assert.deepEqual(chained.actors, ['edge.gw', 'mesh.proxy']);
    assert.ok(Object.isFrozen(chained.actors));
  });

  it('refuses a malformed act claim', async () => {
    for (const act of ['edge.gw', { sub: 7 }, { sub: '' }, [{ sub: 'edge.gw' }], { sub: 'a', act: null }]) {
      await assert.rejects(
        verifier.verify(await issuer.sign({ act })),
        (e: unknown) => e instanceof InvalidTokenError && e.reason === 'claims' && /"act"/.test(e.message),
      );
    }
    let deep: Record<string, unknown> = { sub: 'x' };
    for (let i = 0; i < 20; i++) deep = { sub: `a${i}`, act: deep };
    assert.equal(delegationChain(deep), null);
  });

  it('required refuses a direct call', async () => {
    await assert.rejects(verifier.verify(await issuer.sign(), { delegation: { required: true } }), delegationRefusal(/on someone's behalf/));
    await verifier.verify(await issuer.sign({ act: { sub: 'edge.gw' } }), { delegation: { required: true } });
  });

  it('maxDepth caps the chain; 0 refuses every delegated token', async () => {
    const two = await issuer.sign({ act: { sub: 'edge.gw', act: { sub: 'mesh.proxy' } } });
    await verifier.verify(two, { delegation: { maxDepth: 2 } });
    await assert.rejects(verifier.verify(two, { delegation: { maxDepth: 1 } }), delegationRefusal(/2 actor\(s\).*at most 1/));
    await assert.rejects(
      verifier.verify(await issuer.sign({ act: { sub: 'edge.gw' } }), { delegation: { maxDepth: 0 } }),
      delegationRefusal(/no delegated token/),
    );
    await verifier.verify(await issuer.sign(), { delegation: { maxDepth: 0 } });
  });

  it('allowedActors names the only services that may act, at every depth', async () => {
    const policy = { allowedActors: ['edge.gw'] };
    await verifier.verify(await issuer.sign({ act: { sub: 'edge.gw' } }), { delegation: policy });
    await assert.rejects(verifier.verify(await issuer.sign({ act: { sub: 'rogue.svc' } }), { delegation: policy }), delegationRefusal(/"rogue.svc"/));
    await assert.rejects(
      verifier.verify(await issuer.sign({ act: { sub: 'edge.gw', act: { sub: 'rogue.svc' } } }), { delegation: policy }),
      delegationRefusal(/"rogue.svc"/),
    );
  });

  it('refuses a malformed policy with a TypeError', async () => {
    const token = await issuer.sign();
    await assert.rejects(verifier.verify(token, { delegation: { maxDepth: -1 } }), /maxDepth must be/);
    await assert.rejects(verifier.verify(token, { delegation: { allowedActors: 'edge.gw' as unknown as string[] } }), /allowedActors must be/);
  });
});
