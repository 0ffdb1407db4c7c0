// The bounded per-key memory under every guard: idle entries go, and past the cap the least
// recently touched one goes first.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentKeys } from '../../src/guards/recent-keys.ts';

describe('RecentKeys', () => {
  it('keeps the state of a key between touches', () => {
    const keys = new RecentKeys<{ n: number }>({ maxKeys: 10, idleMs: 1000 });
    keys.touch('a', 0, () => ({ n: 0 })).n += 1;
    assert.equal(keys.touch('a', 10, () => ({ n: 0 })).n, 1);
  });

  it('drops an entry left alone for idleMs, and only those', () => {
    const keys = new RecentKeys<number>({ maxKeys: 10, idleMs: 1000 });
    keys.touch('a', 0, () => 1);
    keys.touch('b', 500, () => 2);
    keys.touch('c', 1000, () => 3);
    assert.equal(keys.size, 2);
    assert.equal(
      keys.touch('b', 1001, () => 20),
      2,
    );
    assert.equal(
      keys.touch('a', 1001, () => 10),
      10,
    );
  });

  it('evicts the least recently touched entry at the cap', () => {
    const keys = new RecentKeys<string>({ maxKeys: 3, idleMs: 1e9 });
    for (const key of ['a', 'b', 'c']) keys.touch(key, 0, () => key);
    keys.touch('a', 1, () => 'new a');
    keys.touch('d', 2, () => 'd');
    assert.equal(keys.size, 3);
    assert.equal(
      keys.touch('a', 3, () => 'new a'),
      'a',
      'a was touched, so b went instead',
    );
    assert.equal(
      keys.touch('b', 4, () => 'new b'),
      'new b',
    );
  });

  it('stays at its cap through 100 000 distinct keys, in well under a second', () => {
    const keys = new RecentKeys<number>({ maxKeys: 50_000, idleMs: 1e9 });
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) keys.touch(`key-${i}`, i, () => i);
    assert.equal(keys.size, 50_000);
    // Guards against an O(n) eviction (V8 Map iteration skips deleted slots one by one).
    assert.ok(performance.now() - started < 1500, `took ${performance.now() - started} ms`);
  });
});
