// An in-memory stand-in for the slice of Store that keys/signing-keys.ts uses, with the same
// guarantees the real drivers give: one `next` and one `active` row at a time (insert answers
// false otherwise), compare-and-set transitions, and removal that only one caller wins.
// Every call yields to the event loop first, so two instances sharing it interleave the way
// they would over a real database. Like the real store, each successful write records its own
// audit event (actor `system`), so every step shows up exactly once.

import type { AuditEvent, SigningKeyRecord, SigningKeyState } from '../../src/storage/records.ts';
import type { SigningKeyStore } from '../../src/keys/signing-keys.ts';

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class FakeSigningKeyStore implements SigningKeyStore {
  readonly keys = new Map<string, SigningKeyRecord>();
  readonly audit: Omit<AuditEvent, 'id'>[] = [];
  /** Writes that answered false because another caller got there first. */
  lostRaces = 0;

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    await tick();
    return [...this.keys.values()].map((key) => ({ ...key }));
  }

  async insertSigningKey(key: SigningKeyRecord): Promise<boolean> {
    await tick();
    const taken = this.keys.has(key.kid) || (key.state !== 'retired' && this.inState(key.state).length > 0);
    if (taken) return this.#lost();
    this.keys.set(key.kid, { ...key });
    this.#record('signing-key.create', key.kid, null, { kid: key.kid, alg: key.alg, state: key.state, activatesAt: key.activatesAt });
    return true;
  }

  async transitionSigningKey(kid: string, from: SigningKeyState, to: SigningKeyState, times: { retiredAt?: number; removeAt?: number }): Promise<boolean> {
    await tick();
    const key = this.keys.get(kid);
    if (key === undefined || key.state !== from) return this.#lost();
    if (to !== 'retired' && this.inState(to).length > 0) return this.#lost();
    this.keys.set(kid, {
      ...key,
      state: to,
      retiredAt: times.retiredAt ?? key.retiredAt,
      removeAt: times.removeAt ?? key.removeAt,
    });
    this.#record(
      to === 'active' ? 'signing-key.activate' : to === 'retired' ? 'signing-key.retire' : 'signing-key.prepare',
      kid,
      { state: from },
      { state: to, ...times },
    );
    return true;
  }

  async removeSigningKey(kid: string): Promise<boolean> {
    await tick();
    const key = this.keys.get(kid);
    if (key === undefined || key.state !== 'retired') return this.#lost();
    this.keys.delete(kid);
    this.#record('signing-key.remove', kid, { kid, state: 'retired' }, null);
    return true;
  }

  async appendAudit(event: Omit<AuditEvent, 'id'>): Promise<void> {
    await tick();
    this.audit.push(event);
  }

  #record(type: string, target: string, before: unknown, after: unknown): void {
    this.audit.push({ at: Date.now(), actor: 'system', type, target, before, after });
  }

  #lost(): false {
    this.lostRaces += 1;
    return false;
  }

  eventsOfType(type: string): Omit<AuditEvent, 'id'>[] {
    return this.audit.filter((event) => event.type === type);
  }

  inState(state: SigningKeyState): SigningKeyRecord[] {
    return [...this.keys.values()].filter((key) => key.state === state);
  }
}
