// The little SQL surface SqlStore needs, so one store serves both databases. SQL is written
// once with `?` placeholders; each driver adapts it to its database.

export type Dialect = 'sqlite' | 'postgres';

export type SqlValue = string | number | null;

export interface SqlExecutor {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface SqlDriver extends SqlExecutor {
  readonly dialect: Dialect;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws.
   * Inside `fn`, use only `tx`: calling the driver itself from there may wait on the
   * transaction that is waiting for it.
   *
   * `relaxed` durability lets the commit return before it reaches the disk (SQLite
   * `synchronous = NORMAL` in WAL, PostgreSQL `synchronous_commit = off`): it survives a crash of
   * Tessera but not of the machine or database server. Only for records whose loss on power
   * failure is acceptable and whose fsync would otherwise stall the token endpoint (the batched
   * token-request audit).
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options?: { durability?: 'full' | 'relaxed' }): Promise<T>;
  close(): Promise<void>;
}

/** The connection as one transaction sees it; refuses use once the transaction has ended. */
export class TransactionScope implements SqlExecutor {
  finished = false;
  private readonly connection: SqlExecutor;

  constructor(connection: SqlExecutor) {
    this.connection = connection;
  }

  async all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.open().all<T>(sql, params);
  }

  async get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.open().get<T>(sql, params);
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.open().run(sql, params);
  }

  async exec(sql: string): Promise<void> {
    return this.open().exec(sql);
  }

  // A statement issued after the end would run outside the transaction, on a connection
  // that by then belongs to another caller.
  private open(): SqlExecutor {
    if (this.finished) throw new Error('transaction already finished');
    return this.connection;
  }
}
