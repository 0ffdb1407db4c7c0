// The CA's generations, a state machine like the signing keys': prepared (in the trust
// bundle, not yet signing) → active (signing) → old (in the bundle until what it signed has
// expired) → removed. The partial unique index allows one prepared and one active generation,
// so when instances race to take a step, each step is one conditional statement and exactly
// one of them wins; only the winner writes the audit event. Events never carry key material.

import type { SqlExecutor } from '../drivers/driver.ts';
import { ConflictError } from '../errors.ts';
import type { CaRecord } from '../records.ts';
import { SYSTEM, audit } from './context.ts';
import type { SqlContext } from './context.ts';
import { toCa } from './rows.ts';
import type { CaRow } from './rows.ts';

type CaState = CaRecord['state'];

/** The steps the state machine has, and the audit event each one writes. */
const TRANSITIONS: ReadonlyMap<string, string> = new Map([
  ['prepared>active', 'ca.activate'],
  ['active>old', 'ca.retire'],
]);

export async function getActiveCa(ctx: SqlContext): Promise<CaRecord | null> {
  const row = await ctx.db.get<CaRow>("SELECT * FROM ca WHERE state = 'active'");
  return row ? toCa(row) : null;
}

export async function listCas(ctx: SqlContext): Promise<CaRecord[]> {
  return (await ctx.db.all<CaRow>('SELECT * FROM ca ORDER BY created_at DESC, id DESC')).map(toCa);
}

export async function initCa(ctx: SqlContext, ca: CaRecord): Promise<CaRecord> {
  if (ca.state !== 'active') throw new Error(`the first CA must be active, not ${ca.state}`);
  return ctx.db.transaction(async (tx) => {
    // The one-active index decides between instances that generated a CA at the same time.
    if (await insertCa(tx, ca)) {
      await audit(ctx, tx, SYSTEM, { type: 'ca.init', target: ca.id, before: null, after: describeCa(ca) });
    }
    const row = await tx.get<CaRow>("SELECT * FROM ca WHERE state = 'active'");
    if (!row) throw new Error('no active CA after initialising one');
    return toCa(row);
  });
}

export async function insertPreparedCa(ctx: SqlContext, ca: CaRecord): Promise<boolean> {
  if (ca.state !== 'prepared') throw new Error(`a new CA generation must be prepared, not ${ca.state}`);
  return ctx.db.transaction(async (tx) => {
    if (!(await insertCa(tx, ca))) return false;
    await audit(ctx, tx, SYSTEM, { type: 'ca.prepare', target: ca.id, before: null, after: describeCa(ca) });
    return true;
  });
}

export async function transitionCa(ctx: SqlContext, id: string, from: CaState, to: CaState): Promise<boolean> {
  const type = TRANSITIONS.get(`${from}>${to}`);
  // A step the state machine lacks is a bug in the caller, not a race it lost.
  if (type === undefined) throw new Error(`a CA generation cannot move from ${from} to ${to}`);
  try {
    return await ctx.db.transaction(async (tx) => {
      const { changes } = await tx.run('UPDATE ca SET state = ? WHERE id = ? AND state = ?', [to, id, from]);
      if (changes === 0) return false;
      const row = await tx.get<CaRow>('SELECT * FROM ca WHERE id = ?', [id]);
      const after = row ? describeCa(toCa(row)) : null;
      await audit(ctx, tx, SYSTEM, { type, target: id, before: { id, state: from }, after });
      return true;
    });
  } catch (error) {
    // Another generation already holds the state this one was moving to.
    if (error instanceof ConflictError) return false;
    throw error;
  }
}

export function removeCa(ctx: SqlContext, id: string): Promise<boolean> {
  return ctx.db.transaction(async (tx) => {
    // The store's own check that nothing this CA signed is still valid (notAfter inclusive, as
    // in RFC 5280): leaving the trust bundle early would break every service still holding one.
    const { changes } = await tx.run(
      `DELETE FROM ca WHERE id = ? AND state = 'old'
         AND NOT EXISTS (SELECT 1 FROM certificates WHERE not_after >= ? AND ca_id = ?)`,
      [id, ctx.now(), id],
    );
    if (changes === 0) return false;
    await audit(ctx, tx, SYSTEM, { type: 'ca.remove', target: id, before: { id, state: 'old' }, after: null });
    return true;
  });
}

/** False when the id or the state's one slot is taken. */
async function insertCa(tx: SqlExecutor, ca: CaRecord): Promise<boolean> {
  // No conflict target: the row yields to the one-per-state index as well as to its id.
  const { changes } = await tx.run(
    `INSERT INTO ca (id, state, chain_pem, root_pem, sealed_private_key, created_at)
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    [ca.id, ca.state, ca.chainPem, ca.rootPem, ca.sealedPrivateKey, ca.createdAt],
  );
  return changes === 1;
}

function describeCa(ca: CaRecord): Record<string, unknown> {
  return { id: ca.id, state: ca.state, createdAt: ca.createdAt };
}
