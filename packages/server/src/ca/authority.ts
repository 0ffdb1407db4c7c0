// The running CA of one instance: the rotation engine (rotation/runner.ts) configured for CA
// generations, and the answers to "which generation signs now" and "what is the trust bundle".
// Each step is stored here with the store's compare-and-set calls (or an insert into a
// one-per-state slot). Built once by the server's composition function.

import type { Sealer } from '../keys/master-key.ts';
import type { RotationPolicy, RotationStep, Slot } from '../rotation/plan.ts';
import { nextPrepareAt, signingSlotAt } from '../rotation/plan.ts';
import { RotationRunner } from '../rotation/runner.ts';
import type { Actor, CaRecord } from '../storage/records.ts';
import type { Store } from '../storage/store.ts';
import { createCa } from './create-ca.ts';
import { CaImportError, CaRotationRefusedError, InvalidCaRecordError } from './errors.ts';
import { openGeneration } from './generation.ts';
import type { Generation } from './generation.ts';
import { adoptImportedCa, readAndSealImportedCa } from './import-ca.ts';
import type { ImportedCa } from './import-ca.ts';
import { activatesAt, caSlots, newestFirst, removeAt } from './rotation.ts';
import { createServiceCertificateIssuer, type ServiceCertificateIssuer } from './service-certificate.ts';
import type { IssuedServiceCertificate, ServiceCertificateRequest } from './service-certificate.ts';
import { issueServerCertificate } from './server-certificate.ts';
import type { IssuedCertificate, ServerCertificateRequest } from './server-certificate.ts';
import { caRotationPolicy } from './settings.ts';
import type { CaSettings } from './settings.ts';
import { toPem } from './x509.ts';

/** The part of the Store the CA needs; tests hand in a small in-memory object. */
export type CaStore = Pick<
  Store,
  'getActiveCa' | 'initCa' | 'listCas' | 'insertPreparedCa' | 'transitionCa' | 'removeCa' | 'recordCertificate' | 'appendAudit' | 'dnsLabelHolder'
>;

/** The slice of a pino/fastify logger this needs. */
export interface CaLogger {
  error(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface CertificateAuthorityOptions {
  store: CaStore;
  sealer: Sealer;
  settings: CaSettings;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** How often start() reloads the generations and advances rotation. */
  checkIntervalMs?: number;
  /**
   * False in every cluster worker but the first: refresh() then only loads the generations the
   * owner of the rotation stored (and adopts no import), so each step is taken by one process.
   * The signing generation is still picked by activation time. Default true.
   */
  rotates?: boolean;
}

export interface CaGenerationInfo {
  id: string;
  state: CaRecord['state'];
  createdAt: number;
  /** When it signs (signed) from. */
  activatesAt: number;
  /** When an old generation leaves the bundle; null for the others. */
  removeAt: number | null;
  /** The issuing certificate's subject and notAfter. */
  subject: string;
  notAfter: number;
}

export interface ForcedCaRotationResult {
  id: string;
  activatesAt: number;
  /** False when a successor was already prepared: that one is reported, none is added. */
  created: boolean;
}

export interface CertificateAuthority {
  /** The generation that signs now. */
  readonly id: string;
  readonly trustDomain: string;
  /**
   * The chains of the prepared, active and old generations (issuing CA up to root), newest first,
   * each certificate once: `<dataDir>/ca.pem` and `GET /ca/v1/bundle`.
   */
  readonly bundlePem: string;
  /** The chain of the generation that signs now: its issuing certificate(s), then the root. */
  readonly chainPem: string;
  issueServerCertificate(request: ServerCertificateRequest): Promise<IssuedCertificate>;
  /** A service certificate (docs/certificates.md, Service certificate profile) from a CSR, recorded in the store. */
  issueServiceCertificate(request: ServiceCertificateRequest): Promise<IssuedServiceCertificate>;
  generations(): CaGenerationInfo[];
  /**
   * When the scheduler will next create a generation: a sixth of the signing generation's life
   * before its end, at the latest the pre-publication window plus the retention before it; null
   * for an imported CA, which cannot make its successor.
   */
  nextRotationAt(): number | null;
  /** Called with the new bundle whenever a refresh changes it; returns an unsubscribe function. */
  onBundleChange(listener: (bundlePem: string) => void | Promise<void>): () => void;
  /** Called after every refresh, also one that failed (the generations already loaded stay in use); returns an unsubscribe function. */
  onRefresh(listener: () => void | Promise<void>): () => void;
  /** Reloads the generations and applies every rotation step that is due. */
  refresh(): Promise<void>;
  /** Forced rotation (admin API): prepares a successor that signs after the pre-publication window. */
  rotate(by: Actor): Promise<ForcedCaRotationResult>;
  /** Refreshes every checkIntervalMs until stop(); problems go to `logger`. */
  start(logger: CaLogger): void;
  stop(): Promise<void>;
}

/** Opens the CA: imports `settings.import` if it is new, creates a CA on first start, then refreshes. */
export async function loadCertificateAuthority(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
  const files = options.settings.import;
  const imported = files === null || options.rotates === false ? null : await readAndSealImportedCa(files, options.sealer, options.now());
  const authority = new Authority(options, imported);
  await authority.refresh();
  return authority;
}

interface Loaded {
  generations: readonly Generation[];
  /** The generations as the planner sees them, in the same order. */
  slots: readonly Slot[];
  bundlePem: string;
}

class Authority implements CertificateAuthority {
  readonly #store: CaStore;
  readonly #sealer: Sealer;
  readonly #settings: CaSettings;
  readonly #policy: RotationPolicy;
  readonly #now: () => number;
  readonly #runner: RotationRunner;
  readonly #listeners = new Set<(bundlePem: string) => void | Promise<void>>();
  readonly #refreshListeners = new Set<() => void | Promise<void>>();
  #logger: CaLogger | null = null;
  #records: readonly CaRecord[] = [];
  #loaded: Loaded = { generations: [], slots: [], bundlePem: '' };
  readonly #imported: ImportedCa | null;
  /** Until the first refresh succeeds, a problem with the import stops the start instead of being logged. */
  #starting = true;
  readonly #warned = new Set<string>();
  readonly #services: ServiceCertificateIssuer;

  constructor(options: CertificateAuthorityOptions, imported: ImportedCa | null) {
    this.#imported = imported;
    this.#store = options.store;
    this.#services = createServiceCertificateIssuer(options.settings, options.store);
    this.#sealer = options.sealer;
    this.#settings = options.settings;
    this.#policy = caRotationPolicy(options.settings);
    this.#now = options.now;
    this.#runner = new RotationRunner({
      target: {
        load: () => this.#load(),
        perform: (step, now) => this.#perform(step, now),
        beforePlan: () => this.#beforePlan(),
        accepts: (step) => this.#canPerform(step),
        afterRefresh: () => this.#afterRefresh(),
      },
      policy: this.#policy,
      now: options.now,
      checkIntervalMs: options.checkIntervalMs ?? 30_000,
      rotates: options.rotates ?? true,
      subject: 'CA',
      onError: (error) => this.#log('error', { err: error }, 'CA refresh failed; keeping the CA generations already loaded'),
    });
  }

  get id(): string {
    return this.#signing(this.#now()).id;
  }

  get trustDomain(): string {
    return this.#settings.trustDomain;
  }

  get bundlePem(): string {
    return this.#loaded.bundlePem;
  }

  get chainPem(): string {
    return this.#signing(this.#now()).chainPem;
  }

  issueServerCertificate(request: ServerCertificateRequest): Promise<IssuedCertificate> {
    return issueServerCertificate(this.#signing(request.now), request);
  }

  issueServiceCertificate(request: ServiceCertificateRequest): Promise<IssuedServiceCertificate> {
    return this.#services.issue(this.#signing(request.now), request);
  }

  generations(): CaGenerationInfo[] {
    const { generations } = this.#loaded;
    return newestFirst(generations).map((generation) => ({
      id: generation.id,
      state: generation.state,
      createdAt: generation.createdAt,
      activatesAt: activatesAt(generation, this.#policy),
      removeAt: generation.state === 'old' ? removeAt(generation, generations, this.#policy) : null,
      subject: generation.chain[0]?.subject ?? '',
      notAfter: generation.notAfter,
    }));
  }

  nextRotationAt(): number | null {
    if (this.#settings.import !== null) return null;
    return nextPrepareAt(this.#loaded.slots, this.#policy);
  }

  onBundleChange(listener: (bundlePem: string) => void | Promise<void>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onRefresh(listener: () => void | Promise<void>): () => void {
    this.#refreshListeners.add(listener);
    return () => this.#refreshListeners.delete(listener);
  }

  refresh(): Promise<void> {
    return this.#runner.refresh();
  }

  async rotate(by: Actor): Promise<ForcedCaRotationResult> {
    if (this.#settings.import !== null) {
      throw new CaRotationRefusedError(
        'the CA is imported (ca.import), so Tessera holds no key to make its successor: import the new issuing CA ' +
          '(TESSERA_CA_KEY_FILE and TESSERA_CA_CHAIN_FILE) and restart; it is prepared and takes over after the pre-publication window',
      );
    }
    return this.#runner.rotate((result, now) =>
      this.#store.appendAudit({ at: now, actor: by.actor, type: 'ca.rotate', target: result.id, before: null, after: result }),
    );
  }

  start(logger: CaLogger): void {
    this.#logger = logger;
    this.#runner.start();
  }

  stop(): Promise<void> {
    return this.#runner.stop();
  }

  #log(level: 'error' | 'warn', details: object, message: string): void {
    try {
      this.#logger?.[level](details, message);
    } catch {
      // A failing logger must not turn into an unhandled rejection that ends the process.
    }
  }

  #signing(now: number): Generation & { issuer: NonNullable<Generation['issuer']> } {
    const { generations, slots } = this.#loaded;
    const slot = signingSlotAt(slots, now);
    // Slots stand in the generations' order.
    const generation = slot === undefined ? undefined : generations[slots.indexOf(slot)];
    if (generation === undefined || generation.issuer === null) throw new InvalidCaRecordError('no CA generation can sign: the CA has not been loaded');
    return generation as Generation & { issuer: NonNullable<Generation['issuer']> };
  }

  async #afterRefresh(): Promise<void> {
    for (const listener of this.#refreshListeners) {
      try {
        await listener();
      } catch (error) {
        this.#log('error', { err: error }, 'a CA refresh listener failed');
      }
    }
  }

  /** The import is tried before every planning pass: an activation in this very refresh may free the slot it waits for. */
  async #beforePlan(): Promise<boolean> {
    const changed = this.#imported !== null && (await this.#adoptImport(this.#imported, this.#records));
    this.#starting = false;
    return changed;
  }

  /** One step towards storing the import; true when the store changed. */
  async #adoptImport(imported: ImportedCa, records: readonly CaRecord[]): Promise<boolean> {
    const { standing, generation } = await adoptImportedCa(this.#store, imported, records, this.#now());
    if (standing === 'retired') {
      const message = `${imported.files.chainFile}: this issuing CA was used and has been replaced (generation ${generation?.id ?? '?'}); import a new one`;
      if (this.#starting) throw new CaImportError(message);
      this.#warnOnce(`retired:${generation?.id ?? ''}`, { ca: generation?.id }, message);
    } else if (standing === 'waiting' && generation !== null) {
      this.#warnOnce(
        `waiting:${generation.id}`,
        { ca: generation.id, activatesAt: new Date(activatesAt(generation, this.#policy)).toISOString() },
        'the imported CA waits for the pending CA rotation to complete; it is prepared as the next generation after that',
      );
    }
    return standing === 'stored' && generation === null;
  }

  /** An imported CA cannot make its own successor: the operator imports one, and is told when. */
  #canPerform(step: RotationStep): boolean {
    if (step.step !== 'prepare' || this.#settings.import === null) return true;
    const active = this.#loaded.generations.find((generation) => generation.state === 'active');
    if (active !== undefined) {
      this.#warnOnce(
        `expiry:${active.id}`,
        { ca: active.id, notAfter: new Date(active.notAfter).toISOString() },
        'the imported CA nears its end; import its successor (TESSERA_CA_KEY_FILE and TESSERA_CA_CHAIN_FILE) and restart',
      );
    }
    return false;
  }

  #warnOnce(key: string, details: object, message: string): void {
    // Before start() there is no logger yet; the warning comes with the first timed refresh.
    if (this.#logger === null || this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#log('warn', details, message);
  }

  async #perform(step: RotationStep, now: number): Promise<boolean> {
    switch (step.step) {
      case 'create-first':
      case 'prepare': {
        if (this.#settings.import !== null) throw new CaImportError('no active CA, though ca.import is set; restart to import it again');
        // A generation's activation time follows from its state and creation time (ca/rotation.ts).
        const state = step.step === 'create-first' ? 'active' : 'prepared';
        const created = await createCa({ now, trustDomain: this.#settings.trustDomain });
        const sealedPrivateKey = this.#sealer.seal(created.issuingKeyPkcs8, created.record.id);
        created.issuingKeyPkcs8.fill(0);
        const record: CaRecord = { ...created.record, state, sealedPrivateKey };
        // initCa keeps the first writer's CA when instances race on an empty store.
        if (state === 'active') return (await this.#store.initCa(record)).id === record.id;
        return this.#store.insertPreparedCa(record);
      }
      case 'activate': {
        // Retire first: the store holds one active CA at a time. Between the two calls every
        // instance already signs with the prepared CA (its activation time has passed), and an
        // instance that stops here leaves a state the next plan finishes. A CA record keeps no
        // retirement time: its successor's creation dates it (ca/rotation.ts).
        if (step.retire !== null && !(await this.#store.transitionCa(step.retire.id, 'active', 'old'))) return false;
        return this.#store.transitionCa(step.id, 'prepared', 'active');
      }
      case 'remove':
        return this.#store.removeCa(step.id);
    }
  }

  async #load(): Promise<readonly Slot[]> {
    const records = await this.#store.listCas();
    this.#records = records;
    const previous = new Map(this.#loaded.generations.map((generation) => [generation.id, generation]));
    const generations: Generation[] = [];
    for (const record of records) {
      const known = previous.get(record.id);
      generations.push(known?.state === record.state ? known : await openGeneration(record, this.#sealer, this.#settings.trustDomain));
    }
    // In an order every instance computes alike, so all serve the same bytes.
    const bundlePem = trustBundle(generations);
    const changed = this.#loaded.bundlePem !== '' && this.#loaded.bundlePem !== bundlePem;
    const slots = caSlots(generations, this.#policy);
    this.#loaded = { generations, slots, bundlePem };
    if (changed) {
      for (const listener of this.#listeners) {
        try {
          await listener(bundlePem);
        } catch (error) {
          this.#log('error', { err: error }, 'a CA bundle listener failed');
        }
      }
    }
    return slots;
  }
}

/**
 * Each generation's issuing certificate and its issuers up to the root, newest generation first,
 * each certificate once. The issuing CAs let a client anchor on Tessera's own CAs alone (the SDK
 * does: an imported CA's root is the operator's and may sign other CAs too); the roots serve
 * clients that need a self-signed anchor (curl, openssl). A new imported issuing CA under the
 * same root thus changes the bundle.
 */
function trustBundle(generations: readonly Generation[]): string {
  return unique(newestFirst(generations).flatMap((generation) => generation.chain.map(toPem))).join('');
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
