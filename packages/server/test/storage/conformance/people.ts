import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { NotFoundError } from '../../../src/storage/errors.ts';
import type { StoreHarness } from './harness.ts';
import { storeTest } from './harness.ts';

const by = { actor: 'test' };

export function peopleBindings(harness: StoreHarness): void {
  describe("people's OpenID Connect bindings", () => {
    storeTest(harness, 'binds a principal once: a second identity gets the first binding back; deleting it lets the next bind', async (store) => {
      assert.equal(await store.getPersonBinding('user.kate'), null);
      const first = await store.bindPerson({ principal: 'user.kate', issuer: 'https://idp.example', subject: 's-1' }, by);
      assert.deepEqual([first.issuer, first.subject], ['https://idp.example', 's-1']);
      const again = await store.bindPerson({ principal: 'user.kate', issuer: 'https://idp.example', subject: 's-2' }, by);
      assert.deepEqual(again, first);
      assert.deepEqual(await store.getPersonBinding('user.kate'), first);
      const deleted = await store.deletePersonBinding('user.kate', { actor: 'sys.auth.admin' });
      assert.deepEqual(deleted, first);
      await assert.rejects(store.deletePersonBinding('user.kate', by), NotFoundError);
      const next = await store.bindPerson({ principal: 'user.kate', issuer: 'https://idp.example', subject: 's-2' }, by);
      assert.equal(next.subject, 's-2');
      const events = await store.queryAudit({ limit: 100 });
      const types = events.filter((e) => e.target === 'user.kate').map((e) => e.type);
      assert.deepEqual(types.sort(), ['person.bind', 'person.bind', 'person.unbind']);
    });
  });
}
