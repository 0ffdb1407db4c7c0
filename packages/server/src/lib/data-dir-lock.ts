// One `tessera serve` per embedded (SQLite) data dir. A second one on the same dir used to start
// without a word and serve beside the first; usually that is a mistake (an old instance left
// running, a unit started twice), and the operator should hear which process holds the dir.
// The lock is a file `tessera.lock` in the data dir holding the pid and where it serves; a lock
// whose pid is gone (the server was killed) is stale and taken over. A cluster's workers belong
// to the `tessera serve` that forked them: only that process takes the lock.
//
// Several instances on one SQLite file on one host do work (each sees the others' changes within
// 200 ms), and the propagation benchmark and some tests rely on it: `sharedDataDir` opts in.
// PostgreSQL needs no lock: sharing the database is how instances scale there.
// `tessera restore` takes the same lock while it writes a data dir, so that a serve started on
// the dir meanwhile refuses rather than opening a database the restore then replaces.

import { mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const LOCK_FILE = 'tessera.lock';

interface LockContent {
  pid: number;
  url?: string;
  /** Which command holds the dir; absent means `tessera serve`. */
  command?: string;
}

export class DataDirInUseError extends Error {
  readonly code = 'DATA_DIR_IN_USE';
  /** The live process holding the dir, when the lock could be read. */
  readonly holder: LockContent | null;
  constructor(message: string, holder: LockContent | null = null) {
    super(message);
    this.name = 'DataDirInUseError';
    this.holder = holder;
  }
}

export interface DataDirLock {
  /** Records where this instance serves, for the message a second one gets. */
  serving(url: string): Promise<void>;
  /** Removes the lock if it is still this process's. */
  release(): Promise<void>;
}

/** @throws {DataDirInUseError} naming the pid (and URL) of the live process that holds `dataDir`. */
export async function lockDataDir(dataDir: string, listen: string, pid = process.pid, command = 'tessera serve'): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, LOCK_FILE);
  const extra = command === 'tessera serve' ? {} : { command };
  const write = (content: LockContent, flag: 'wx' | 'w'): Promise<void> => writeFile(file, `${JSON.stringify({ ...content, ...extra })}\n`, { mode: 0o600, flag });
  // Twice at most: a stale lock is removed once, then the dir is someone else's if it reappeared.
  for (let attempt = 0; ; attempt += 1) {
    try {
      await write({ pid, url: listen }, 'wx');
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readLock(file);
    if (holder !== null && holder.pid !== pid && isAlive(holder.pid)) {
      throw new DataDirInUseError(
        `the data dir ${dataDir} is in use by another ${holder.command ?? 'tessera serve'} (pid ${holder.pid}${holder.url ? `, serving at ${holder.url}` : ''}): ` +
          'stop it first, or give this one another --data-dir. To run several instances on this one SQLite file on purpose, ' +
          'pass --shared-data-dir (TESSERA_SHARED_DATA_DIR=1) to each',
        holder,
      );
    }
    // An empty or half-written lock a moment old is another start writing it, not a stale one.
    if (attempt > 0 || (holder === null && (await ageMs(file)) < 2000)) {
      throw new DataDirInUseError(`the data dir ${dataDir} is being locked by another tessera serve at this moment (${file}): try again`, holder);
    }
    // Stale (its process is gone), unreadable, or this very process's from an earlier start.
    await unlink(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  return {
    async serving(url) {
      if ((await readLock(file))?.pid === pid) await write({ pid, url }, 'w');
    },
    async release() {
      if ((await readLock(file))?.pid === pid) await unlink(file).catch(() => undefined);
    },
  };
}

async function ageMs(file: string): Promise<number> {
  try {
    return Date.now() - (await stat(file)).mtimeMs;
  } catch {
    return Infinity;
  }
}

async function readLock(file: string): Promise<LockContent | null> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as Partial<LockContent>;
    if (typeof value.pid !== 'number' || !Number.isInteger(value.pid) || value.pid <= 0) return null;
    return { pid: value.pid, ...(typeof value.url === 'string' ? { url: value.url } : {}), ...(typeof value.command === 'string' ? { command: value.command } : {}) };
  } catch {
    return null;
  }
}

/** Signal 0 checks that the process exists; EPERM means it does, as another user's. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
