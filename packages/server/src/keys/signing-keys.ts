// The token-signing keys of one instance: loads them from the store, advances rotation by
// applying keys/rotation.ts's plan, and answers "which key signs now" and "what is the JWKS".
//
// Several instances may share one database. Every store write is a compare-and-set (or an
// insert into a one-per-state slot), so for each step exactly one instance succeeds and writes
// the audit event; the others see `false`, reload, and plan again from what the winner did.

import type { JSONWebKeySet } from 'jose';
import type { Config } from '../config/config.ts';
import type { Actor, AuditEvent, SigningAlg, SigningKeyRecord } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import { periodicCheck, type PeriodicCheck } from '../lib/periodic-check.ts';
import type { Sealer } from './master-key.ts';
import { planForcedRotation, planRotation, rotationPolicy, signingKeyAt } from './rotation.ts';
import type { RotationPolicy, RotationStep } from './rotation.ts';
import { generateSigningKey, openSigningKey, publicJwkOf } from './signing-key-material.ts';
import type { SigningKey } from './signing-key-material.ts';

export type SigningKeyStore = Pick<
  Store,
  'listSigningKeys' | 'insertSigningKey' | 'transitionSigningKey' | 'removeSigningKey' | 'appendAudit'
>;

/** The slice of a pino/fastify logger this needs. */
export interface SigningKeysLogger {
  error(details: object, message: string): void;
}

export interface SigningKeysOptions {
  store: SigningKeyStore;
  sealer: Sealer;
  /** Algorithm of keys created from now on; a stored key keeps the algorithm it was made for. */
  alg: SigningAlg;
  policy: RotationPolicy;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** How often start() reloads keys and advances rotation. */
  checkIntervalMs: number;
  logger: SigningKeysLogger;
  /**
   * False in every cluster worker but the first: refresh() then only loads what the owner of the
   * rotation did, so that each step is taken (and logged) by one process. current() still picks
   * the key by its activation time, so a follower signs with a new key as soon as the owner would.
   * Forced rotation (rotate()) works either way. Default true.
   */
  rotates?: boolean;
}

/** The options that come from configuration (which counts in seconds). */
export function signingKeysSettings(
  config: Pick<Config, 'signing' | 'tokens' | 'clockSkew'>,
): Pick<SigningKeysOptions, 'alg' | 'policy' | 'checkIntervalMs'> {
  return { alg: config.signing.alg, policy: rotationPolicy(config), checkIntervalMs: config.signing.checkInterval * 1000 };
}

export interface ForcedRotationResult {
  kid: string;
  activatesAt: number;
  /** False when a successor was already published: that one is reported, none is added. */
  created: boolean;
}

export class NoSigningKeyError extends Error {
  readonly code = 'NO_SIGNING_KEY';
}


// A pass whose step another instance got to first reloads and plans again. Each lost race means
// another instance made progress, so a few passes always settle; the bound only guards against
// a store that keeps answering false.
const MAX_PASSES = 4;

interface Loaded {
  records: readonly SigningKeyRecord[];
  /** Opened private keys of next and active keys; retired keys never sign again. */
  signers: ReadonlyMap<string, SigningKey>;
  /** The published kids, sorted: the JWKS is rebuilt only when this changes. */
  publishedKids: string;
  jwks: JSONWebKeySet;
  jwksJson: string;
}

export class SigningKeys {
  readonly #store: SigningKeyStore;
  readonly #sealer: Sealer;
  readonly #alg: SigningAlg;
  readonly #policy: RotationPolicy;
  readonly #now: () => number;
  readonly #logger: SigningKeysLogger;
  readonly #rotates: boolean;

  #loaded: Loaded | null = null;
  // Refreshes and rotations of one instance run one at a time, so a slow pass can never load an
  // older key set over a newer one.
  #queue: Promise<unknown> = Promise.resolve();
  readonly #check: PeriodicCheck;

  constructor(options: SigningKeysOptions) {
    this.#store = options.store;
    this.#sealer = options.sealer;
    this.#alg = options.alg;
    this.#policy = options.policy;
    this.#now = options.now;
    this.#logger = options.logger;
    this.#rotates = options.rotates ?? true;
    this.#check = periodicCheck(() => this.refresh(), options.checkIntervalMs, (error) =>
      this.#logger.error({ err: error }, 'signing key refresh failed; keeping the keys already loaded'),
    );
  }

  /** True once keys have been loaded (readiness). */
  get loaded(): boolean {
    return this.#loaded !== null;
  }

  /** Loads the keys and applies every rotation step that is due. */
  refresh(): Promise<void> {
    return this.#serially(async () => {
      await this.#refresh();
    });
  }

  /** The key to sign with right now. */
  current(): SigningKey {
    const loaded = this.#loaded;
    if (loaded === null) throw new NoSigningKeyError('signing keys have not been loaded yet');
    const record = signingKeyAt(loaded.records, this.#now());
    const key = record === undefined ? undefined : loaded.signers.get(record.kid);
    if (key === undefined) throw new NoSigningKeyError('no signing key is active');
    return key;
  }

  /** Every published key (next, active, retired), public members only. */
  jwks(): JSONWebKeySet {
    return structuredClone(this.#requireLoaded().jwks);
  }

  /** jwks() serialized, built once per key set: what the JWKS endpoints send. */
  jwksJson(): string {
    return this.#requireLoaded().jwksJson;
  }

  /**
   * Forced rotation (admin API): publishes a successor that signs after the full pre-publication
   * window, or reports the successor already published.
   */
  rotate(by: Actor): Promise<ForcedRotationResult> {
    return this.#serially(async () => {
      for (let pass = 0; pass < MAX_PASSES; pass += 1) {
        const records = await this.#refresh();
        const now = this.#now();
        const plan = planForcedRotation(records, now, this.#policy);
        if (plan.step === 'already-prepared') {
          const result = { kid: plan.kid, activatesAt: plan.activatesAt, created: false };
          await this.#audit(by.actor, 'signing-key.rotate', plan.kid, null, result);
          return result;
        }
        const record = await generateSigningKey(this.#alg, this.#sealer, { state: 'next', createdAt: now, activatesAt: plan.activatesAt });
        if (await this.#store.insertSigningKey(record)) {
          const result = { kid: record.kid, activatesAt: record.activatesAt, created: true };
          await this.#audit(by.actor, 'signing-key.rotate', record.kid, null, result);
          await this.#load(await this.#store.listSigningKeys());
          return result;
        }
        // Another instance published a successor first; the next pass reports it.
      }
      throw new Error(`forced rotation did not settle after ${MAX_PASSES} attempts`);
    });
  }

  /** Refreshes every checkIntervalMs until stop(). Call refresh() once first to fail fast at startup. */
  start(): void {
    this.#check.start();
  }

  /** Stops the timer and waits for a refresh or rotation in progress. */
  async stop(): Promise<void> {
    this.#check.stop();
    await this.#queue;
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #requireLoaded(): Loaded {
    if (this.#loaded === null) throw new NoSigningKeyError('signing keys have not been loaded yet');
    return this.#loaded;
  }

  async #refresh(): Promise<readonly SigningKeyRecord[]> {
    // Loading (and so opening every signing key) comes before any step: an instance started
    // with the wrong master key must fail before it stores a key the others cannot open.
    let records = await this.#store.listSigningKeys();
    await this.#load(records);
    if (!this.#rotates) return records;
    for (let pass = 0; pass < MAX_PASSES; pass += 1) {
      const steps = planRotation(records, this.#now(), this.#policy);
      if (steps.length === 0) return records;
      await this.#apply(steps);
      records = await this.#store.listSigningKeys();
      await this.#load(records);
    }
    return records;
  }

  /** Applies steps in order, stopping at the first one another instance performed first. */
  async #apply(steps: readonly RotationStep[]): Promise<void> {
    for (const step of steps) {
      if (!(await this.#perform(step))) return;
    }
  }

  async #perform(step: RotationStep): Promise<boolean> {
    const now = this.#now();
    switch (step.step) {
      case 'create-first':
      case 'prepare-next': {
        const state = step.step === 'create-first' ? 'active' : 'next';
        const record = await generateSigningKey(this.#alg, this.#sealer, { state, createdAt: now, activatesAt: step.activatesAt });
        return this.#store.insertSigningKey(record);
      }
      case 'promote': {
        // Retire first: the store holds one active key at a time. Between the two calls,
        // current() already picks the next key everywhere (its activatesAt has passed), and an
        // instance that stops here leaves a state the next plan finishes (promote, nothing to retire).
        const { retire } = step;
        if (retire !== null) {
          const retired = await this.#store.transitionSigningKey(retire.kid, 'active', 'retired', {
            retiredAt: retire.retiredAt,
            removeAt: retire.removeAt,
          });
          if (!retired) return false;
        }
        return this.#store.transitionSigningKey(step.kid, 'next', 'active', {});
      }
      case 'remove': {
        return this.#store.removeSigningKey(step.kid);
      }
    }
  }

  // Key material never goes into an event: only kids, states, algorithms and times.
  #audit(actor: string, type: string, target: string, before: unknown, after: unknown): Promise<void> {
    const event: Omit<AuditEvent, 'id'> = { at: this.#now(), actor, type, target, before, after };
    return this.#store.appendAudit(event);
  }

  async #load(records: readonly SigningKeyRecord[]): Promise<void> {
    const previous = this.#loaded;
    const signers = new Map<string, SigningKey>();
    for (const record of records) {
      if (record.state === 'retired') continue;
      signers.set(record.kid, previous?.signers.get(record.kid) ?? openSigningKey(record, this.#sealer));
    }

    const publishedKids = records.map((record) => record.kid).sort().join(' ');
    let { jwks, jwksJson } = previous ?? { jwks: { keys: [] }, jwksJson: '' };
    if (previous === null || previous.publishedKids !== publishedKids) {
      // Newest first, in an order every instance computes alike, so all serve the same bytes.
      const ordered = [...records].sort((a, b) => b.activatesAt - a.activatesAt || (a.kid < b.kid ? -1 : 1));
      jwks = { keys: await Promise.all(ordered.map(publicJwkOf)) };
      jwksJson = JSON.stringify(jwks);
    }
    this.#loaded = { records: [...records], signers, publishedKids, jwks, jwksJson };
  }
}
