// Runs rotation/plan.ts against a store: load, plan, apply, reload. One runner per configuration
// (signing keys, CA generations); what differs between them — how a step is stored, what a slot
// opens to, what is published — sits behind `RotationTarget`.
//
// Several instances may share one database. Every store write is a compare-and-set (or an
// insert into a one-per-state slot), so for each step exactly one instance succeeds; the others
// see `false`, reload, and plan again from what the winner did. Within one instance, refreshes
// and rotations run one at a time, so a slow pass never loads an older state over a newer one.

import { periodicCheck, type PeriodicCheck } from '../lib/periodic-check.ts';
import { planForcedRotation, planRotation } from './plan.ts';
import type { RotationPolicy, RotationStep, Slot } from './plan.ts';

/** What the runner drives: the storage edge of one configuration. */
export interface RotationTarget {
  /**
   * Reads the stored records, opens what may sign and publishes them; returns them as slots.
   * Opening comes before any step: an instance started with the wrong master key must fail
   * before it stores anything the others cannot open.
   */
  load(): Promise<readonly Slot[]>;
  /** Stores one step; false when another instance took it (or a conflicting one) first. */
  perform(step: RotationStep, now: number): Promise<boolean>;
  /** Before each planning pass: true when it changed the store, which is then loaded again. */
  beforePlan?(): Promise<boolean>;
  /** False for a step this configuration cannot take now (it is left out of the pass). */
  accepts?(step: RotationStep): boolean;
  /** After every refresh, also one that failed. */
  afterRefresh?(): Promise<void>;
}

export interface ForcedRotationResult {
  id: string;
  activatesAt: number;
  /** False when a successor was already published: that one is reported, none is added. */
  created: boolean;
}

export interface RotationRunnerOptions {
  target: RotationTarget;
  policy: RotationPolicy;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** How often start() refreshes. */
  checkIntervalMs: number;
  /**
   * False in every cluster worker but the first (`ownsTimers`): a refresh then only loads, so each
   * step is taken (and logged) by one process. Forced rotation works either way.
   */
  rotates: boolean;
  /** What is rotated, for errors: "signing key", "CA". */
  subject: string;
  /** A timed refresh failed; must not throw. */
  onError(error: unknown): void;
}

// A pass whose step another instance got to first reloads and plans again. Each lost race means
// another instance made progress, so a few passes always settle; the bound only guards against
// a store that keeps answering false.
const MAX_PASSES = 4;

export class RotationRunner {
  readonly #target: RotationTarget;
  readonly #policy: RotationPolicy;
  readonly #now: () => number;
  readonly #rotates: boolean;
  readonly #subject: string;
  readonly #check: PeriodicCheck;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: RotationRunnerOptions) {
    this.#target = options.target;
    this.#policy = options.policy;
    this.#now = options.now;
    this.#rotates = options.rotates;
    this.#subject = options.subject;
    this.#check = periodicCheck(() => this.refresh(), options.checkIntervalMs, options.onError);
  }

  /** Loads and applies every rotation step that is due. */
  refresh(): Promise<void> {
    return this.#serially(async () => {
      try {
        await this.#refresh();
      } finally {
        await this.#target.afterRefresh?.();
      }
    });
  }

  /**
   * Forced rotation (admin API): publishes a successor that signs after the full pre-publication
   * window, or reports the successor already published. `record` runs in turn with the refreshes
   * (the audit event).
   */
  rotate(record: (result: ForcedRotationResult, now: number) => Promise<void>): Promise<ForcedRotationResult> {
    return this.#serially(async () => {
      for (let pass = 0; pass < MAX_PASSES; pass += 1) {
        const slots = await this.#refresh();
        const now = this.#now();
        const plan = planForcedRotation(slots, now, this.#policy);
        if (plan.step === 'already-prepared') {
          const result = { id: plan.id, activatesAt: plan.activatesAt, created: false };
          await record(result, now);
          return result;
        }
        if (await this.#target.perform(plan, now)) {
          const prepared = (await this.#target.load()).find((slot) => slot.state === 'prepared');
          if (prepared === undefined) continue;
          const result = { id: prepared.id, activatesAt: prepared.activatesAt, created: true };
          await record(result, now);
          return result;
        }
        // Another instance published a successor first; the next pass reports it.
      }
      throw new Error(`forced ${this.#subject} rotation did not settle after ${MAX_PASSES} attempts`);
    });
  }

  /** Refreshes every checkIntervalMs until stop(). Refresh once first to fail fast at startup. */
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

  async #refresh(): Promise<readonly Slot[]> {
    let slots = await this.#target.load();
    if (!this.#rotates) return slots;
    for (let pass = 0; pass < MAX_PASSES; pass += 1) {
      if (this.#target.beforePlan !== undefined && (await this.#target.beforePlan())) slots = await this.#target.load();
      const now = this.#now();
      const steps = planRotation(slots, now, this.#policy).filter((step) => this.#target.accepts?.(step) ?? true);
      if (steps.length === 0) return slots;
      for (const step of steps) {
        // Applied in order, stopping at the first one another instance performed first.
        if (!(await this.#target.perform(step, now))) break;
      }
      slots = await this.#target.load();
    }
    return slots;
  }
}
