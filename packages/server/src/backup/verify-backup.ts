// What `tessera restore` checks in an archive before it writes anything, in an order that trusts
// nothing the archive says until its MAC has been checked: the layout and entry sizes from the
// tar headers (bounded before anything is read whole), then the manifest's MAC under the master
// key, and only then the manifest's contents and every file's SHA-256 against it.

import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Config } from '../config/config.ts';
import { parseMasterKey } from '../keys/master-key.ts';
import { ArchiveFormatError, listEntries, readEntry, streamEntry } from './archive.ts';
import type { ArchiveEntry } from './archive.ts';
import { BackupError, describeFsError } from './errors.ts';
import { fingerprintOf, readConfiguredKey } from './inspect.ts';
import type { ConfiguredKey } from './inspect.ts';
import {
  BOOTSTRAP_ENTRY,
  MAC_ENTRY,
  MAC_MAX_BYTES,
  MANIFEST_MAX_BYTES,
  MANIFEST_NAME,
  MASTER_KEY_ENTRY,
  SMALL_ENTRY_MAX_BYTES,
  manifestMacMatches,
  parseManifest,
  peekManifest,
} from './manifest.ts';
import type { Manifest } from './manifest.ts';

export interface VerifiedBackup {
  manifest: Manifest;
  entries: Map<string, ArchiveEntry>;
  /** The master key the backup carries, if it does. */
  included: Buffer | null;
  /** The key configured for serve (flag, variable or `<dataDir>/master.key`), if there is one. */
  configured: ConfiguredKey | null;
  /**
   * The small entries (master key, bootstrap file) as read once and hashed: restore writes these
   * bytes, never a second read of the archive, which a writer on the backup store could have changed.
   */
  small: Map<string, Buffer>;
}

export async function verifyBackup(handle: FileHandle, from: string, masterKey: Config['masterKey']): Promise<VerifiedBackup> {
  const invalid = (reason: string, cause?: unknown): BackupError =>
    new BackupError('BACKUP_INVALID', `${from} is not a usable Tessera backup: ${reason}`, cause === undefined ? undefined : { cause });
  let list: ArchiveEntry[];
  try {
    list = await listEntries(handle);
  } catch (error) {
    if (error instanceof ArchiveFormatError) throw invalid(error.message, error);
    throw new BackupError('BACKUP_UNREADABLE', `cannot read the backup ${from}: ${describeFsError(error)}`, { cause: error });
  }
  const [first, second] = list;
  if (first?.name !== MANIFEST_NAME) throw invalid(`it does not begin with ${MANIFEST_NAME}`);
  if (first.size > MANIFEST_MAX_BYTES) throw invalid(`its ${MANIFEST_NAME} is implausibly large`);
  const manifestBytes = await readEntry(handle, first);
  const peeked = peekManifest(manifestBytes.toString('utf8'));
  if ('problem' in peeked) throw invalid(peeked.problem);
  if (second?.name !== MAC_ENTRY) throw invalid(`its second entry is not ${MAC_ENTRY}, the MAC that shows the backup was not altered`);
  if (second.size > MAC_MAX_BYTES) throw invalid(`its ${MAC_ENTRY} is implausibly large`);
  const entries = new Map(list.slice(2).map((entry) => [entry.name, entry]));
  if (entries.size !== list.length - 2) throw invalid('it holds an entry twice');
  // Read whole below (the key before its MAC is checked), so bounded first.
  const small = new Map<string, Buffer>();
  for (const name of [MASTER_KEY_ENTRY, BOOTSTRAP_ENTRY]) {
    const entry = entries.get(name);
    if (entry === undefined) continue;
    if (entry.size > SMALL_ENTRY_MAX_BYTES) {
      throw invalid(`its ${name} is ${entry.size} bytes, more than the ${SMALL_ENTRY_MAX_BYTES} this Tessera reads for it (a real one is under 1 KiB)`);
    }
    small.set(name, await readEntry(handle, entry));
  }

  const configured = await readConfiguredKey(masterKey);
  const includedBytes = small.get(MASTER_KEY_ENTRY);
  let included: Buffer | null = null;
  if (includedBytes !== undefined) {
    try {
      included = parseMasterKey(includedBytes.toString('utf8'), MASTER_KEY_ENTRY);
    } catch (error) {
      throw invalid((error as Error).message, error);
    }
  }
  // The configured key is the one serve will use, so it is the one the backup must answer to.
  const macKey = configured?.key ?? included;
  if (macKey === null) {
    throw new BackupError(
      'BACKUP_MASTER_KEY_MISSING',
      `the backup does not hold the master key: give the key it was taken with (--master-key-file FILE or TESSERA_MASTER_KEY; fingerprint ${peeked.fingerprint ?? 'unknown'})`,
    );
  }
  if (!manifestMacMatches(macKey, manifestBytes, (await readEntry(handle, second)).toString('utf8'))) {
    // The fingerprint is unauthenticated here; it only tells the likelier cause apart, and either way nothing is restored.
    if (configured !== null && peeked.fingerprint !== null && peeked.fingerprint !== fingerprintOf(configured.key))
      throw keyMismatch(configured, peeked.fingerprint);
    throw invalid(`its manifest fails its MAC check: the backup was altered after it was written (or damaged), or it was not made with this master key`);
  }

  const manifest = parseManifest(manifestBytes.toString('utf8'));
  if ('problem' in manifest) throw invalid(manifest.problem);
  if (entries.size !== manifest.files.length) throw invalid('its files do not match its manifest');
  for (const file of manifest.files) {
    const entry = entries.get(file.name);
    if (entry === undefined || entry.size !== file.bytes) throw invalid(`${file.name} is missing or of the wrong size`);
    const hash = createHash('sha256');
    const held = small.get(file.name);
    if (held === undefined) await streamEntry(handle, entry, (chunk) => void hash.update(chunk));
    else hash.update(held);
    if (hash.digest('hex') !== file.sha256) throw invalid(`${file.name} is damaged (its SHA-256 differs from the manifest's)`);
  }
  if (included !== null && fingerprintOf(included) !== manifest.masterKeyFingerprint) {
    throw new BackupError('BACKUP_INVALID', 'the backup is not consistent: the master key it holds is not the one its database was made with');
  }
  if (configured !== null && fingerprintOf(configured.key) !== manifest.masterKeyFingerprint) throw keyMismatch(configured, manifest.masterKeyFingerprint);
  return { manifest, entries, included, configured, small };
}

function keyMismatch(configured: ConfiguredKey, fingerprint: string): BackupError {
  return new BackupError(
    'BACKUP_MASTER_KEY_MISMATCH',
    `the master key from ${configured.source} is not the one this backup was taken with (fingerprint ${fingerprint}): ` +
      'give the original key; with another key the signing and CA keys in the backup cannot be opened',
  );
}
