// Runs after the test suites (npm test: `test:unit`, then `test:hygiene`): every log line and
// audit record the end-to-end servers produced, at trace level, is searched for secrets. Not a
// *.test.ts file, so the suites' own run does not pick it up before the evidence exists.

import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { LOG_DIR_VARIABLE } from '@tessera/testkit/log-capture';
import { scanEvidence } from './scan.ts';

describe('secrets hygiene of the end-to-end suites', () => {
  it('no secret, token, key or join token in any log line or audit record', async () => {
    const setting = process.env[LOG_DIR_VARIABLE];
    assert.ok(setting, `${LOG_DIR_VARIABLE} is not set: run this through \`npm test\`, which runs the suites first`);
    const result = await scanEvidence(resolve(setting));
    console.log(
      `# hygiene: ${result.servers} servers, ${result.logLines} log lines, ${result.auditRecords} audit records, ` +
        `${result.secretsKnown} secrets handed to tests; findings: ${result.findings.length}`,
    );
    // Evidence, or the check proves nothing: the suites start well over a hundred servers.
    assert.ok(result.servers >= 50, `only ${result.servers} server logs in ${setting}`);
    assert.ok(result.auditRecords >= 1000 && result.logLines >= 10_000, 'too little evidence to mean anything');
    assert.ok(result.secretsKnown >= 200, `only ${result.secretsKnown} secrets were collected`);
    assert.deepEqual(result.findings.slice(0, 20), [], `${result.findings.length} secrets reached logs or audit records`);
  });
});
