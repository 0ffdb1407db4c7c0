// The OpenID Connect identity each person principal is bound to (migration 18): at a person's
// first console sign-in (console/oidc.ts) their principal is bound to the provider's (iss, sub),
// and a later sign-in to that principal from another identity is refused. A system admin deletes
// the binding (DELETE /admin/v1/people/{principal}/binding) when the person's identity at the
// provider really changed; the next sign-in binds again.

import { NotFoundError } from '../errors.ts';
import type { Actor, PersonBinding } from '../records.ts';
import { audit } from './context.ts';
import type { SqlContext } from './context.ts';

interface PersonBindingRow {
  principal: string;
  issuer: string;
  subject: string;
  bound_at: number | string;
}

const toBinding = (row: PersonBindingRow): PersonBinding => ({
  principal: row.principal,
  issuer: row.issuer,
  subject: row.subject,
  boundAt: Number(row.bound_at),
});

export async function getPersonBinding(ctx: SqlContext, principal: string): Promise<PersonBinding | null> {
  const row = await ctx.db.get<PersonBindingRow>('SELECT * FROM person_bindings WHERE principal = ?', [principal]);
  return row ? toBinding(row) : null;
}

/**
 * Binds `principal` to (issuer, subject) unless it is bound already; answers the binding that
 * holds (the existing one, which may name another identity, or the new one). Audit `person.bind`
 * when it binds.
 */
export function bindPerson(ctx: SqlContext, binding: Omit<PersonBinding, 'boundAt'>, by: Actor): Promise<PersonBinding> {
  return ctx.db.transaction(async (tx) => {
    const boundAt = ctx.now();
    const { changes } = await tx.run(
      'INSERT INTO person_bindings (principal, issuer, subject, bound_at) VALUES (?, ?, ?, ?) ON CONFLICT (principal) DO NOTHING',
      [binding.principal, binding.issuer, binding.subject, boundAt],
    );
    if (changes > 0) {
      const after = { issuer: binding.issuer, subject: binding.subject };
      await audit(ctx, tx, by, { type: 'person.bind', target: binding.principal, before: null, after });
      return { ...binding, boundAt };
    }
    const row = await tx.get<PersonBindingRow>('SELECT * FROM person_bindings WHERE principal = ?', [binding.principal]);
    if (!row) throw new Error(`the binding of ${binding.principal} vanished while it was read`);
    return toBinding(row);
  });
}

/** Deletes the binding of `principal` (NotFoundError when there is none). Audit `person.unbind` with the binding. */
export function deletePersonBinding(ctx: SqlContext, principal: string, by: Actor): Promise<PersonBinding> {
  return ctx.db.transaction(async (tx) => {
    const row = await tx.get<PersonBindingRow>('SELECT * FROM person_bindings WHERE principal = ?', [principal]);
    if (!row) throw new NotFoundError(`${principal} is bound to no OpenID Connect identity`);
    await tx.run('DELETE FROM person_bindings WHERE principal = ?', [principal]);
    const binding = toBinding(row);
    await audit(ctx, tx, by, { type: 'person.unbind', target: principal, before: { issuer: binding.issuer, subject: binding.subject }, after: null });
    return binding;
  });
}
