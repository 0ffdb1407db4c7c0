// An acknowledged write must survive the process being killed mid-stream (SIGKILL: no
// cleanup, no flushing). A child writes and reports each acknowledgement; we kill it, reopen
// the store and look for every acknowledged write and its audit event.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStore } from '../../src/storage/open.ts';
import type { DatabaseConfig } from '../../src/storage/open.ts';
import { createTestDatabase } from './postgres-database.ts';

const WRITER = join(import.meta.dirname, 'crash-writer.ts');
const ACKS_BEFORE_KILL = 300;

/** Runs the writer until it has acknowledged enough writes, kills it, returns what it acknowledged. */
async function writeUntilKilled(args: string[]): Promise<string[]> {
  const child = spawn(process.execPath, [WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let killed = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (!killed && out.split('\n').length > ACKS_BEFORE_KILL) {
      killed = child.kill('SIGKILL');
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const [, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (code, closeSignal) => resolve([code, closeSignal])),
  );
  assert.equal(signal, 'SIGKILL', `the writer stopped on its own before being killed:\n${err}`);
  // Only whole lines: a line cut short by the kill was never fully reported.
  return out.split('\n').slice(0, -1);
}

async function assertAllPresent(database: DatabaseConfig, acknowledged: string[]): Promise<void> {
  assert.ok(acknowledged.length >= ACKS_BEFORE_KILL);
  const store = await openStore(database);
  try {
    const stored = new Set((await store.listDomains()).map((domain) => domain.name));
    const audited = new Set((await store.queryAudit({ type: 'domain.create', limit: 1_000_000 })).map((event) => event.target));
    const lost = acknowledged.filter((name) => !stored.has(name));
    const unaudited = acknowledged.filter((name) => !audited.has(name));
    assert.deepEqual(lost, [], `${lost.length} acknowledged writes lost`);
    assert.deepEqual(unaudited, [], `${unaudited.length} acknowledged writes without their audit event`);
    // Every write that did land, acknowledged or not, landed with its audit event.
    assert.deepEqual([...stored].sort(), [...audited].sort());
  } finally {
    await store.close();
  }
}

describe('a store killed mid-write', () => {
  it('SQLite keeps every acknowledged write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-crash-'));
    try {
      const path = join(dir, 'tessera.sqlite');
      const acknowledged = await writeUntilKilled(['sqlite', path]);
      await assertAllPresent({ kind: 'sqlite', path }, acknowledged);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('PostgreSQL', async () => {
    const database = await createTestDatabase();
    after(() => database.drop());

    it('keeps every acknowledged write', async () => {
      const acknowledged = await writeUntilKilled(['postgres', database.url]);
      await assertAllPresent({ kind: 'postgres', url: database.url }, acknowledged);
    });
  });
});
