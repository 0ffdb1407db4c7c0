// A throwaway PostgreSQL database per test run. The PostgreSQL tests fail, never skip,
// when the server cannot be reached: a silent skip would hide a broken backend.

import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const SERVER_URL = process.env['TESSERA_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  /** Empties every table but the migration record. */
  reset(): Promise<void>;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const server = new pg.Client({ connectionString: SERVER_URL, connectionTimeoutMillis: 5000 });
  try {
    await server.connect();
  } catch (error) {
    await server.end().catch(() => {});
    throw new Error(
      `The PostgreSQL storage tests need a server at ${redact(SERVER_URL)} (set TESSERA_TEST_DATABASE_URL to use another): ${(error as Error).message}`,
      { cause: error },
    );
  }
  const name = `tessera_test_${randomBytes(6).toString('hex')}`;
  try {
    await server.query(`CREATE DATABASE ${name}`);
  } finally {
    // Not held open until drop(): a restart of PostgreSQL under a test would break it.
    await server.end();
  }
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async reset() {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        const { rows } = await client.query<{ tablename: string }>(
          "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'",
        );
        if (rows.length > 0) {
          await client.query(`TRUNCATE ${rows.map((row) => `"${row.tablename}"`).join(', ')} RESTART IDENTITY CASCADE`);
        }
      } finally {
        await client.end();
      }
    },
    async drop() {
      const client = new pg.Client({ connectionString: SERVER_URL, connectionTimeoutMillis: 5000 });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
