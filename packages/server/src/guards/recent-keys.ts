// Per-key state for the guards (rate-limit buckets, failure counters) in bounded memory. The
// keys are whatever callers claim (any client id, any address), so a flood of made-up keys
// must not grow memory: entries untouched for `idleMs` are dropped (their state would have
// reset anyway), and past `maxKeys` the least recently touched entry goes first.

import { MAX_KEY_LENGTH } from './caller-text.ts';

interface Entry<V> {
  key: string;
  value: V;
  touchedAt: number;
  older: Entry<V> | null;
  newer: Entry<V> | null;
}

export class RecentKeys<V> {
  // A list in touch order beside the Map. Not the Map's own insertion order: V8 leaves a hole
  // for each deleted entry until it rehashes, so finding the oldest key by iterating the Map
  // costs O(deleted) per call, which a flood of made-up keys turns into a CPU sink.
  readonly #entries = new Map<string, Entry<V>>();
  #oldest: Entry<V> | null = null;
  #newest: Entry<V> | null = null;
  readonly #maxKeys: number;
  readonly #idleMs: number;

  constructor(options: { maxKeys: number; idleMs: number }) {
    if (!(options.maxKeys >= 1)) throw new RangeError(`maxKeys must be at least 1, got ${options.maxKeys}`);
    this.#maxKeys = options.maxKeys;
    this.#idleMs = options.idleMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The state of `key` (made with `create` when missing or dropped), now marked most recent. */
  touch(key: string, now: number, create: () => V): V {
    this.#dropIdle(now);
    const id = key.length > MAX_KEY_LENGTH ? key.slice(0, MAX_KEY_LENGTH) : key;
    const found = this.#entries.get(id);
    if (found) {
      this.#unlink(found);
      found.touchedAt = Math.max(found.touchedAt, now);
      this.#append(found);
      return found.value;
    }
    if (this.#entries.size >= this.#maxKeys && this.#oldest) this.#remove(this.#oldest);
    const entry: Entry<V> = { key: id, value: create(), touchedAt: now, older: null, newer: null };
    this.#entries.set(id, entry);
    this.#append(entry);
    return entry.value;
  }

  /** Amortised O(1): stops at the first entry that is still live, since all newer ones are too. */
  #dropIdle(now: number): void {
    while (this.#oldest && this.#oldest.touchedAt + this.#idleMs <= now) this.#remove(this.#oldest);
  }

  #remove(entry: Entry<V>): void {
    this.#unlink(entry);
    this.#entries.delete(entry.key);
  }

  #unlink(entry: Entry<V>): void {
    if (entry.older) entry.older.newer = entry.newer;
    else this.#oldest = entry.newer;
    if (entry.newer) entry.newer.older = entry.older;
    else this.#newest = entry.older;
    entry.older = null;
    entry.newer = null;
  }

  #append(entry: Entry<V>): void {
    entry.older = this.#newest;
    if (this.#newest) this.#newest.newer = entry;
    else this.#oldest = entry;
    this.#newest = entry;
  }
}
