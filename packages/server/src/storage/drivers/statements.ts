// How many SQL statements this process sent, per backend: every statement either driver runs
// (transaction control included), and the PostgreSQL change listener's. One counter for the
// process, added to each server's /metrics: the token endpoint is meant to send none in steady
// state but its batched audit (storage/registry-cache.ts), and this is how that is watched.

import { Counter } from 'prom-client';

export const sqlStatements = new Counter({
  name: 'tessera_sql_statements_total',
  help: 'SQL statements sent to the database by this process, by backend',
  labelNames: ['backend'],
  registers: [],
});

export const sqliteStatements = sqlStatements.labels({ backend: 'sqlite' });
export const postgresStatements = sqlStatements.labels({ backend: 'postgres' });
