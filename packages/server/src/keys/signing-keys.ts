// The token-signing keys of one instance: the rotation engine (rotation/runner.ts) configured
// for keys, and the answers to "which key signs now" and "what is the JWKS". Each step is stored
// here with the store's compare-and-set calls, in the states the database has always held.

import type { JSONWebKeySet } from 'jose';
import type { Config } from '../config/config.ts';
import type { RotationStep, Slot } from '../rotation/plan.ts';
import { signingSlotAt } from '../rotation/plan.ts';
import { RotationRunner } from '../rotation/runner.ts';
import type { Actor, AuditEvent, SigningAlg } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import type { Sealer } from './master-key.ts';
import { keySlot, rotationPolicy } from './rotation.ts';
import type { KeyRotationPolicy } from './rotation.ts';
import { generateSigningKey, openSigningKey, publicJwkOf } from './signing-key-material.ts';
import type { SigningKey } from './signing-key-material.ts';

export type SigningKeyStore = Pick<Store, 'listSigningKeys' | 'insertSigningKey' | 'transitionSigningKey' | 'removeSigningKey' | 'appendAudit'>;

/** The slice of a pino/fastify logger this needs. */
export interface SigningKeysLogger {
  error(details: object, message: string): void;
}

export interface SigningKeysOptions {
  store: SigningKeyStore;
  sealer: Sealer;
  /** Algorithm of keys created from now on; a stored key keeps the algorithm it was made for. */
  alg: SigningAlg;
  policy: KeyRotationPolicy;
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
  /** ES256 keys sign on the event loop rather than libuv's thread pool (SigningKey.onEventLoop). Default false. */
  signOnEventLoop?: boolean;
}

/** The options that come from configuration (which counts in seconds). */
export function signingKeysSettings(config: Pick<Config, 'signing' | 'tokens' | 'clockSkew'>): Pick<SigningKeysOptions, 'alg' | 'policy' | 'checkIntervalMs'> {
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

interface Loaded {
  slots: readonly Slot[];
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
  readonly #now: () => number;
  readonly #runner: RotationRunner;
  readonly #onEventLoop: boolean;
  #loaded: Loaded | null = null;

  constructor(options: SigningKeysOptions) {
    this.#store = options.store;
    this.#sealer = options.sealer;
    this.#alg = options.alg;
    this.#now = options.now;
    this.#onEventLoop = options.signOnEventLoop ?? false;
    this.#runner = new RotationRunner({
      target: { load: () => this.#load(), perform: (step, now) => this.#perform(step, now) },
      policy: options.policy,
      now: options.now,
      checkIntervalMs: options.checkIntervalMs,
      rotates: options.rotates ?? true,
      subject: 'signing key',
      onError: (error) => options.logger.error({ err: error }, 'signing key refresh failed; keeping the keys already loaded'),
    });
  }

  /** True once keys have been loaded (readiness). */
  get loaded(): boolean {
    return this.#loaded !== null;
  }

  /** Loads the keys and applies every rotation step that is due. */
  refresh(): Promise<void> {
    return this.#runner.refresh();
  }

  /** The key to sign with right now. */
  current(): SigningKey {
    const loaded = this.#loaded;
    if (loaded === null) throw new NoSigningKeyError('signing keys have not been loaded yet');
    const slot = signingSlotAt(loaded.slots, this.#now());
    const key = slot === undefined ? undefined : loaded.signers.get(slot.id);
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
  async rotate(by: Actor): Promise<ForcedRotationResult> {
    const { id, activatesAt, created } = await this.#runner.rotate(async (rotation) => {
      const result = { kid: rotation.id, activatesAt: rotation.activatesAt, created: rotation.created };
      await this.#audit(by.actor, 'signing-key.rotate', rotation.id, null, result);
    });
    return { kid: id, activatesAt, created };
  }

  /** Refreshes every checkIntervalMs until stop(). Call refresh() once first to fail fast at startup. */
  start(): void {
    this.#runner.start();
  }

  /** Stops the timer and waits for a refresh or rotation in progress. */
  stop(): Promise<void> {
    return this.#runner.stop();
  }

  #requireLoaded(): Loaded {
    if (this.#loaded === null) throw new NoSigningKeyError('signing keys have not been loaded yet');
    return this.#loaded;
  }

  async #perform(step: RotationStep, now: number): Promise<boolean> {
    switch (step.step) {
      case 'create-first':
      case 'prepare': {
        // The storage edge: a prepared key is stored as `next`, an old one as `retired`.
        const state = step.step === 'create-first' ? 'active' : 'next';
        const record = await generateSigningKey(this.#alg, this.#sealer, { state, createdAt: now, activatesAt: step.activatesAt });
        return this.#store.insertSigningKey(record);
      }
      case 'activate': {
        // Retire first: the store holds one active key at a time. Between the two calls,
        // current() already picks the next key everywhere (its activatesAt has passed), and an
        // instance that stops here leaves a state the next plan finishes (activate, nothing to retire).
        const { retire } = step;
        if (retire !== null) {
          const times = { retiredAt: retire.at, removeAt: retire.notAfter };
          if (!(await this.#store.transitionSigningKey(retire.id, 'active', 'retired', times))) return false;
        }
        return this.#store.transitionSigningKey(step.id, 'next', 'active', {});
      }
      case 'remove':
        return this.#store.removeSigningKey(step.id);
    }
  }

  // Key material never goes into an event: only kids, states, algorithms and times.
  #audit(actor: string, type: string, target: string, before: unknown, after: unknown): Promise<void> {
    const event: Omit<AuditEvent, 'id'> = { at: this.#now(), actor, type, target, before, after };
    return this.#store.appendAudit(event);
  }

  async #load(): Promise<readonly Slot[]> {
    const records = await this.#store.listSigningKeys();
    const previous = this.#loaded;
    const signers = new Map<string, SigningKey>();
    for (const record of records) {
      if (record.state === 'retired') continue;
      signers.set(record.kid, previous?.signers.get(record.kid) ?? openSigningKey(record, this.#sealer, { onEventLoop: this.#onEventLoop }));
    }

    const publishedKids = records
      .map((record) => record.kid)
      .sort()
      .join(' ');
    let { jwks, jwksJson } = previous ?? { jwks: { keys: [] }, jwksJson: '' };
    if (previous === null || previous.publishedKids !== publishedKids) {
      // Newest first, in an order every instance computes alike, so all serve the same bytes.
      const ordered = [...records].sort((a, b) => b.activatesAt - a.activatesAt || (a.kid < b.kid ? -1 : 1));
      jwks = { keys: await Promise.all(ordered.map(publicJwkOf)) };
      jwksJson = JSON.stringify(jwks);
    }
    const slots = records.map(keySlot);
    this.#loaded = { slots, signers, publishedKids, jwks, jwksJson };
    return slots;
  }
}
