// Every refusal of `tessera backup` and `tessera restore` is a BackupError with a stable code
// (docs/backup.md lists them) and a sentence that says what to do instead.

export type BackupErrorCode =
  | 'BACKUP_POSTGRES'
  | 'BACKUP_NO_DATA_DIR'
  | 'BACKUP_NO_DATABASE'
  | 'BACKUP_OUT_EXISTS'
  | 'BACKUP_UNREADABLE'
  | 'BACKUP_INVALID'
  | 'BACKUP_SCHEMA_TOO_NEW'
  | 'BACKUP_TARGET_NOT_EMPTY'
  | 'BACKUP_TARGET_IN_USE'
  | 'BACKUP_MASTER_KEY_MISSING'
  | 'BACKUP_MASTER_KEY_MISMATCH';

export class BackupError extends Error {
  readonly code: BackupErrorCode;

  constructor(code: BackupErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BackupError';
    this.code = code;
  }
}

/** Node's messages repeat the path ("ENOENT: no such file or directory, open '/x'"). */
export function describeFsError(error: unknown): string {
  switch ((error as { code?: unknown } | null)?.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
