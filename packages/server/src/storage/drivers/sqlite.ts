// Embedded SQLite through node:sqlite (no native addon). DatabaseSync is synchronous while our
// transactions await between statements, so one connection cannot serve everything: a
// read-only connection answers plain reads (under WAL it sees only committed data), and a
// writer connection, entered one caller at a time, runs every write and every transaction.

import { closeSync, openSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import { ConflictError, StorageUnavailableError } from '../errors.ts';
import { TransactionScope } from './driver.ts';
import { sqliteStatements } from './statements.ts';
import type { SqlDriver, SqlExecutor, SqlValue } from './driver.ts';

const BUSY_TIMEOUT_MS = 5000;
/** The longest pause between two tries for the write lock another process holds. */
const MAX_LOCK_RETRY_MS = 20;
const SQLITE_BUSY = 5;

// Extended result codes (https://sqlite.org/rescode.html).
const CONSTRAINT_CODES = new Set([
  1555, // SQLITE_CONSTRAINT_PRIMARYKEY
  2067, // SQLITE_CONSTRAINT_UNIQUE
  787, // SQLITE_CONSTRAINT_FOREIGNKEY: a parent row vanished under a concurrent change
]);
// Primary result codes that mean the database cannot answer, not that the request was wrong.
const UNAVAILABLE_CODES = new Set([
  5, // SQLITE_BUSY
  6, // SQLITE_LOCKED
  8, // SQLITE_READONLY
  10, // SQLITE_IOERR
  11, // SQLITE_CORRUPT
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  26, // SQLITE_NOTADB
]);

export interface SqliteDriverOptions {
  /**
   * The writer's `wal_autocheckpoint` (pages; SQLite's default 1000): raised in a cluster's
   * workers, whose log the primary checkpoints off their event loops (cluster/sqlite-checkpoints.ts).
   */
  autocheckpointPages?: number;
}

export function openSqliteDriver(path: string, options: SqliteDriverOptions = {}): SqlDriver {
  try {
    createPrivateFile(path);
    const writer = new DatabaseSync(path);
    const mode = writer.prepare('PRAGMA journal_mode = WAL').get();
    if (mode?.['journal_mode'] !== 'wal') {
      writer.close();
      throw new Error(`cannot switch ${path} to WAL mode`);
    }
    // FULL: a commit returns only after the WAL is on disk, so an acknowledged write
    // survives a crash of the process or the machine. No busy timeout on the writer: SQLite's
    // busy handler sleeps on the calling thread, which here is the event loop, so a worker whose
    // sibling process holds the write lock (an audit batch, say) would stop answering every
    // request meanwhile. The write lock is waited for here instead (writeLocked), asynchronously.
    writer.exec('PRAGMA synchronous = FULL; PRAGMA busy_timeout = 0; PRAGMA foreign_keys = ON;');
    if (options.autocheckpointPages !== undefined) writer.exec(`PRAGMA wal_autocheckpoint = ${Math.trunc(options.autocheckpointPages)}`);
    const reader = new DatabaseSync(path);
    reader.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}; PRAGMA query_only = ON;`);
    return new SqliteDriver(new Connection(reader), new Connection(writer));
  } catch (error) {
    throw new StorageUnavailableError(`cannot open SQLite database ${path}: ${(error as Error).message}`, { cause: error });
  }
}

// The data directory holds keys and hashes: the database file is created owner-only, and
// SQLite gives its -wal and -shm files the same mode.
function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite';
  private readonly reader: Connection;
  private readonly writer: Connection;
  /** The writer's queue: each caller starts when the previous one has settled. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(reader: Connection, writer: Connection) {
    this.reader = reader;
    this.writer = writer;
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.reader.all<T>(sql, params);
  }

  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.reader.get<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.exclusive(() => writeLocked(() => this.writer.run(sql, params)));
  }

  exec(sql: string): Promise<void> {
    return this.exclusive(() => writeLocked(() => this.writer.exec(sql)));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options: { durability?: 'full' | 'relaxed' } = {}): Promise<T> {
    const relaxed = options.durability === 'relaxed';
    return this.exclusive(async () => {
      if (relaxed) await this.writer.exec('PRAGMA synchronous = NORMAL');
      try {
        return await this.inTransaction(fn);
      } finally {
        if (relaxed && this.writer.db.isOpen) this.writer.db.exec('PRAGMA synchronous = FULL');
      }
    });
  }

  private async inTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    // IMMEDIATE takes the write lock up front, so a transaction never fails half-way
    // because another process started writing first.
    await writeLocked(() => this.writer.exec('BEGIN IMMEDIATE'));
    const scope = new TransactionScope(this.writer);
    try {
      const result = await fn(scope);
      await this.writer.exec('COMMIT');
      return result;
    } catch (error) {
      // Some errors (SQLITE_FULL, IOERR) already rolled the transaction back.
      if (this.writer.db.isOpen && this.writer.db.isTransaction) this.writer.db.exec('ROLLBACK');
      throw error;
    } finally {
      scope.finished = true;
    }
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      for (const { db } of [this.reader, this.writer]) if (db.isOpen) db.close();
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

class Connection implements SqlExecutor {
  readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return attempt(() => this.statement(sql).all(...params) as T[]);
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return attempt(() => this.statement(sql).get(...params) as T | undefined);
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return attempt(() => ({ changes: Number(this.statement(sql).run(...params).changes) }));
  }

  async exec(sql: string): Promise<void> {
    attempt(() => this.db.exec(sql));
  }

  private statement(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/**
 * Runs `fn`, which takes the database's write lock, trying again while another process holds it
 * (SQLITE_BUSY), with pauses growing to MAX_LOCK_RETRY_MS, for up to BUSY_TIMEOUT_MS in all; then
 * the BUSY error stands (503). The event loop goes on serving meanwhile. Only statements that
 * take the lock (BEGIN IMMEDIATE, a write outside a transaction) come here: inside a transaction
 * that holds it, WAL mode gives no BUSY.
 */
async function writeLocked<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (let pause = 1; ; pause = Math.min(pause * 2, MAX_LOCK_RETRY_MS)) {
    try {
      return await fn();
    } catch (error) {
      const busy = error instanceof StorageUnavailableError && ((error.cause as { errcode?: number } | undefined)?.errcode ?? 0) % 256 === SQLITE_BUSY;
      if (!busy || Date.now() + pause > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

function attempt<T>(fn: () => T): T {
  sqliteStatements.inc();
  try {
    return fn();
  } catch (error) {
    throw translate(error);
  }
}

function translate(error: unknown): unknown {
  const { code, errcode } = error as { code?: unknown; errcode?: unknown };
  if (code === 'ERR_INVALID_STATE') {
    return new StorageUnavailableError('SQLite database is closed', { cause: error });
  }
  if (code !== 'ERR_SQLITE_ERROR' || typeof errcode !== 'number') return error;
  const message = (error as Error).message;
  if (CONSTRAINT_CODES.has(errcode)) return new ConflictError(message, { cause: error });
  if (UNAVAILABLE_CODES.has(errcode & 0xff)) return new StorageUnavailableError(message, { cause: error });
  return error;
}
