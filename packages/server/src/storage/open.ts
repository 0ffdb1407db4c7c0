// Opens the configured database, brings its schema up to date and hands back the Store.

import type { SqlDriver } from './drivers/driver.ts';
import { openPostgresDriver } from './drivers/postgres.ts';
import { openSqliteDriver } from './drivers/sqlite.ts';
import { watchedDriver, type AvailabilityWatch } from './availability.ts';
import { migrate } from './migrations.ts';
import { SqlStore } from './sql-store.ts';
import type { SqlStoreOptions } from './sql-store.ts';

export type DatabaseConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

export interface OpenStoreOptions extends SqlStoreOptions {
  /** PostgreSQL: connections the pool holds at most (10). */
  poolSize?: number;
  /** Told of every call's outcome once the schema is up to date (outages as events, not lines). */
  availability?: AvailabilityWatch;
  /** SQLite: the writer's checkpoint threshold (storage/drivers/sqlite.ts). */
  sqliteAutocheckpointPages?: number;
  /** Runs on the database as it is, before any migration: a refusal here changes nothing. */
  beforeMigrating?: (driver: SqlDriver) => Promise<void>;
}

export async function openStore(database: DatabaseConfig, options: OpenStoreOptions = {}): Promise<SqlStore> {
  const driver: SqlDriver =
    database.kind === 'sqlite'
      ? openSqliteDriver(database.path, { autocheckpointPages: options.sqliteAutocheckpointPages })
      : openPostgresDriver(database.url, { max: options.poolSize });
  try {
    await options.beforeMigrating?.(driver);
    await migrate(driver);
  } catch (error) {
    await driver.close();
    throw error;
  }
  return new SqlStore(options.availability ? watchedDriver(driver, options.availability) : driver, options);
}
