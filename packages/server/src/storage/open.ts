// Opens the configured database, brings its schema up to date and hands back the Store.

import type { SqlDriver } from './drivers/driver.ts';
import { openPostgresDriver } from './drivers/postgres.ts';
import { openSqliteDriver } from './drivers/sqlite.ts';
import { migrate } from './migrations.ts';
import { SqlStore } from './sql-store.ts';
import type { SqlStoreOptions } from './sql-store.ts';
import type { Store } from './store.ts';

export type DatabaseConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

export async function openStore(database: DatabaseConfig, options: SqlStoreOptions = {}): Promise<Store> {
  const driver: SqlDriver = database.kind === 'sqlite' ? openSqliteDriver(database.path) : openPostgresDriver(database.url);
  try {
    await migrate(driver);
  } catch (error) {
    await driver.close();
    throw error;
  }
  return new SqlStore(driver, options);
}
