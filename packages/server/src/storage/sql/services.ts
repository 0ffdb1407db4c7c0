import type { SqlValue } from '../drivers/driver.ts';
import { ConflictError } from '../errors.ts';
import type { Actor, ClientSecretRecord, CreatedPageQuery, NamePageQuery, PublicKeyRecord, Service } from '../records.ts';
import type { ClientForAuth, ClientWithKeys, NewSecret, NewService, ServicePatch } from '../store.ts';
import { revokeLiveCertificatesOf } from './certificates.ts';
import { audit, holdDomain, lockService, roleTarget, serviceRow } from './context.ts';
import type { SqlContext } from './context.ts';
import { insertSecret, newestFirst } from './credentials.ts';
import { guardSystemAdmins } from './system-admins.ts';
import { toMember, toService } from './rows.ts';
import type { MemberRow, ServiceRow } from './rows.ts';

export function createService(
  ctx: SqlContext,
  input: NewService,
  credentials: { secret?: NewSecret; publicKeys?: { kid: string; pem: string }[] },
  by: Actor,
): Promise<Service> {
  const principal = `${input.domain}.${input.name}`;
  const clientId = input.clientId ?? principal;
  return ctx.db.transaction(async (tx) => {
    await holdDomain(ctx, tx, input.domain);
    if (await serviceRow(tx, principal)) throw new ConflictError(`service ${principal} already exists`);
    if (await tx.get('SELECT 1 AS taken FROM services WHERE client_id = ?', [clientId])) {
      throw new ConflictError(`client_id ${clientId} is already taken`);
    }
    const accountId = input.accountId ?? null;
    // The unique index settles a race between two instances; this check names the problem.
    if (accountId !== null && (await tx.get('SELECT 1 AS taken FROM services WHERE account_id = ?', [accountId]))) {
      throw new ConflictError(`service account ${accountId} already exists`);
    }
    const now = ctx.now();
    const service: Service = {
      principal,
      domain: input.domain,
      name: input.name,
      clientId,
      description: input.description ?? null,
      accountId,
      status: 'ACTIVE',
      allowedIps: input.allowedIps ?? [],
      expiresAt: input.expiresAt ?? null,
      createdAt: now,
      updatedAt: now,
      keyRemovedAt: null,
    };
    await tx.run(
      `INSERT INTO services
         (principal, domain, name, client_id, description, account_id, status, allowed_ips, expires_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        principal,
        service.domain,
        service.name,
        clientId,
        service.description,
        accountId,
        service.status,
        JSON.stringify(service.allowedIps),
        service.expiresAt,
        now,
        now,
      ],
    );
    if (credentials.secret) await insertSecret(tx, principal, credentials.secret, now);
    for (const { kid, pem } of credentials.publicKeys ?? []) {
      await tx.run('INSERT INTO public_keys (principal, kid, pem, created_at) VALUES (?, ?, ?, ?)', [principal, kid, pem, now]);
    }
    // Every write first, the audit events (and so the change counter) last: context.ts lock order.
    await audit(ctx, tx, by, { type: 'service.create', target: principal, before: null, after: service });
    if (credentials.secret) {
      await audit(ctx, tx, by, { type: 'client-secret.add', target: principal, before: null, after: { id: credentials.secret.id } });
    }
    for (const { kid, pem } of credentials.publicKeys ?? []) {
      await audit(ctx, tx, by, { type: 'public-key.put', target: principal, before: null, after: { kid, pem } });
    }
    return service;
  });
}

export async function getService(ctx: SqlContext, principal: string): Promise<Service | null> {
  const row = await serviceRow(ctx.db, principal);
  return row ? toService(row) : null;
}

export async function getServiceByAccountId(ctx: SqlContext, accountId: string): Promise<Service | null> {
  const row = await ctx.db.get<ServiceRow>('SELECT * FROM services WHERE account_id = ?', [accountId]);
  return row ? toService(row) : null;
}

/** Service accounts, oldest first: all, or a page of them (only those of `domains`, when given). */
export async function listServiceAccounts(ctx: SqlContext, page?: CreatedPageQuery & { domains?: readonly string[] }): Promise<Service[]> {
  const where = ['account_id IS NOT NULL'];
  const params: SqlValue[] = [];
  if (page?.domains !== undefined) {
    if (page.domains.length === 0) return [];
    where.push(`domain IN (${page.domains.map(() => '?').join(', ')})`);
    params.push(...page.domains);
  }
  if (page?.after !== undefined) {
    where.push('created_at >= ? AND (created_at > ? OR principal > ?)');
    params.push(page.after.createdAt, page.after.createdAt, page.after.id);
  }
  const limit = page === undefined ? '' : ' LIMIT ?';
  const rows = await ctx.db.all<ServiceRow>(`SELECT * FROM services WHERE ${where.join(' AND ')} ORDER BY created_at, principal${limit}`, [
    ...params,
    ...(page === undefined ? [] : [page.limit]),
  ]);
  return rows.map(toService);
}

/** The domain's services by name: all, or a page of them. */
export async function listServices(ctx: SqlContext, domain: string, page?: NamePageQuery): Promise<Service[]> {
  if (page === undefined) return (await ctx.db.all<ServiceRow>('SELECT * FROM services WHERE domain = ? ORDER BY name', [domain])).map(toService);
  const after = page.after === undefined ? '' : ' AND name > ?';
  const rows = await ctx.db.all<ServiceRow>(`SELECT * FROM services WHERE domain = ?${after} ORDER BY name LIMIT ?`, [
    domain,
    ...(page.after === undefined ? [] : [page.after]),
    page.limit,
  ]);
  return rows.map(toService);
}

export function updateService(ctx: SqlContext, principal: string, patch: ServicePatch, by: Actor): Promise<Service> {
  return ctx.db.transaction(async (tx) => {
    // Disabling or expiring it may end a system admin sooner (system-admins.ts).
    if (patch.status === 'DISABLED' || (patch.expiresAt !== undefined && patch.expiresAt !== null)) await guardSystemAdmins(ctx, tx);
    const before = toService(await lockService(ctx, tx, principal));
    // undefined keeps a field; null clears it.
    const after: Service = {
      ...before,
      status: patch.status ?? before.status,
      description: patch.description !== undefined ? patch.description : before.description,
      allowedIps: patch.allowedIps ?? before.allowedIps,
      expiresAt: patch.expiresAt !== undefined ? patch.expiresAt : before.expiresAt,
      updatedAt: ctx.now(),
    };
    await tx.run('UPDATE services SET status = ?, description = ?, allowed_ips = ?, expires_at = ?, updated_at = ? WHERE principal = ?', [
      after.status,
      after.description,
      JSON.stringify(after.allowedIps),
      after.expiresAt,
      after.updatedAt,
      principal,
    ]);
    await audit(ctx, tx, by, { type: 'service.update', target: principal, before, after });
    return after;
  });
}

export function deleteService(ctx: SqlContext, principal: string, by: Actor): Promise<void> {
  return ctx.db.transaction(async (tx) => {
    // Deleting it may end a system admin (system-admins.ts).
    await guardSystemAdmins(ctx, tx);
    const service = toService(await lockService(ctx, tx, principal));
    const memberships = await tx.all<MemberRow>('SELECT * FROM role_members WHERE principal = ? ORDER BY domain, role', [principal]);
    // Locked in a fixed order, so two deletions sharing roles cannot deadlock.
    const held = '(domain, name) IN (SELECT domain, role FROM role_members WHERE principal = ?)';
    await tx.all(`SELECT domain, name FROM roles WHERE ${held} ORDER BY domain, name${ctx.forUpdate}`, [principal]);
    await tx.run(`UPDATE roles SET updated_at = ? WHERE ${held}`, [ctx.now(), principal]);
    await tx.run('DELETE FROM role_members WHERE principal = ?', [principal]);
    await tx.run('DELETE FROM client_secrets WHERE principal = ?', [principal]);
    await tx.run('DELETE FROM public_keys WHERE principal = ?', [principal]);
    await tx.run('DELETE FROM api_keys WHERE principal = ?', [principal]);
    await tx.run('DELETE FROM join_tokens WHERE principal = ?', [principal]);
    // Its unexpired certificates are revoked, not just forgotten: a service registered again
    // under the same name must not be reachable with the old one's certificates.
    await revokeLiveCertificatesOf(tx, principal, 'cessationOfOperation', ctx.now());
    await tx.run('DELETE FROM services WHERE principal = ?', [principal]);
    await audit(ctx, tx, by, { type: 'service.delete', target: principal, before: service, after: null });
    // Each role's own history shows the member leaving.
    for (const membership of memberships) {
      const target = roleTarget(membership.domain, membership.role);
      await audit(ctx, tx, by, { type: 'role-member.delete', target, before: toMember(membership), after: null });
    }
  });
}

// On the token endpoint's path, and shaped so that an unknown client id costs what a known one
// costs (both lookups below): one statement either way (a second query for the secrets, sent only when the client
// existed, made a wrong secret measurably slower than an unknown client id and so told a caller
// which client ids exist: RFC 9700 §4), and always at least one row, the client's columns NULL
// when there is no such client, so the database and the driver do alike.
const CLIENT_WITH_LIVE_SECRETS = `
  SELECT s.*,
    c.id AS secret_id, c.hash AS secret_hash, c.created_at AS secret_created_at, c.expires_at AS secret_expires_at
  FROM (SELECT 1 AS always) one_row
  LEFT JOIN services s ON s.client_id = ?
  LEFT JOIN client_secrets c ON c.principal = s.principal AND (c.expires_at IS NULL OR c.expires_at > ?)
  ORDER BY ${newestFirst('c')}`;

type Nullable<T> = { [K in keyof T]: T[K] | null };

/** The service's columns are NULL when there is no such client; the secret's, when it has no live secret. */
interface ClientWithSecretRow extends Nullable<ServiceRow> {
  secret_id: string | null;
  secret_hash: string | null;
  secret_created_at: number | null;
  secret_expires_at: number | null;
}

export async function getClientForAuth(ctx: SqlContext, clientId: string, now: number): Promise<ClientForAuth | null> {
  const rows = await ctx.db.all<ClientWithSecretRow>(CLIENT_WITH_LIVE_SECRETS, [clientId, now]);
  const [first] = rows;
  if (!first || first.principal === null) return null;
  const principal = first.principal;
  const secrets: ClientSecretRecord[] = [];
  for (const { secret_id: id, secret_hash: hash, secret_created_at: createdAt, secret_expires_at: expiresAt } of rows) {
    if (id !== null && hash !== null && createdAt !== null) secrets.push({ id, principal, hash, createdAt, expiresAt });
  }
  return { service: toService(first as ServiceRow), secrets };
}

/** The same shape for the key-based methods: the client and every key registered on it. */
const CLIENT_WITH_KEYS = `
  SELECT s.*, k.kid AS key_kid, k.pem AS key_pem, k.created_at AS key_created_at
  FROM (SELECT 1 AS always) one_row
  LEFT JOIN services s ON s.client_id = ?
  LEFT JOIN public_keys k ON k.principal = s.principal
  ORDER BY k.created_at, k.kid`;

/** The service's columns are NULL when there is no such client; the key's, when it has no key. */
interface ClientWithKeyRow extends Nullable<ServiceRow> {
  key_kid: string | null;
  key_pem: string | null;
  key_created_at: number | null;
}

export async function getClientWithKeys(ctx: SqlContext, clientId: string): Promise<ClientWithKeys | null> {
  const rows = await ctx.db.all<ClientWithKeyRow>(CLIENT_WITH_KEYS, [clientId]);
  const [first] = rows;
  if (!first || first.principal === null) return null;
  const principal = first.principal;
  const publicKeys: PublicKeyRecord[] = [];
  for (const { key_kid: kid, key_pem: pem, key_created_at: createdAt } of rows) {
    if (kid !== null && pem !== null && createdAt !== null) publicKeys.push({ principal, kid, pem, createdAt });
  }
  return { service: toService(first as ServiceRow), publicKeys };
}
