// Review 4 (outside attacker): the pretty log format (`--log-format pretty`, the default on a
// terminal) prints request data to the operator's terminal. An unauthenticated caller chooses the
// client_id of a failed token request, and a failed-authentication alert logs it (msg and target).
// A test FAILS while a terminal control character or a line break from the request reaches the
// terminal as it is.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { prettyLine } from '../../src/lib/log-format.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

// ESC and BEL; no whitespace, quote or '=' so that the quoting rule does not apply.
const OSC52 = '\u001b]52;c;cm0gLXJmIH4K\u0007';
const CLEAR = '\u001b[2J\u001b[H';
const FORGED = 'x\n09:00:00.000 INFO  tessera is serving url=https://evil.example:8443';

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f\u009b]/;

describe('review4: request data in the pretty log', () => {
  let server: TestServer | undefined;
  const lines: string[] = [];
  after(async () => {
    await server?.stop();
  });

  it('a client_id with terminal escapes and a line break does not reach the terminal raw (end to end)', async () => {
    server = await startTestServer({
      flags: { logLevel: 'warn', logFormat: 'pretty' },
      env: { TESSERA_ALERT_FAILURE_THRESHOLD: '1' },
      logStream: { write: (text: string) => void lines.push(text) },
    });
    const answers: string[] = [];
    for (const clientId of [`${OSC52}${CLEAR}`, FORGED]) {
      const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: 'wrong' }).toString();
      const res = await server.send('/oauth2/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      answers.push(`${res.status} ${res.text}`);
    }
    // The alert is logged when the failure is counted (asynchronously after the answer).
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !lines.join('').includes('evil.example')) await new Promise((r) => setTimeout(r, 50));
    const printed = lines.join('');
    assert.ok(printed.includes('failed client authentications'), `no alert line was logged: ${JSON.stringify(printed.slice(0, 500))}`);
    assert.ok(
      !CONTROL.test(printed),
      `a terminal control character from the request reached the terminal: ${JSON.stringify(printed.split('\n').find((l) => CONTROL.test(l)))}`,
    );
    const forged = printed.split('\n').filter((line) => line.startsWith('09:00:00.000 INFO  tessera is serving url=https://evil.example'));
    assert.equal(forged.length, 0, 'a caller forged a whole log line (a line break in client_id printed raw in the message)');
  });

  it('prettyLine escapes control characters in fields and in the message', () => {
    const line = JSON.stringify({ level: 40, time: 0, msg: `failed for ${FORGED}`, target: OSC52 });
    const out = prettyLine(line);
    assert.ok(!CONTROL.test(out), `control characters printed raw: ${JSON.stringify(out)}`);
    assert.ok(!out.includes('\n'), `a line break printed raw: ${JSON.stringify(out)}`);
  });
});
