// API keys. Audit events name a key by its id, owner, audience and expiry: its hash never
// leaves the api_keys table.

import { NotFoundError } from '../errors.ts';
import type { Actor, ApiKeyRecord, CreatedPageQuery } from '../records.ts';
import { audit, holdDomain, lockService } from './context.ts';
import type { SqlContext } from './context.ts';
import { toApiKey } from './rows.ts';
import type { ApiKeyRow } from './rows.ts';

export function createApiKey(ctx: SqlContext, key: Omit<ApiKeyRecord, 'createdAt' | 'revokedAt'>, by: Actor): Promise<ApiKeyRecord> {
  return ctx.db.transaction(async (tx) => {
    await lockService(ctx, tx, key.principal);
    await holdDomain(ctx, tx, key.audience);
    const created: ApiKeyRecord = {
      id: key.id,
      principal: key.principal,
      audience: key.audience,
      hash: key.hash,
      description: key.description,
      createdAt: ctx.now(),
      expiresAt: key.expiresAt,
      revokedAt: null,
    };
    await tx.run(
      `INSERT INTO api_keys (id, principal, audience, hash, description, created_at, expires_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
      [created.id, created.principal, created.audience, created.hash, created.description, created.createdAt, created.expiresAt],
    );
    await audit(ctx, tx, by, {
      type: 'api-key.create',
      target: key.principal,
      before: null,
      after: { id: created.id, principal: created.principal, audience: created.audience, expiresAt: created.expiresAt },
    });
    return created;
  });
}

/** The service's API keys, newest first: all, or a page of them. */
export async function listApiKeys(ctx: SqlContext, principal: string, page?: CreatedPageQuery): Promise<ApiKeyRecord[]> {
  const after = page?.after === undefined ? '' : ' AND created_at <= ? AND (created_at < ? OR id < ?)';
  const position = page?.after === undefined ? [] : [page.after.createdAt, page.after.createdAt, page.after.id];
  const limit = page === undefined ? '' : ' LIMIT ?';
  const rows = await ctx.db.all<ApiKeyRow>(`SELECT * FROM api_keys WHERE principal = ?${after} ORDER BY created_at DESC, id DESC${limit}`, [
    principal,
    ...position,
    ...(page === undefined ? [] : [page.limit]),
  ]);
  return rows.map(toApiKey);
}

export async function getApiKey(ctx: SqlContext, id: string): Promise<ApiKeyRecord | null> {
  const row = await ctx.db.get<ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?', [id]);
  return row ? toApiKey(row) : null;
}

export function revokeApiKey(ctx: SqlContext, principal: string, id: string, by: Actor): Promise<void> {
  return ctx.db.transaction(async (tx) => {
    const row = await tx.get<ApiKeyRow>(`SELECT * FROM api_keys WHERE id = ? AND principal = ?${ctx.forUpdate}`, [id, principal]);
    if (!row) throw new NotFoundError(`API key ${id} of ${principal} not found`);
    // Revoking again changes nothing, so it records nothing.
    if (row.revoked_at !== null) return;
    const revokedAt = ctx.now();
    await tx.run('UPDATE api_keys SET revoked_at = ? WHERE id = ?', [revokedAt, id]);
    const described = { id, principal, audience: row.audience, expiresAt: row.expires_at };
    await audit(ctx, tx, by, {
      type: 'api-key.revoke',
      target: principal,
      before: { ...described, revokedAt: null },
      after: { ...described, revokedAt },
    });
  });
}
