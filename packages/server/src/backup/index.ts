// `@tessera/server/backup`: what `tessera backup` and `tessera restore` run (docs/backup.md).
// Kept apart from the server's entry so the CLI loads neither fastify nor the CA to copy a file.

export { createBackup } from './create-backup.ts';
export type { BackupOptions, BackupResult } from './create-backup.ts';
export { restoreBackup } from './restore-backup.ts';
export type { RestoreOptions, RestoreResult } from './restore-backup.ts';
export { BackupError } from './errors.ts';
export type { BackupErrorCode } from './errors.ts';
export type { Manifest } from './manifest.ts';
export { loadConfig, ConfigError } from '../config/load.ts';
