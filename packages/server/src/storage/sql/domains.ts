import { dnsLabelOf } from '../../policy/names.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Actor, AuditNote, Domain, NamePageQuery } from '../records.ts';
import { claimApproval } from './approvals.ts';
import { audit, checkLifetime, count, domainRow, withNote } from './context.ts';
import type { SqlContext } from './context.ts';
import type { SqlExecutor, SqlValue } from '../drivers/driver.ts';
import { toDomain } from './rows.ts';
import type { DomainRow } from './rows.ts';

export async function createDomain(
  ctx: SqlContext,
  input: { name: string; description?: string | null; tokenMaxLifetime?: number | null },
  by: Actor,
): Promise<Domain> {
  checkLifetime(input.tokenMaxLifetime);
  return ctx.db.transaction(async (tx) => {
    if (await domainRow(tx, input.name)) throw new ConflictError(`domain ${input.name} already exists`);
    const label = dnsLabelOf(input.name);
    const holder = await dnsLabelHolder(tx, label);
    if (holder !== null) {
      throw new ConflictError(
        `domain ${input.name} would share the DNS label "${label}" of its services' certificates (<service>.${label}.<dns suffix>) ` +
          `with domain ${holder}; choose a name that differs from ${holder} in more than dots and dashes`,
      );
    }
    const now = ctx.now();
    const domain: Domain = {
      name: input.name,
      description: input.description ?? null,
      tokenMaxLifetime: input.tokenMaxLifetime ?? null,
      approvalRequiredRoles: [],
      createdAt: now,
      updatedAt: now,
    };
    await tx.run('INSERT INTO domains (name, description, token_max_lifetime, created_at, updated_at) VALUES (?, ?, ?, ?, ?)', [
      domain.name,
      domain.description,
      domain.tokenMaxLifetime,
      now,
      now,
    ]);
    await audit(ctx, tx, by, { type: 'domain.create', target: domain.name, before: null, after: domain });
    return domain;
  });
}

export async function updateDomain(
  ctx: SqlContext,
  name: string,
  patch: { description?: string | null; tokenMaxLifetime?: number | null; approvalRequiredRoles?: readonly string[] },
  by: Actor,
  note?: AuditNote,
  guard?: (before: Domain) => void,
): Promise<Domain> {
  checkLifetime(patch.tokenMaxLifetime);
  return ctx.db.transaction(async (tx) => {
    await claimApproval(ctx, tx, by, note);
    const row = await domainRow(tx, name, ctx.forUpdate);
    if (!row) throw new NotFoundError(`domain ${name} not found`);
    const before = toDomain(row);
    // Judged against the domain as this transaction holds it: no change of it can come between.
    guard?.(before);
    // undefined keeps a field; null clears it.
    const after: Domain = {
      ...before,
      description: patch.description !== undefined ? patch.description : before.description,
      tokenMaxLifetime: patch.tokenMaxLifetime !== undefined ? patch.tokenMaxLifetime : before.tokenMaxLifetime,
      approvalRequiredRoles: patch.approvalRequiredRoles !== undefined ? [...new Set(patch.approvalRequiredRoles)].sort() : before.approvalRequiredRoles,
      updatedAt: ctx.now(),
    };
    await tx.run('UPDATE domains SET description = ?, token_max_lifetime = ?, approval_required_roles = ?, updated_at = ? WHERE name = ?', [
      after.description,
      after.tokenMaxLifetime,
      JSON.stringify(after.approvalRequiredRoles),
      after.updatedAt,
      name,
    ]);
    await audit(ctx, tx, by, { type: 'domain.update', target: name, before, after: withNote(after, note) });
    return after;
  });
}

/**
 * Dots become dashes in SQL exactly as in dnsLabelOf. The oldest domain holds the label, so every
 * instance agrees on it even if two raced past the check in createDomain. A label without a dash
 * can only be its own domain's name: the common case needs no scan.
 */
export async function dnsLabelHolder(db: SqlExecutor, label: string): Promise<string | null> {
  if (!label.includes('-')) return (await domainRow(db, label)) ? label : null;
  const row = await db.get<{ name: string }>("SELECT name FROM domains WHERE REPLACE(name, '.', '-') = ? ORDER BY created_at, name LIMIT 1", [label]);
  return row?.name ?? null;
}

export async function getDomain(ctx: SqlContext, name: string): Promise<Domain | null> {
  const row = await domainRow(ctx.db, name);
  return row ? toDomain(row) : null;
}

/** Domains by name: all, or a page of them (only those in `names`, when given). */
export async function listDomains(ctx: SqlContext, page?: NamePageQuery & { names?: readonly string[] }): Promise<Domain[]> {
  if (page === undefined) return (await ctx.db.all<DomainRow>('SELECT * FROM domains ORDER BY name')).map(toDomain);
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (page.names !== undefined) {
    if (page.names.length === 0) return [];
    where.push(`name IN (${page.names.map(() => '?').join(', ')})`);
    params.push(...page.names);
  }
  if (page.after !== undefined) {
    where.push('name > ?');
    params.push(page.after);
  }
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')} ` : '';
  return (await ctx.db.all<DomainRow>(`SELECT * FROM domains ${filter}ORDER BY name LIMIT ?`, [...params, page.limit])).map(toDomain);
}

export function deleteDomain(ctx: SqlContext, name: string, by: Actor): Promise<void> {
  return ctx.db.transaction(async (tx) => {
    // The lock waits for changes that hold the domain (a service or role being added), so
    // the counts below include them.
    const row = await domainRow(tx, name, ctx.forUpdate);
    if (!row) throw new NotFoundError(`domain ${name} not found`);
    const services = await count(tx, 'SELECT COUNT(*) AS n FROM services WHERE domain = ?', [name]);
    const roles = await count(tx, 'SELECT COUNT(*) AS n FROM roles WHERE domain = ?', [name]);
    if (services > 0 || roles > 0) {
      throw new ConflictError(`domain ${name} still holds ${services} services and ${roles} roles; delete them first`);
    }
    await tx.run('DELETE FROM domains WHERE name = ?', [name]);
    await audit(ctx, tx, by, { type: 'domain.delete', target: name, before: toDomain(row), after: null });
  });
}
