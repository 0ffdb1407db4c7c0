// Evidence for the secrets-hygiene check. With TESSERA_TEST_LOG_DIR set (npm test sets it),
// every server a test starts through startTestServer logs at trace level into that directory,
// and on stop writes its audit records and every secret its test was handed (client secrets,
// API keys, join tokens, issued tokens) beside the log. packages/server/test/hygiene then
// reads it all back and fails if any secret reached a log line or an audit record.

import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { join, resolve } from 'node:path';
import type { TesseraServer } from '../../server/src/index.ts';

export const LOG_DIR_VARIABLE = 'TESSERA_TEST_LOG_DIR';

/** Response fields whose string values are secrets (or bearer tokens, which are as good as one). */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['clientSecret', 'client_secret', 'apiKey', 'token', 'access_token', 'id_token', 'refresh_token']);

export interface LogCapture {
  readonly logStream: { write(line: string): void };
  /** Collects the secrets in a response body (any depth) so the check can look for them. */
  noteSecrets(body: unknown): void;
  /** One secret known by other means (the master key file, say). */
  noteSecret(secret: string): void;
  /** Writes the server's audit records, closes the server, then writes the secrets and ends the log. */
  closeServer(server: Pick<TesseraServer, 'store' | 'flushAudit' | 'close'>): Promise<void>;
}

export async function startLogCapture(): Promise<LogCapture | null> {
  const setting = process.env[LOG_DIR_VARIABLE];
  if (!setting) return null;
  const dir = resolve(setting);
  await mkdir(dir, { recursive: true });
  const id = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const log = createWriteStream(join(dir, `${id}.log`));
  const secrets = new Set<string>();
  const note = (value: unknown, field: string | null): void => {
    if (typeof value === 'string') {
      if (field !== null && SECRET_FIELDS.has(field) && value.length >= 16) secrets.add(value);
    } else if (Array.isArray(value)) {
      for (const item of value) note(item, field);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) note(item, key);
    }
  };
  return {
    logStream: log,
    noteSecrets: (body) => note(body, null),
    noteSecret: (secret) => void secrets.add(secret),
    async closeServer(server) {
      try {
        await server.flushAudit();
        const events = await server.store.queryAudit({ limit: 1_000_000 });
        await writeFile(join(dir, `${id}.audit.jsonl`), events.map((event) => `${JSON.stringify(event)}\n`).join(''));
      } finally {
        await server.close();
      }
      await writeFile(join(dir, `${id}.secrets.json`), JSON.stringify([...secrets]));
      log.end();
      await finished(log);
    },
  };
}
