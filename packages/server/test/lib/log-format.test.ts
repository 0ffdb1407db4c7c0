import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prettyLine, prettyStream, resolveLogFormat } from '../../src/lib/log-format.ts';

describe('the pretty log format', () => {
  const at = new Date(2026, 11, 4, 9, 5, 7, 42).getTime();

  it('prints time, level, message, then the fields as key=value, leaving out pid and hostname', () => {
    const line = JSON.stringify({ level: 30, time: at, pid: 12, hostname: 'h', url: 'https://127.0.0.1:8443', workers: 2, msg: 'tessera is serving' });
    assert.equal(prettyLine(line), '09:05:07.042 INFO  tessera is serving url=https://127.0.0.1:8443 workers=2');
  });

  it('prints an error as its message (and code), quoted when it has spaces', () => {
    const line = JSON.stringify({
      level: 50,
      time: at,
      err: { type: 'Error', message: 'connection refused', code: 'ECONNREFUSED', stack: 'Error: …' },
      msg: 'storage is failing',
    });
    assert.equal(prettyLine(line), '09:05:07.042 ERROR storage is failing err="connection refused (ECONNREFUSED)"');
  });

  it('prints nested objects as JSON and passes a line that is not JSON through', () => {
    assert.equal(prettyLine(JSON.stringify({ level: 40, time: at, limits: { max: 2 }, msg: 'm' })), '09:05:07.042 WARN  m limits={"max":2}');
    assert.equal(prettyLine('not json'), 'not json');
  });

  it('escapes control characters, DEL, C1 controls and line separators in the message, the fields and their names', () => {
    const nasty = 'a\u001b[2Jb\u0007c\nd\re\u007ff\u0085g\u009bh\u2028i\u2029j';
    const escaped = 'a\\u001b[2Jb\\u0007c\\nd\\re\\u007ff\\u0085g\\u009bh\\u2028i\\u2029j';
    const line = prettyLine(
      JSON.stringify({ level: 40, time: at, msg: `failed for ${nasty}`, target: nasty, [`k${nasty}`]: 1, nested: { v: nasty }, err: { message: nasty } }),
    );
    assert.ok(!/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(line), JSON.stringify(line));
    assert.equal(line, `09:05:07.042 WARN  failed for ${escaped} target="${escaped}" k${escaped}=1 nested={"v":"${escaped}"} err="${escaped}"`);
    // A value that needs no quoting apart from a control character is quoted, so it stays one field.
    assert.equal(prettyLine(JSON.stringify({ level: 30, time: at, msg: 'm', id: 'x\u001by' })), '09:05:07.042 INFO  m id="x\\u001by"');
    assert.equal(prettyLine('not json \u001b[2J\u0085'), 'not json \\u001b[2J\\u0085');
  });

  it('reformats whole lines however the stream is handed them', () => {
    const out: string[] = [];
    const stream = prettyStream({ write: (text) => out.push(text) });
    const one = JSON.stringify({ level: 30, time: at, msg: 'one' });
    const two = JSON.stringify({ level: 30, time: at, msg: 'two' });
    stream.write(`${one}\n${two.slice(0, 5)}`);
    stream.write(`${two.slice(5)}\n`);
    assert.deepEqual(out, ['09:05:07.042 INFO  one\n', '09:05:07.042 INFO  two\n']);
  });

  it('is pretty on a terminal and JSON elsewhere unless asked', () => {
    assert.equal(resolveLogFormat('auto', true), 'pretty');
    assert.equal(resolveLogFormat('auto', false), 'json');
    assert.equal(resolveLogFormat(undefined, undefined), 'json');
    assert.equal(resolveLogFormat('json', true), 'json');
    assert.equal(resolveLogFormat('pretty', false), 'pretty');
  });
});
