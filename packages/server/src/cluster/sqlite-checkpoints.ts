// WAL checkpoints of a cluster's SQLite database, run by the primary rather than by the workers.
//
// SQLite copies its write-ahead log back into the database file (a checkpoint) from whichever
// connection commits past `wal_autocheckpoint` pages (1000 by default), inside that commit; the
// checkpoint syncs the log and the database file to disk. node:sqlite is synchronous, so in a
// worker that is the event loop stopped for the two fsyncs: under token load the audit batches
// grow the log by ~0.5 KB per token, a checkpoint comes every second or so, and each one held
// every request of that worker for 10-60 ms on a virtual disk (the bulk of the token endpoint's
// p99). The primary serves no request: it checkpoints every `intervalMs` (PASSIVE: it waits for
// no reader or writer, and the workers go on committing meanwhile), and the workers raise their
// own threshold to SAFETY_AUTOCHECKPOINT_PAGES, so that the log stays bounded (~40 MB) even if
// the primary's checkpoints fail.
//
// Imports nothing but node:sqlite and node:fs: the primary stays small (cluster/primary.ts).

import { existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';

/** A worker's own checkpoint threshold while the primary checkpoints (pages of 4 KiB). */
export const SAFETY_AUTOCHECKPOINT_PAGES = 10_000;
export const CHECKPOINT_INTERVAL_MS = 500;

export interface CheckpointLog {
  warn(details: object, message: string): void;
  info(details: object, message: string): void;
}

export interface SqliteCheckpointer {
  /** Runs one checkpoint now; false when it could not (logged once until one succeeds again). */
  checkpoint(): boolean;
  close(): void;
}

export function startSqliteCheckpoints(path: string, log: CheckpointLog, intervalMs: number = CHECKPOINT_INTERVAL_MS): SqliteCheckpointer {
  let db: DatabaseSync | null = null;
  let failing = false;
  const checkpoint = (): boolean => {
    try {
      // Opened on first use: the file exists once worker 0 has migrated it.
      if (db === null) {
        // Never created here: SQLite would make an empty database with the process's umask.
        if (!existsSync(path)) throw new Error(`${path} does not exist`);
        db = new DatabaseSync(path);
        // Never wait on the event loop for a lock (SQLite's busy handler sleeps): PASSIVE takes
        // none that a writer holds long, and a checkpoint skipped is done at the next tick.
        db.exec('PRAGMA busy_timeout = 0');
      }
      db.exec('PRAGMA wal_checkpoint(PASSIVE)');
      if (failing) log.info({ path }, 'SQLite checkpoints work again');
      failing = false;
      return true;
    } catch (error) {
      // Another connection checkpointing at the same moment answers BUSY: nothing to report.
      if (((error as { errcode?: number }).errcode ?? 0) % 256 === 5) return false;
      // Opened afresh next time: the file may have been replaced meanwhile.
      if (db?.isOpen) db.close();
      db = null;
      if (!failing) {
        log.warn(
          { err: { message: (error as Error).message }, path },
          `SQLite checkpoints failed: the workers checkpoint the database themselves past ${SAFETY_AUTOCHECKPOINT_PAGES} pages of log until they work again`,
        );
      }
      failing = true;
      return false;
    }
  };
  const timer = setInterval(checkpoint, intervalMs);
  timer.unref();
  return {
    checkpoint,
    close() {
      clearInterval(timer);
      if (db?.isOpen) db.close();
      db = null;
    },
  };
}
