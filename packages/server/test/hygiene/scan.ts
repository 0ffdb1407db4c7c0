// Reads what the test servers left in TESSERA_TEST_LOG_DIR (see packages/testkit/src/log-capture.ts) and
// reports every log line or audit record that holds a secret: one the tests were handed
// (exact match), or anything shaped like a credential (patterns), so a secret the helper never
// saw is caught too.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Shapes of secrets: bearer tokens and assertions, API keys, join tokens, private keys. */
export const SECRET_PATTERNS: readonly { name: string; pattern: RegExp }[] = [
  { name: 'JWT', pattern: /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/ },
  { name: 'API key', pattern: /tsk_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}/ },
  { name: 'join token', pattern: /tsj_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}/ },
  { name: 'PEM private key', pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
  { name: 'private JWK', pattern: /\\?"d\\?"\s*:\s*\\?"[A-Za-z0-9_-]{20,}/ },
];

export interface Finding {
  file: string;
  line: number;
  what: string;
  excerpt: string;
}

export interface ScanResult {
  servers: number;
  logLines: number;
  auditRecords: number;
  secretsKnown: number;
  findings: Finding[];
}

export async function scanEvidence(dir: string): Promise<ScanResult> {
  const names = (await readdir(dir)).sort();
  const secrets = new Set<string>();
  for (const name of names.filter((n) => n.endsWith('.secrets.json'))) {
    for (const secret of JSON.parse(await readFile(join(dir, name), 'utf8')) as string[]) secrets.add(secret);
  }
  const result: ScanResult = { servers: 0, logLines: 0, auditRecords: 0, secretsKnown: secrets.size, findings: [] };
  for (const name of names) {
    const isLog = name.endsWith('.log');
    const isAudit = name.endsWith('.audit.jsonl');
    if (!isLog && !isAudit) continue;
    if (isLog) result.servers += 1;
    const lines = (await readFile(join(dir, name), 'utf8')).split('\n');
    lines.forEach((text, index) => {
      if (text === '') return;
      if (isLog) result.logLines += 1;
      else result.auditRecords += 1;
      const what = findSecret(text, secrets);
      if (what) result.findings.push({ file: name, line: index + 1, what, excerpt: excerpt(text, what) });
    });
  }
  return result;
}

/** The name of the first secret shape or known secret in `text`, or null. */
export function findSecret(text: string, secrets: ReadonlySet<string>): string | null {
  for (const { name, pattern } of SECRET_PATTERNS) if (pattern.test(text)) return name;
  for (const secret of secrets) if (text.includes(secret)) return `known secret ${secret.slice(0, 6)}…`;
  return null;
}

function excerpt(text: string, what: string): string {
  return `${text.slice(0, 200)}${text.length > 200 ? '…' : ''} (${what})`;
}
