// `tessera-backup.json`, the first entry of every backup: what the archive holds, each file's
// SHA-256, and the master key's fingerprint, so that a restore can tell whether it was given the
// right key without opening a single sealed key.
//
// The SHA-256s alone detect damage, not tampering: anyone who can write the backup can recompute
// them. What makes an edit detectable is `tessera-backup.mac`, the second entry: an HMAC-SHA256
// of the manifest's exact bytes under a key derived from the master key, so through the hashes it
// vouches for every file. Restore checks it before it trusts anything the manifest says. Whoever
// holds the master key can forge a backup all the same; the MAC keeps out only those who do not.

import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export const MANIFEST_NAME = 'tessera-backup.json';
export const DATABASE_ENTRY = 'tessera.db';
export const MASTER_KEY_ENTRY = 'master.key';
export const BOOTSTRAP_ENTRY = 'bootstrap-admin.json';
export const MAC_ENTRY = 'tessera-backup.mac';
/** The largest master.key or bootstrap-admin.json a restore reads whole; real ones are under 1 KiB. */
export const SMALL_ENTRY_MAX_BYTES = 64 * 1024;
/** The largest manifest and MAC entries a restore reads. */
export const MANIFEST_MAX_BYTES = 1 << 20;
export const MAC_MAX_BYTES = 256;
const FORMAT = 'tessera-backup';
/** Version 1 carried no MAC; there were no releases with it, and a restore refuses it. */
export const FORMAT_VERSION = 2;
/** Its own HKDF label, so the MAC key is no other key the master key derives. */
const MAC_LABEL = 'tessera backup manifest v1';
const KNOWN_ENTRIES = new Set([DATABASE_ENTRY, MASTER_KEY_ENTRY, BOOTSTRAP_ENTRY]);

export interface ManifestFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  format: typeof FORMAT;
  formatVersion: typeof FORMAT_VERSION;
  createdAt: string;
  /** The newest schema migration applied in the database copied. */
  schemaVersion: number;
  masterKeyFingerprint: string;
  masterKeyIncluded: boolean;
  /** Rows per table in the database copied. */
  counts: Record<string, number>;
  files: ManifestFile[];
}

export function buildManifest(fields: Omit<Manifest, 'format' | 'formatVersion'>): Manifest {
  return { format: FORMAT, formatVersion: FORMAT_VERSION, ...fields };
}

/** The HMAC-SHA256 (hex) of a manifest's exact bytes, under a key derived from the master key. */
export function manifestMac(masterKey: Buffer, manifestBytes: Buffer): string {
  const key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), MAC_LABEL, 32));
  return createHmac('sha256', key).update(manifestBytes).digest('hex');
}

/** Whether `macText` (the MAC entry: hex, an optional newline) is the manifest's MAC under `masterKey`. */
export function manifestMacMatches(masterKey: Buffer, manifestBytes: Buffer, macText: string): boolean {
  const given = macText.trim();
  if (!/^[0-9a-f]{64}$/.test(given)) return false;
  return timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(manifestMac(masterKey, manifestBytes), 'hex'));
}

/**
 * What a restore may read from a manifest before its MAC is checked: whether it is one at all, in
 * this format version, and the fingerprint it claims (only to name the key wanted in a refusal).
 */
export function peekManifest(text: string): { fingerprint: string | null } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: 'its manifest is not JSON' };
  }
  const manifest = value as Partial<Manifest> | null;
  if (manifest === null || typeof manifest !== 'object' || manifest.format !== FORMAT) return { problem: 'its manifest is not a Tessera backup manifest' };
  const version: unknown = manifest.formatVersion;
  if (typeof version === 'number' && version < FORMAT_VERSION) {
    return {
      problem:
        `it is in backup format version ${version}, which carries no MAC to show it was not altered, and this Tessera restores only version ${FORMAT_VERSION}: ` +
        'take a new backup with this Tessera',
    };
  }
  if (version !== FORMAT_VERSION) return { problem: `it is in backup format version ${String(version)}, and this Tessera reads version ${FORMAT_VERSION}` };
  return { fingerprint: typeof manifest.masterKeyFingerprint === 'string' ? manifest.masterKeyFingerprint : null };
}

/** @returns the problem with `text` as a manifest, or the manifest. */
export function parseManifest(text: string): Manifest | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: 'its manifest is not JSON' };
  }
  const peeked = peekManifest(text);
  if ('problem' in peeked) return peeked;
  const manifest = value as Partial<Manifest>;
  const files = manifest.files;
  const wellFormed =
    typeof manifest.createdAt === 'string' &&
    Number.isInteger(manifest.schemaVersion) &&
    typeof manifest.masterKeyFingerprint === 'string' &&
    typeof manifest.masterKeyIncluded === 'boolean' &&
    manifest.counts !== null &&
    typeof manifest.counts === 'object' &&
    Array.isArray(files) &&
    files.every((file) => KNOWN_ENTRIES.has(file?.name) && Number.isSafeInteger(file.bytes) && /^[0-9a-f]{64}$/.test(String(file.sha256)));
  if (!wellFormed) return { problem: 'its manifest lacks fields or has fields of the wrong type' };
  if (!files.some((file) => file.name === DATABASE_ENTRY)) return { problem: 'its manifest lists no database' };
  if (manifest.masterKeyIncluded !== files.some((file) => file.name === MASTER_KEY_ENTRY)) {
    return { problem: 'its manifest contradicts itself about the master key' };
  }
  return manifest as Manifest;
}
