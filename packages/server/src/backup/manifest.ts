// `tessera-backup.json`, the first entry of every backup: what the archive holds, each file's
// SHA-256 (a damaged or edited backup is refused before anything is restored), and the master
// key's fingerprint, so that a restore can tell whether it was given the right key without
// opening a single sealed key.

export const MANIFEST_NAME = 'tessera-backup.json';
export const DATABASE_ENTRY = 'tessera.db';
export const MASTER_KEY_ENTRY = 'master.key';
export const BOOTSTRAP_ENTRY = 'bootstrap-admin.json';
const FORMAT = 'tessera-backup';
const FORMAT_VERSION = 1;
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

/** @returns the problem with `text` as a manifest, or the manifest. */
export function parseManifest(text: string): Manifest | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: 'its manifest is not JSON' };
  }
  const manifest = value as Partial<Manifest> | null;
  if (manifest === null || typeof manifest !== 'object' || manifest.format !== FORMAT) return { problem: 'its manifest is not a Tessera backup manifest' };
  if (manifest.formatVersion !== FORMAT_VERSION) {
    return { problem: `it is in backup format version ${String(manifest.formatVersion)}, and this Tessera reads version ${FORMAT_VERSION}` };
  }
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
