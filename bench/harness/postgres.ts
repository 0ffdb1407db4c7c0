// A throwaway PostgreSQL database per Tessera row, so no row inherits another's audit log or
// clients. TESSERA_BENCH_DATABASE_URL points elsewhere than the local server.

import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const POSTGRES_SERVER = process.env['TESSERA_BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ThrowawayDatabase {
  url: string;
  /** The PostgreSQL backends serving this database: their CPU is part of the server's cost. */
  backendPids(): Promise<number[]>;
  drop(): Promise<void>;
}

/** A fresh database on `server` (a postgres:// URL of any database there, used to create it). */
export async function createDatabase(server: string = POSTGRES_SERVER): Promise<ThrowawayDatabase> {
  const admin = new pg.Client({ connectionString: server, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (error) {
    await admin.end().catch(() => {});
    throw new Error(`PostgreSQL at ${redact(server)} is not reachable (set TESSERA_BENCH_DATABASE_URL): ${(error as Error).message}`, { cause: error });
  }
  const name = `tessera_bench_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async backendPids() {
      const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [name]);
      return rows.map((row) => row.pid);
    },
    async drop() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
