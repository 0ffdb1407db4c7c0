// PostgreSQL through a pg Pool, for deployments where several instances share one database.

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type Pg from 'pg';
import { ConcurrentChangeError, ConflictError, InvalidValueError, StorageUnavailableError } from '../errors.ts';
import { TransactionScope } from './driver.ts';
import { postgresStatements } from './statements.ts';
import type { SqlDriver, SqlExecutor, SqlValue } from './driver.ts';

// pg's own default: the most connections one pool holds (databasePoolSize sets it per process).
const DEFAULT_POOL_SIZE = 10;
// Without a bound, a query against an unreachable server waits forever for a connection.
const CONNECT_TIMEOUT_MS = 5000;
// A request-path statement takes milliseconds; one that has not finished in 5 s (waiting for a
// lock an operator's VACUUM FULL or a migration holds, say) is cancelled by the server itself,
// so nothing is left running there, and the caller gets a 503 well inside an HTTP client's own
// timeout (the SDK's is 10 s). Migrations lift both limits for their own transaction.
const STATEMENT_TIMEOUT_MS = 5000;
// A transaction whose client vanished (a dropped network says nothing to the server) would hold
// its row locks until TCP keepalive notices, hours by default: the server ends it after this.
// Tessera's transactions never wait on anything but the database between their statements.
const IDLE_IN_TRANSACTION_TIMEOUT_MS = STATEMENT_TIMEOUT_MS;
// A statement on a connection whose server has hung or whose network went silent waits forever
// for its answer: nothing closes the socket. The client gives up a little after the server
// would have cancelled, so a live server always answers first and keeps the connection.
// Scripts (`exec`: migrations and their advisory-lock wait) are not bounded here.
const QUERY_TIMEOUT_MS = STATEMENT_TIMEOUT_MS + 1000;

// SQLSTATE classes that mean the database cannot answer: connection exception, invalid
// authorization, invalid catalog name, insufficient resources, operator intervention.
const UNAVAILABLE_CLASSES = new Set(['08', '28', '3D', '53', '57']);
// Cancelled by statement_timeout (57014, in class 57 above) or lock_timeout: busy, not broken.
const LOCK_NOT_AVAILABLE = '55P03';
// Class 40, transaction rollback: a deadlock between two concurrent changes (40P01), or a
// serialization failure (40001). The transaction was rolled back whole; the same request, made
// again, goes through.
const ROLLED_BACK_CLASS = '40';
const CONFLICT_CODES = new Set([
  '23505', // unique_violation
  '23503', // foreign_key_violation: a parent row vanished under a concurrent change
]);

type Queryable = Pick<Pg.Pool, 'query'>;
/** pg reads `query_timeout` per query too; its types only declare it for the connection. */
type BoundedQuery = Pg.QueryConfig & { query_timeout: number };

function bounded(text: string, more: Partial<Pg.QueryConfig> = {}): BoundedQuery {
  return { ...more, text, query_timeout: QUERY_TIMEOUT_MS };
}

// pg is loaded with the first PostgreSQL pool or listener, not with this module: a server on
// SQLite never needs it (~1.5 MB of heap, and its code, per process). It is CommonJS, so require()
// loads it synchronously where it is first needed.
let pgLoaded: typeof Pg | undefined;
function pgModule(): typeof Pg {
  return (pgLoaded ??= createRequire(import.meta.url)('pg') as typeof Pg);
}

export function openPostgresDriver(url: string, options: { max?: number | undefined } = {}): SqlDriver {
  // Times are BIGINT milliseconds, well inside Number's exact range. Per pool, so no other
  // pg user in the process sees its BIGINTs change type.
  const pg = pgModule();
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, Number);
  const pool = new pg.Pool({
    connectionString: url,
    types,
    max: options.max ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    lock_timeout: STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
  });
  // An idle connection the server drops emits 'error' on the pool; unhandled, it would end
  // the process. The next query reports the outage instead.
  pool.on('error', () => {});
  return new PostgresDriver(pool);
}

class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres';
  private readonly pool: Pg.Pool;
  private readonly executor: Executor;
  private readonly numbered = new Map<string, Prepared>();

  constructor(pool: Pg.Pool) {
    this.pool = pool;
    this.executor = new Executor(pool, this.numbered);
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.executor.all<T>(sql, params);
  }

  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.executor.get<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.executor.run(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.executor.exec(sql);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options: { durability?: 'full' | 'relaxed' } = {}): Promise<T> {
    const client = await this.pool.connect().catch((error: unknown) => {
      throw translate(error);
    });
    let broken: Error | undefined;
    // Out of the pool, a client has no 'error' listener but ours: without it, a connection
    // reset between two statements is an unhandled 'error' that ends the process.
    const onError = (error: Error): void => {
      broken = error;
    };
    client.on('error', onError);
    const connection = new Executor(client, this.numbered);
    const scope = new TransactionScope(connection);
    try {
      postgresStatements.inc();
      await client.query(bounded(options.durability === 'relaxed' ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN')).catch((error: unknown) => {
        throw translate(error);
      });
      const result = await fn(scope);
      postgresStatements.inc();
      const commit = await client.query(bounded('COMMIT')).catch((error: unknown) => {
        throw translate(error);
      });
      // PostgreSQL answers COMMIT of a transaction that hit an error with a rollback.
      if (commit.command === 'ROLLBACK') throw new Error('transaction was rolled back after an error');
      return result;
    } catch (error) {
      // A connection that failed (reset, timed out) is not asked to roll back: closing it does
      // that on the server, and asking a hung one would wait out a second timeout.
      broken ??= lostConnection(error);
      if (broken === undefined) {
        postgresStatements.inc();
        await client.query(bounded('ROLLBACK')).catch((rollbackError: unknown) => {
          broken = rollbackError as Error;
        });
      }
      throw error;
    } finally {
      scope.finished = true;
      client.off('error', onError);
      // A connection that failed or could not roll back is destroyed rather than returned to the pool.
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}

interface Prepared {
  text: string;
  name: string;
}

class Executor implements SqlExecutor {
  private readonly target: Queryable;
  /** SQL with `?` → SQL with `$n`, shared by the driver's executors. */
  private readonly numbered: Map<string, Prepared>;

  constructor(target: Queryable, numbered: Map<string, Prepared>) {
    this.target = target;
    this.numbered = numbered;
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return { changes: (await this.query(sql, params)).rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    // No parameters: the simple query protocol, which accepts several statements.
    postgresStatements.inc();
    await this.target.query(sql).catch((error: unknown) => {
      throw translate(error);
    });
  }

  private query(sql: string, params: readonly SqlValue[]): Promise<Pg.QueryResult> {
    let prepared = this.numbered.get(sql);
    if (prepared === undefined) {
      const text = numberPlaceholders(sql);
      // A named statement is parsed and planned once per connection, not on every call: the
      // token endpoint sends the same few reads thousands of times a second.
      prepared = { text, name: `t${createHash('sha256').update(text).digest('hex').slice(0, 20)}` };
      this.numbered.set(sql, prepared);
    }
    postgresStatements.inc();
    return this.target.query(bounded(prepared.text, { name: prepared.name, values: [...params] })).catch((error: unknown) => {
      throw translate(error);
    });
  }
}

/** `?` → `$1..$n`, leaving quoted literals alone. */
export function numberPlaceholders(sql: string): string {
  let count = 0;
  let quoted = false;
  let out = '';
  for (const char of sql) {
    if (char === "'") quoted = !quoted;
    out += char === '?' && !quoted ? `$${++count}` : char;
  }
  return out;
}

/** The error, when it says the connection itself failed rather than the server refusing a statement. */
function lostConnection(error: unknown): Error | undefined {
  return error instanceof StorageUnavailableError && !(error.cause instanceof pgModule().DatabaseError) ? error : undefined;
}

function translate(error: unknown): unknown {
  if (error instanceof pgModule().DatabaseError) {
    const code = error.code ?? '';
    if (CONFLICT_CODES.has(code)) {
      return new ConflictError(error.detail ?? error.message, { cause: error });
    }
    if (UNAVAILABLE_CLASSES.has(code.slice(0, 2)) || code === LOCK_NOT_AVAILABLE) {
      return new StorageUnavailableError(`PostgreSQL: ${error.message}`, { cause: error });
    }
    if (code.startsWith(ROLLED_BACK_CLASS)) {
      return new ConcurrentChangeError(`PostgreSQL: ${error.message}`, { cause: error });
    }
    // Class 22, data exception: the value sent cannot be stored (a NUL byte in text, say).
    if (code.startsWith('22')) return new InvalidValueError(`a value cannot be stored: ${error.message}`, { cause: error });
    return error;
  }
  // Anything pg raises that is not the server's answer is the connection failing: refused,
  // reset, timed out, or the pool already closed.
  if (error instanceof Error) {
    return new StorageUnavailableError(`PostgreSQL unreachable: ${error.message}`, { cause: error });
  }
  return error;
}

export interface NoticeHandlers {
  /** A notification arrived on the channel. */
  notified(): void;
  /** The connection listens (at first, and after each reconnection). */
  up(): void;
  /** The connection failed or ended; it is tried again every `retryMs`. */
  down(error: Error): void;
}

export interface NoticeListener {
  /** The listening connection's server process id; null while it is down. */
  readonly backendPid: number | null;
  close(): Promise<void>;
}

/**
 * A dedicated connection that LISTENs on `channel` (outside the pool: a pooled connection is
 * shared, and LISTEN belongs to one session). When it drops it says so and reconnects every
 * `retryMs` until it is back.
 */
export function listenForNotices(url: string, channel: string, handlers: NoticeHandlers, retryMs = 1000): NoticeListener {
  let client: Pg.Client | null = null;
  let pid: number | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const lost = (current: Pg.Client, error: Error): void => {
    if (client !== current) return;
    client = null;
    pid = null;
    current.removeAllListeners('notification');
    current.on('error', () => {});
    void current.end().catch(() => {});
    if (closed) return;
    handlers.down(error);
    retry = setTimeout(connect, retryMs);
  };

  function connect(): void {
    if (closed) return;
    const current = new (pgModule().Client)({
      connectionString: url,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: 'tessera-change-listener',
    });
    client = current;
    current.on('error', (error) => lost(current, error));
    current.on('end', () => lost(current, new Error('the listening connection ended')));
    current.on('notification', () => handlers.notified());
    postgresStatements.inc();
    current
      .connect()
      .then(() => current.query(`LISTEN ${channel}`))
      .then(() => {
        if (client !== current) return;
        // pg sets processID from the server's BackendKeyData; its types do not declare it.
        const processID: unknown = Reflect.get(current, 'processID');
        pid = typeof processID === 'number' ? processID : null;
        handlers.up();
      })
      .catch((error: unknown) => lost(current, error instanceof Error ? error : new Error(String(error))));
  }

  connect();
  return {
    get backendPid() {
      return pid;
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      const current = client;
      client = null;
      if (current) {
        current.on('error', () => {});
        await current.end().catch(() => {});
      }
    },
  };
}
