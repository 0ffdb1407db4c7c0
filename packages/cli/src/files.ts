// File helpers for flags that name files relative to the working directory.

import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

import { UsageError, describeError } from './errors.ts';

export async function fileExists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Reads a file named on the command line; a missing or unreadable file is a usage error. */
export async function readInputFile(cwd: string, file: string, what: string): Promise<string> {
  try {
    return await readFile(path.resolve(cwd, file), 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${file}: ${describeFsError(error)}`, { cause: error });
  }
}

// Node's own messages repeat the path ("ENOENT: no such file or directory, open '/x'").
function describeFsError(error: unknown): string {
  switch ((error as { code?: unknown } | null)?.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return describeError(error);
  }
}
