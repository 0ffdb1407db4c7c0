// What a cache of the registry (storage/registry-cache.ts) loads: everything the token endpoint
// reads about one client, in a few statements, on first use and after each change to it.

import type { SqlExecutor } from '../drivers/driver.ts';
import type { ClientSecretRecord, HeldRole, PublicKeyRecord, Service } from '../records.ts';
import type { SqlContext } from './context.ts';
import { toHeldRole, type HeldRow } from './roles.ts';
import { toPublicKey, toSecret, toService } from './rows.ts';
import type { PublicKeyRow, SecretRow, ServiceRow } from './rows.ts';

export interface RegistryRecord {
  /** Null when no such service is registered. */
  service: Service | null;
  /** Every stored secret, with its validity window: live ones are chosen at read time. */
  secrets: ClientSecretRecord[];
  /** Every registered key, oldest first. */
  publicKeys: PublicKeyRecord[];
  /** Every membership, expired ones included, with its role's and domain's lifetime limit. */
  memberships: HeldRole[];
}

type By = 'client_id' | 'principal';

/**
 * The service with this client id or principal, and its secrets, keys and memberships: four
 * statements whether or not it exists, so a first lookup of an unknown client id costs what one
 * of a known one does (RFC 9700 §4).
 */
export async function loadRegistryRecord(ctx: SqlContext, by: By, value: string): Promise<RegistryRecord> {
  const db: SqlExecutor = ctx.db;
  const service = await db.get<ServiceRow>(`SELECT * FROM services WHERE ${by} = ?`, [value]);
  const owner = by === 'principal' ? 'x.principal = ?' : 'x.principal IN (SELECT principal FROM services WHERE client_id = ?)';
  const secrets = await db.all<SecretRow>(`SELECT x.* FROM client_secrets x WHERE ${owner}`, [value]);
  const keys = await db.all<PublicKeyRow>(`SELECT x.* FROM public_keys x WHERE ${owner} ORDER BY x.created_at, x.kid`, [value]);
  const memberships = await db.all<HeldRow>(
    `SELECT x.domain, x.role, r.token_max_lifetime AS role_max, d.token_max_lifetime AS domain_max, x.expires_at, r.actors, r.impersonators, r.id_token_subjects
     FROM role_members x
     JOIN roles r ON r.domain = x.domain AND r.name = x.role
     JOIN domains d ON d.name = x.domain
     WHERE ${owner}
     ORDER BY x.domain, x.role`,
    [value],
  );
  return {
    service: service ? toService(service) : null,
    secrets: secrets.map(toSecret),
    publicKeys: keys.map(toPublicKey),
    memberships: memberships.map(toHeldRole),
  };
}

/** Revoked tokens not yet expired at `now`: all of them (at most `limit` when given), or those of `jtis`. */
export async function liveRevokedTokens(ctx: SqlContext, now: number, jtis?: readonly string[], limit?: number): Promise<{ jti: string; expiresAt: number }[]> {
  if (jtis !== undefined && jtis.length === 0) return [];
  const only = jtis === undefined ? '' : ` AND jti IN (${jtis.map(() => '?').join(', ')})`;
  const bound = limit === undefined ? '' : ' LIMIT ?';
  const rows = await ctx.db.all<{ jti: string; expires_at: number }>(`SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?${only}${bound}`, [
    now,
    ...(jtis ?? []),
    ...(limit === undefined ? [] : [limit]),
  ]);
  return rows.map((row) => ({ jti: row.jti, expiresAt: Number(row.expires_at) }));
}
