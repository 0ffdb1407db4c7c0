// The gateway's log lines: access lines written together at the end of a turn of the event loop
// and at most once per FLUSH_MS, every other line at once, and the order of lines always the
// order of the entries.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogWriter, FLUSH_MS } from '../src/observability/log-writer.ts';

const at = new Date('2026-12-05T12:00:00.000Z');

function recorder(): { writes: string[]; lines: () => Record<string, unknown>[] } {
  const writes: string[] = [];
  return {
    writes,
    lines: () =>
      writes
        .join('')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('log writer', () => {
  it("puts a cluster worker's fixed fields after the time of every line; an entry's own value of one wins", () => {
    const sink = recorder();
    const writer = createLogWriter({ write: (text: string) => sink.writes.push(text) }, () => at, { worker: 1, pid: 42 });
    writer.log({ level: 'info', msg: 'started' });
    writer.log({ msg: 'access', path: '/a' });
    writer.log({});
    writer.log({ msg: 'mine', pid: 7 });
    writer.flush();
    assert.match(sink.writes[0]!, /^\{"time":"2026-12-05T12:00:00.000Z","worker":1,"pid":42,"level":"info","msg":"started"\}\n$/);
    assert.deepEqual(sink.lines(), [
      { time: at.toISOString(), worker: 1, pid: 42, level: 'info', msg: 'started' },
      { time: at.toISOString(), worker: 1, pid: 42, msg: 'access', path: '/a' },
      { time: at.toISOString(), worker: 1, pid: 42 },
      { time: at.toISOString(), worker: 1, pid: 7, msg: 'mine' },
    ]);
  });

  it('writes the access lines of one turn of the event loop in one write, before the loop reads sockets again', async () => {
    const sink = recorder();
    const writer = createLogWriter({ write: (text: string) => sink.writes.push(text) }, () => at);
    for (let i = 0; i < 5; i++) writer.log({ msg: 'access', path: `/${i}` });
    assert.equal(sink.writes.length, 0, 'nothing written yet');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sink.writes.length, 1);
    assert.deepEqual(
      sink.lines().map((line) => line['path']),
      ['/0', '/1', '/2', '/3', '/4'],
    );
    assert.equal(sink.lines()[0]!['time'], at.toISOString());
  });

  it('writes access lines no sooner than FLUSH_MS after its last write, in one write', async () => {
    const sink = recorder();
    const writer = createLogWriter({ write: (text: string) => sink.writes.push(text) }, () => at);
    writer.log({ msg: 'access', path: '/first' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sink.writes.length, 1, 'the first line after a quiet spell is written at the end of its turn');
    writer.log({ msg: 'access', path: '/a' });
    await new Promise((resolve) => setImmediate(resolve));
    writer.log({ msg: 'access', path: '/b' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sink.writes.length, 1, 'lines right after a write wait for the next one');
    await new Promise((resolve) => setTimeout(resolve, FLUSH_MS + 20));
    assert.equal(sink.writes.length, 2);
    assert.deepEqual(
      sink.lines().map((line) => line['path']),
      ['/first', '/a', '/b'],
    );
  });

  it('writes any other line at once, after the access lines logged before it', () => {
    const sink = recorder();
    const writer = createLogWriter({ write: (text: string) => sink.writes.push(text) }, () => at);
    writer.log({ msg: 'gateway listening' });
    assert.equal(sink.writes.length, 1, 'an event line is written at once');
    writer.log({ msg: 'access', path: '/a' });
    writer.log({ level: 'error', msg: 'request failed' });
    assert.deepEqual(
      sink.lines().map((line) => line['msg']),
      ['gateway listening', 'access', 'request failed'],
    );
  });

  it('writes at once when 64 KiB of access lines wait, and flush() writes the rest', () => {
    const sink = recorder();
    const writer = createLogWriter({ write: (text: string) => sink.writes.push(text) }, () => at);
    const path = `/${'x'.repeat(1000)}`;
    for (let i = 0; i < 70; i++) writer.log({ msg: 'access', path });
    assert.equal(sink.writes.length, 1, 'one write once the batch passed 64 KiB');
    writer.log({ msg: 'access', path: '/last' });
    writer.flush();
    assert.equal(sink.writes.length, 2);
    assert.equal(sink.lines().length, 71);
    assert.equal(sink.lines().at(-1)!['path'], '/last');
  });
});

describe('log line serialization', () => {
  it('writes what JSON.stringify({ time, ...entry }) writes, for empty entries and entries carrying their own time', () => {
    const entries: Record<string, unknown>[] = [
      { msg: 'gateway listening', url: 'http://127.0.0.1:1', routes: 2 },
      {},
      { time: 'the entry says', msg: 'x' },
      { msg: 'with "quotes"\nand a newline', nested: { a: [1, null] }, skipped: undefined },
    ];
    for (const entry of entries) {
      const rec = recorder();
      const writer = createLogWriter({ write: (text) => rec.writes.push(text) }, () => at);
      writer.log(entry);
      assert.equal(rec.writes.join(''), `${JSON.stringify({ time: at.toISOString(), ...entry })}\n`);
    }
  });
});
