// Crafted backups for the refusal tests: what someone who can write where backups are kept
// could make of one, with or without the master key.

import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { ArchiveWriter, listEntries, readEntry } from '../../../server/src/backup/archive.ts';
import { manifestMac } from '../../../server/src/backup/manifest.ts';

export interface Rewrite {
  /** Fields of the manifest to replace. */
  fields?: Record<string, unknown>;
  /** Entries to replace, or to add after the others. */
  entries?: Record<string, Buffer>;
  /** Entries to leave out. */
  drop?: string[];
  /** Recompute the manifest's MAC under this master key, as only the key's holder can. */
  key?: Buffer;
}

/** A copy of `backup`, changed as `rewrite` says, with the manifest's file list and hashes recomputed. */
export async function rewriteBackup(backup: string, name: string, rewrite: Rewrite): Promise<string> {
  const handle = await open(backup, 'r');
  const data = new Map<string, Buffer>();
  for (const entry of await listEntries(handle)) data.set(entry.name, await readEntry(handle, entry));
  await handle.close();
  for (const [entry, bytes] of Object.entries(rewrite.entries ?? {})) data.set(entry, bytes);
  for (const entry of rewrite.drop ?? []) data.delete(entry);
  const files = [...data].filter(([entry]) => entry !== 'tessera-backup.json' && entry !== 'tessera-backup.mac');
  const manifest = {
    ...(JSON.parse(data.get('tessera-backup.json')!.toString('utf8')) as Record<string, unknown>),
    files: files.map(([entry, bytes]) => ({ name: entry, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') })),
    ...rewrite.fields,
  };
  data.set('tessera-backup.json', Buffer.from(JSON.stringify(manifest)));
  if (rewrite.key) data.set('tessera-backup.mac', Buffer.from(manifestMac(rewrite.key, data.get('tessera-backup.json')!)));
  const copy = join(backup, '..', name);
  const out = await open(copy, 'w');
  const writer = new ArchiveWriter(out);
  for (const [entry, bytes] of data) await writer.addBytes(entry, bytes, new Date());
  await writer.finish();
  await out.close();
  return copy;
}

/** Whether something is at `path` (the refusals' tests check that nothing was written). */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
