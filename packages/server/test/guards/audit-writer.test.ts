// The batched audit writer on mocked timers: batches by size and by time, retries while the
// store is down with a bounded buffer, and writes what is left on close.

import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { createAuditBatchWriter, type GuardLog, type NewAuditEvent } from '../../src/guards/audit-writer.ts';
import { InvalidValueError } from '../../src/storage/errors.ts';

function fakeStore() {
  const batches: NewAuditEvent[][] = [];
  const store = {
    down: false,
    /** Events the store can never take (as PostgreSQL refuses NUL in text). */
    refuses: (e: NewAuditEvent): boolean => e.actor.includes('\u0000'),
    batches,
    get written(): NewAuditEvent[] {
      return batches.flat();
    },
    async appendAuditBatch(events: readonly NewAuditEvent[]): Promise<void> {
      if (store.down) throw new Error('connection refused');
      if (events.some(store.refuses)) throw new InvalidValueError('a value cannot be stored');
      batches.push([...events]);
    },
  };
  return store;
}

function fakeLog() {
  const lines: { level: 'warn' | 'error'; details: object; message: string }[] = [];
  const log: GuardLog = {
    warn: (details, message) => lines.push({ level: 'warn', details, message }),
    error: (details, message) => lines.push({ level: 'error', details, message }),
  };
  return { log, lines };
}

const event = (n: number): NewAuditEvent => ({ at: n, actor: 'alpha.api', type: 'token.issued', target: 'alpha.api', before: null, after: { n } });

/** Lets the writer's promises settle (the mocked clock does not move on its own). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await nextTurn();
}

describe('audit batch writer', () => {
  beforeEach(() => {
    mock.timers.reset();
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => mock.timers.reset());

  it('writes buffered events once the interval passes, in one batch, in order', async () => {
    const store = fakeStore();
    const writer = createAuditBatchWriter({ store, log: fakeLog().log, intervalMs: 500 });
    for (let i = 0; i < 3; i++) writer.write(event(i));
    mock.timers.tick(499);
    await settle();
    assert.equal(store.batches.length, 0, 'nothing is written on the request path or early');
    mock.timers.tick(1);
    await settle();
    assert.deepEqual(store.batches, [[event(0), event(1), event(2)]]);
    assert.equal(writer.buffered, 0);
  });

  it('writes at once when a full batch is waiting, without waiting for the interval; the rest waits for it', async () => {
    const store = fakeStore();
    const writer = createAuditBatchWriter({ store, log: fakeLog().log, batchSize: 10, intervalMs: 500 });
    for (let i = 0; i < 25; i++) writer.write(event(i));
    assert.equal(store.batches.length, 0, 'not synchronously inside write()');
    mock.timers.tick(0);
    await settle();
    assert.deepEqual(
      store.batches.map((b) => b.length),
      [10, 10],
      'full batches at once',
    );
    mock.timers.tick(500);
    await settle();
    assert.deepEqual(
      store.batches.map((b) => b.length),
      [10, 10, 5],
      'the partial batch at the next interval, not right behind them',
    );
    assert.deepEqual(
      store.written.map((e) => e.at),
      Array.from({ length: 25 }, (_, i) => i),
    );
  });

  it('flush() writes everything buffered now', async () => {
    const store = fakeStore();
    const writer = createAuditBatchWriter({ store, log: fakeLog().log });
    writer.write(event(1));
    await writer.flush();
    assert.deepEqual(store.written, [event(1)]);
  });

  it('a flush with nothing buffered leaves the writer working: later events are written and flushed', async () => {
    const store = fakeStore();
    const writer = createAuditBatchWriter({ store, log: fakeLog().log });
    await writer.flush();
    writer.write(event(1));
    await writer.flush();
    writer.write(event(2));
    mock.timers.tick(500);
    await settle();
    assert.deepEqual(store.written, [event(1), event(2)]);
  });

  it('keeps events while the store is down and writes them when it is back', async () => {
    const store = fakeStore();
    const { log, lines } = fakeLog();
    const writer = createAuditBatchWriter({ store, log, intervalMs: 500 });
    store.down = true;
    writer.write(event(1));
    writer.write(event(2));
    await assert.rejects(writer.flush(), /2 audit events could not be written/);
    assert.equal(writer.buffered, 2);
    assert.ok(lines.some((l) => l.level === 'warn' && /audit store unavailable/.test(l.message)));
    // Retries while down say nothing more: one line when it starts, one when it ends.
    for (let i = 0; i < 4; i++) {
      mock.timers.tick(500);
      await settle();
    }
    store.down = false;
    mock.timers.tick(500);
    await settle();
    assert.deepEqual(store.written, [event(1), event(2)]);
    assert.equal(writer.dropped, 0);
    assert.deepEqual(
      lines.map((l) => l.message.split(':')[0]),
      ['audit store unavailable', 'audit store answering again'],
    );
  });

  it('an event the store can never take is dropped alone, not retried forever in front of the rest', async () => {
    const store = fakeStore();
    const { log, lines } = fakeLog();
    const writer = createAuditBatchWriter({ store, log, intervalMs: 500 });
    const poison = { ...event(2), actor: 'a\u0000b' };
    for (const e of [event(1), poison, event(3)]) writer.write(e);
    await writer.flush();
    assert.deepEqual(store.written, [event(1), event(3)]);
    assert.equal(writer.buffered, 0);
    assert.equal(writer.dropped, 1);
    assert.ok(lines.some((l) => l.level === 'error' && /cannot take was dropped/.test(l.message)));
    writer.write(event(4));
    await writer.flush();
    assert.deepEqual(store.written.at(-1), event(4), 'later events are written as usual');
  });

  it('holds at most maxBuffered events while the store is down, dropping and counting the oldest', async () => {
    const store = fakeStore();
    const { log, lines } = fakeLog();
    let dropMetric = 0;
    const writer = createAuditBatchWriter({ store, log, batchSize: 10, maxBuffered: 100, onDrop: (n) => (dropMetric += n) });
    store.down = true;
    for (let i = 0; i < 1000; i++) writer.write(event(i));
    mock.timers.tick(0);
    await settle();
    assert.equal(writer.buffered, 100);
    assert.equal(writer.dropped, 900);
    assert.equal(dropMetric, 900);
    assert.ok(
      lines.some((l) => l.level === 'warn' && /900 dropped/.test(l.message)),
      JSON.stringify(lines.map((l) => l.message)),
    );
    store.down = false;
    await writer.flush();
    assert.deepEqual(
      store.written.map((e) => e.at),
      Array.from({ length: 100 }, (_, i) => 900 + i),
      'the newest events are the ones kept',
    );
  });

  it('close() writes what is left and stops the timer', async () => {
    const store = fakeStore();
    const writer = createAuditBatchWriter({ store, log: fakeLog().log, intervalMs: 500 });
    for (let i = 0; i < 3; i++) writer.write(event(i));
    await writer.close();
    assert.equal(store.written.length, 3);
    writer.write(event(99));
    assert.equal(writer.dropped, 1, 'a write after close is counted as lost, not buffered forever');
    mock.timers.tick(10_000);
    await settle();
    assert.equal(store.written.length, 3);
  });

  it('close() never rejects: with the store down it logs and counts what is lost', async () => {
    const store = fakeStore();
    const { log, lines } = fakeLog();
    const writer = createAuditBatchWriter({ store, log });
    store.down = true;
    writer.write(event(1));
    await writer.close();
    assert.equal(writer.dropped, 1);
    assert.ok(lines.some((l) => l.level === 'error' && /1 token audit events were lost at shutdown/.test(l.message)));
  });

  it('events written during a slow batch go out in the same drain', async () => {
    const store = fakeStore();
    let release: () => void = () => undefined;
    const slow = {
      async appendAuditBatch(events: readonly NewAuditEvent[]): Promise<void> {
        if (store.batches.length === 0) await new Promise<void>((resolve) => (release = resolve));
        await store.appendAuditBatch(events);
      },
    };
    const writer = createAuditBatchWriter({ store: slow, log: fakeLog().log, intervalMs: 500 });
    writer.write(event(1));
    mock.timers.tick(500);
    await settle();
    writer.write(event(2));
    release();
    await writer.flush();
    assert.deepEqual(store.written, [event(1), event(2)]);
  });
});
