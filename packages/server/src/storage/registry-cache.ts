// The token endpoint's reads of the registry, from memory: in steady state a token costs no
// database read. Per client, loaded on first use: the service, every secret with its validity
// window, the registered keys and the memberships (with their roles' and domains' lifetime
// limits); which domains exist; and the revoked tokens not yet expired (token exchange and token
// reuse ask). Secrets and memberships are filtered by `now` at each read, as the
// database would.
//
// Freshness. Every change that can alter a token decision records a row in the registry change
// feed in its own transaction (storage/sql/changes.ts), numbered in commit order.
// - A change made through this instance's store is evicted here when its transaction ends,
//   before the change's caller hears back: the very next request sees it.
// - Changes made by other instances (or processes sharing the SQLite file) are read from the
//   feed. SQLite: the feed's counter row is read every `pollMs` (200 ms), and the changes only
//   when it moved: a change is seen within 250 ms. PostgreSQL: each committing change sends a
//   NOTIFY, heard on a dedicated LISTEN connection, so a change is typically seen within
//   milliseconds; the counter is also read every second in case the connection died silently,
//   and every 250 ms while it is known to be down (it is reconnected every second, and the whole
//   cache is flushed when it is back): a change is seen within about 1 s whatever happens.
// - A feed that cannot be read is not trusted: from a failed read, or `maxStaleMs` (1 s on
//   SQLite, 3 s on PostgreSQL, for a connection gone silent) without a successful one, every
//   read goes to the database again, which answers or fails (503) as it did before there was a
//   cache, until the feed is read again. The token endpoint thus keeps answering 503 during a
//   database outage, at most one poll after it began (a partitioned instance cannot go on
//   issuing tokens from what it last knew).
// - A load that overlaps an eviction is used for its own request but not kept: each eviction
//   moves the epoch, and a load is stored only if the epoch did not move while it ran.
// - Feed rows are pruned after an hour (only the oldest, by number); a reader that finds any
//   number missing after its position (pruned before it read it) flushes its whole cache.
//
// Also the records of certificates Tessera issued (tls_client_auth asks whether one was revoked),
// dropped all together at any change of a service (revocations are recorded as such).
//
// Bounds: at most `maxClients` clients (100,000) in LRU order, and `maxCertificates` (100,000).
// Client ids that named no client are remembered apart (`maxUnknown`, 10,000), so random ids
// cannot evict real clients, and are forgotten whenever any service changes (one may have been
// created under them); as are the domain names asked about (`maxDomains`, 10,000). Revoked
// tokens (`maxRevoked`, 100,000; token exchange and token reuse ask on the token path) are held
// only while every live one fits: any client can revoke its own tokens, as many as it can get,
// so past the bound none is held and each question goes to the database (one lookup by key),
// until a reload (each minute, and at every flush) finds them back under the bound.
//
// Introspection and the admin API do not read through this cache: they ask the database.

import { listenForNotices, type NoticeListener } from './drivers/postgres.ts';
import type { CertificateRecord, ClientSecretRecord, Domain, HeldRole, PublicKeyRecord, Service } from './records.ts';
import type { RegistrySource } from './sql-store.ts';
import { CHANGE_CHANNEL, type RegistryChange } from './sql/changes.ts';
import type { RegistryRecord } from './sql/registry.ts';
import type { ClientForAuth, ClientWithKeys, Store } from './store.ts';

/** The reads served from memory. */
export type CachedReads = Pick<
  Store,
  'getClientForAuth' | 'getClientWithKeys' | 'getService' | 'rolesHeld' | 'getDomain' | 'isTokenRevoked' | 'getCertificate'
>;

/** What the token endpoint reads and writes through the cache: the cached reads, and the assertion jti check. */
export type TokenPathStore = CachedReads & Pick<Store, 'consumeAssertionJti'>;

export interface RegistryCacheOptions {
  maxClients?: number;
  maxUnknown?: number;
  maxDomains?: number;
  maxCertificates?: number;
  /** Revoked tokens held while every live one fits; beyond it (or 0) isTokenRevoked asks the database. */
  maxRevoked?: number;
  /** How often the feed's counter is read: SQLite always, PostgreSQL while its LISTEN connection is down. */
  pollMs?: number;
  /** PostgreSQL: how often the counter is read while the LISTEN connection is up. */
  safetyPollMs?: number;
  /** After this long without a successful feed read, reads go to the database. */
  maxStaleMs?: number;
  /** How long feed rows are kept. */
  keepChangesMs?: number;
  /** How often old feed rows and expired revoked tokens are pruned (a minute). */
  pruneEveryMs?: number;
  /** PostgreSQL: how long after losing its LISTEN connection it tries again. */
  listenRetryMs?: number;
  /** PostgreSQL: the database to LISTEN on (absent: poll only). */
  listenUrl?: string;
  /** The clock of records (revoked tokens' expiry, feed row times). */
  now?: () => number;
  /** Told when the feed cannot be read, or the LISTEN connection drops or comes back. */
  onEvent?: (event: { kind: 'feed-failed' | 'listen-down' | 'listen-up'; error?: unknown }) => void;
}

export const REGISTRY_CACHE_DEFAULTS = {
  maxClients: 100_000,
  maxUnknown: 10_000,
  maxDomains: 10_000,
  maxCertificates: 100_000,
  maxRevoked: 100_000,
  sqlitePollMs: 200,
  postgresPollMs: 250,
  safetyPollMs: 1000,
  listenRetryMs: 1000,
  sqliteMaxStaleMs: 1000,
  postgresMaxStaleMs: 3000,
  keepChangesMs: 3_600_000,
  pruneEveryMs: 60_000,
} as const;

const FEED_PAGE = 1000;

interface Entry {
  service: Service | null;
  secrets: readonly ClientSecretRecord[];
  publicKeys: readonly PublicKeyRecord[];
  memberships: readonly HeldRole[];
}

export class RegistryCache implements TokenPathStore {
  readonly #source: RegistrySource;
  readonly #store: Store;
  readonly #now: () => number;
  readonly #maxClients: number;
  readonly #maxUnknown: number;
  readonly #maxDomains: number;
  readonly #maxCertificates: number;
  readonly #maxRevoked: number;
  readonly #pollMs: number;
  readonly #safetyPollMs: number;
  readonly #maxStaleMs: number;
  readonly #keepChangesMs: number;
  readonly #pruneEveryMs: number;
  readonly #listenUrl: string | undefined;
  readonly #listenRetryMs: number;
  readonly #onEvent: NonNullable<RegistryCacheOptions['onEvent']>;

  /** principal → what the token endpoint reads about it, in LRU order (oldest first). */
  readonly #entries = new Map<string, Entry>();
  /** The principal known to be #entries' last (most recently used) key, or undefined: touching it again needs no move. */
  #newest: string | undefined;
  /** client id → principal, for the entries held. */
  readonly #clientIds = new Map<string, string>();
  /** Client ids that named no client, in LRU order. */
  readonly #unknown = new Set<string>();
  readonly #domains = new Map<string, Domain | null>();
  /** serial → the record of a certificate Tessera issued (never a serial it has no record of: one may be recorded any moment). */
  readonly #certificates = new Map<string, CertificateRecord | null>();
  /** jti → expiry (ms) of every revoked token not yet expired; null when they are more than maxRevoked (or it is 0). */
  #revoked: Map<string, number> | null = null;
  /** Set when the revoked tokens are to be read again at the next feed read (they were over the bound). */
  #revokedReloadPending = false;
  /** Feed rows of this instance's own changes, evicted when they committed, not yet passed by the cursor. */
  readonly #ownSeqs = new Set<number>();
  /** Moves at every eviction: a load that saw it move is not kept. */
  #epoch = 0;
  /** The last feed row applied. */
  #cursor = 0;
  #ready = false;
  #closed = false;
  /** When the feed was last read successfully (monotonic ms). */
  #syncedAt = 0;
  #syncing: Promise<void> | null = null;
  #syncAgain = false;
  #timer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #listener: NoticeListener | null = null;
  #listening = false;
  #listenedBefore = false;
  /** Set when the whole cache must be flushed at the next feed read. */
  #flushPending = false;
  #unsubscribe: (() => void) | undefined;

  constructor(store: Store & RegistrySource, options: RegistryCacheOptions = {}) {
    this.#source = store;
    this.#store = store;
    this.#now = options.now ?? Date.now;
    this.#maxClients = options.maxClients ?? REGISTRY_CACHE_DEFAULTS.maxClients;
    this.#maxUnknown = options.maxUnknown ?? REGISTRY_CACHE_DEFAULTS.maxUnknown;
    this.#maxDomains = options.maxDomains ?? REGISTRY_CACHE_DEFAULTS.maxDomains;
    this.#maxCertificates = options.maxCertificates ?? REGISTRY_CACHE_DEFAULTS.maxCertificates;
    this.#maxRevoked = options.maxRevoked ?? REGISTRY_CACHE_DEFAULTS.maxRevoked;
    const defaultPoll = store.kind === 'sqlite' ? REGISTRY_CACHE_DEFAULTS.sqlitePollMs : REGISTRY_CACHE_DEFAULTS.postgresPollMs;
    this.#pollMs = options.pollMs ?? defaultPoll;
    this.#safetyPollMs = options.safetyPollMs ?? REGISTRY_CACHE_DEFAULTS.safetyPollMs;
    const defaultStale = store.kind === 'sqlite' ? REGISTRY_CACHE_DEFAULTS.sqliteMaxStaleMs : REGISTRY_CACHE_DEFAULTS.postgresMaxStaleMs;
    this.#maxStaleMs = options.maxStaleMs ?? defaultStale;
    this.#keepChangesMs = options.keepChangesMs ?? REGISTRY_CACHE_DEFAULTS.keepChangesMs;
    this.#pruneEveryMs = options.pruneEveryMs ?? REGISTRY_CACHE_DEFAULTS.pruneEveryMs;
    this.#listenUrl = store.kind === 'postgres' ? options.listenUrl : undefined;
    this.#listenRetryMs = options.listenRetryMs ?? REGISTRY_CACHE_DEFAULTS.listenRetryMs;
    this.#onEvent = options.onEvent ?? (() => {});
  }

  /** Clients held (known ones). */
  get size(): number {
    return this.#entries.size;
  }

  /** PostgreSQL: the LISTEN connection's server process id; null while it is down or on SQLite. */
  get listenerPid(): number | null {
    return this.#listener?.backendPid ?? null;
  }

  /** Reads the feed's position and the revoked tokens, then starts hearing of changes. Reads before this go to the database. */
  async start(): Promise<void> {
    this.#unsubscribe = this.#source.onChanges((changes, committed) => {
      this.#evict(changes, true);
      // Evicted already: the feed need not evict them again (which would cost a reload). Only
      // when committed: a number rolled back is taken by the next change, maybe another instance's.
      if (committed) for (const { seq } of changes) if (seq > this.#cursor) this.#ownSeqs.add(seq);
    });
    this.#cursor = await this.#source.changeCounter();
    await this.#loadRevoked();
    this.#syncedAt = performance.now();
    this.#ready = true;
    if (this.#listenUrl !== undefined) {
      this.#listener = listenForNotices(
        this.#listenUrl,
        CHANGE_CHANNEL,
        {
          notified: () => this.#syncInBackground(),
          up: () => {
            // Whatever happened while it was down, nothing held is trusted: start over.
            if (this.#listenedBefore) this.#flushPending = true;
            this.#listenedBefore = true;
            this.#listening = true;
            this.#schedule();
            this.#onEvent({ kind: 'listen-up' });
            this.#syncInBackground();
          },
          down: (error) => {
            this.#listening = false;
            this.#schedule();
            this.#onEvent({ kind: 'listen-down', error });
            // Whether the database itself is gone: if so, the cache stops answering at once.
            this.#syncInBackground();
          },
        },
        this.#listenRetryMs,
      );
    }
    this.#schedule();
    this.#pruneTimer = setInterval(() => void this.#prune(), this.#pruneEveryMs);
    this.#pruneTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    clearInterval(this.#pruneTimer);
    this.#unsubscribe?.();
    await this.#listener?.close();
    await this.#syncing?.catch(() => {});
  }

  async getClientForAuth(clientId: string, now: number): Promise<ClientForAuth | null> {
    if (!this.#trusted()) return this.#store.getClientForAuth(clientId, now);
    const entry = await this.#byClientId(clientId);
    if (entry?.service == null) return null;
    const secrets = entry.secrets.filter((secret) => secret.expiresAt === null || secret.expiresAt > now).sort(newestFirst);
    return { service: entry.service, secrets };
  }

  async getClientWithKeys(clientId: string): Promise<ClientWithKeys | null> {
    if (!this.#trusted()) return this.#store.getClientWithKeys(clientId);
    const entry = await this.#byClientId(clientId);
    if (entry?.service == null) return null;
    return { service: entry.service, publicKeys: [...entry.publicKeys] };
  }

  async getService(principal: string): Promise<Service | null> {
    if (!this.#trusted()) return this.#store.getService(principal);
    return (await this.#byPrincipal(principal)).service;
  }

  async rolesHeld(principal: string, domains: string[], now: number): Promise<HeldRole[]> {
    if (!this.#trusted()) return this.#store.rolesHeld(principal, domains, now);
    const wanted = new Set(domains);
    if (wanted.size === 0) return [];
    const entry = await this.#byPrincipal(principal);
    return entry.memberships.filter((held) => wanted.has(held.domain) && (held.expiresAt === null || held.expiresAt > now));
  }

  async getDomain(name: string): Promise<Domain | null> {
    if (!this.#trusted()) return this.#store.getDomain(name);
    // An unknown name is remembered too: creating the domain records its change.
    return this.#remembered(this.#domains, this.#maxDomains, name, () => this.#store.getDomain(name), true);
  }

  async getCertificate(serial: string): Promise<CertificateRecord | null> {
    if (!this.#trusted()) return this.#store.getCertificate(serial);
    return this.#remembered(this.#certificates, this.#maxCertificates, serial, () => this.#store.getCertificate(serial), false);
  }

  /** `key`'s value in `map` (a bounded LRU-by-insertion), loaded and kept unless an eviction overlapped the load; null kept only if `keepNull`. */
  async #remembered<T extends object>(
    map: Map<string, T | null>,
    max: number,
    key: string,
    load: () => Promise<T | null>,
    keepNull: boolean,
  ): Promise<T | null> {
    const known = map.get(key);
    if (known !== undefined) return known;
    const epoch = this.#epoch;
    const value = await load();
    if ((value !== null || keepNull) && epoch === this.#epoch) {
      if (map.size >= max) map.delete(map.keys().next().value!);
      map.set(key, value === null ? null : Object.freeze(value));
    }
    return value;
  }

  async isTokenRevoked(jti: string, now: number): Promise<boolean> {
    if (!this.#trusted() || this.#revoked === null) return this.#store.isTokenRevoked(jti, now);
    const until = this.#revoked.get(jti);
    return until !== undefined && until > now;
  }

  /**
   * Not cached: a private_key_jwt assertion's jti is recorded in the database, so a replay is
   * refused by every instance. The one statement such a token costs.
   */
  consumeAssertionJti(clientId: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
    return this.#store.consumeAssertionJti(clientId, jti, expiresAt, now);
  }

  /** Reads the feed past the last row applied and evicts what it names; one read at a time. */
  sync(): Promise<void> {
    if (this.#closed || !this.#ready) return Promise.resolve();
    if (this.#syncing) {
      this.#syncAgain = true;
      return this.#syncing;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this.#syncAgain = false;
          await this.#syncOnce();
        } while (this.#syncAgain && !this.#closed);
      } catch (error) {
        // A feed that cannot be read vouches for nothing: reads go to the database until it can.
        this.#syncedAt = Number.NEGATIVE_INFINITY;
        throw error;
      } finally {
        this.#syncing = null;
      }
    };
    this.#syncing = run();
    return this.#syncing;
  }

  /** Forgets every client and domain held, at the next feed read, and reads the revoked tokens again. */
  flush(): Promise<void> {
    this.#flushPending = true;
    return this.sync();
  }

  async #flush(): Promise<void> {
    // The position first: whatever commits after it is read from the feed again.
    const counter = await this.#source.changeCounter();
    this.#clear();
    await this.#loadRevoked();
    this.#cursor = counter;
    for (const seq of this.#ownSeqs) if (seq <= counter) this.#ownSeqs.delete(seq);
    this.#syncedAt = performance.now();
  }

  #trusted(): boolean {
    return this.#ready && !this.#closed && performance.now() - this.#syncedAt <= this.#maxStaleMs;
  }

  async #syncOnce(): Promise<void> {
    if (this.#flushPending) {
      this.#flushPending = false;
      await this.#flush();
      return;
    }
    const counter = await this.#source.changeCounter();
    if (counter < this.#cursor) {
      // The feed started over (its tables were emptied): nothing held can be vouched for.
      await this.#flush();
      return;
    }
    if (this.#revokedReloadPending) {
      // Before the rows past the cursor: a revocation that commits after this read is among them.
      this.#revokedReloadPending = false;
      await this.#loadRevoked();
    }
    const tokens: string[] = [];
    let after = this.#cursor;
    while (after < counter) {
      const rows = await this.#source.readChanges(after, FEED_PAGE);
      if (rows.length === 0 || !rows.every((row, i) => row.seq === after + 1 + i)) {
        // Numbers are committed without gaps: a missing one is a row this instance never read
        // that was pruned (from the start, or from the middle by a writer whose clock lags).
        await this.#flush();
        return;
      }
      const others = rows.filter((row) => !this.#ownSeqs.delete(row.seq));
      if (others.length > 0) this.#evict(others, false);
      for (const row of others) if (row.scope === 'token') tokens.push(row.key);
      after = rows[rows.length - 1]!.seq;
    }
    if (tokens.length > 0) this.#mergeRevoked(await this.#source.liveRevokedTokens(this.#now(), tokens));
    this.#cursor = after;
    // One told of after this read passed it (its commit and the read crossed).
    for (const seq of this.#ownSeqs) if (seq <= after) this.#ownSeqs.delete(seq);
    this.#syncedAt = performance.now();
  }

  #syncInBackground(): void {
    this.sync().catch((error: unknown) => this.#onEvent({ kind: 'feed-failed', error }));
  }

  #schedule(): void {
    clearInterval(this.#timer);
    if (this.#closed) return;
    const every = this.#listener !== null && this.#listening ? this.#safetyPollMs : this.#pollMs;
    this.#timer = setInterval(() => this.#syncInBackground(), every);
    this.#timer.unref();
  }

  async #prune(): Promise<void> {
    const now = this.#now();
    if (this.#revoked !== null) {
      for (const [jti, until] of this.#revoked) if (until <= now) this.#revoked.delete(jti);
    } else if (this.#maxRevoked > 0) {
      // Over the bound until now: maybe under it again as they expire.
      this.#revokedReloadPending = true;
      this.#syncInBackground();
    }
    await this.#source.pruneChanges(now - this.#keepChangesMs).catch((error: unknown) => this.#onEvent({ kind: 'feed-failed', error }));
  }

  /** Every live revoked token, if they number at most maxRevoked; none otherwise (isTokenRevoked then asks the database). */
  async #loadRevoked(): Promise<void> {
    if (this.#maxRevoked === 0) return;
    const tokens = await this.#source.liveRevokedTokens(this.#now(), undefined, this.#maxRevoked + 1);
    this.#revoked = tokens.length > this.#maxRevoked ? null : new Map(tokens.map(({ jti, expiresAt }) => [jti, expiresAt]));
  }

  #mergeRevoked(tokens: readonly { jti: string; expiresAt: number }[]): void {
    if (this.#revoked === null) return;
    for (const { jti, expiresAt } of tokens) this.#revoked.set(jti, expiresAt);
    if (this.#revoked.size > this.#maxRevoked) this.#revoked = null;
  }

  /** Drops whatever `changes` name. `own`: this instance's, just ended (a revoked token counts as revoked until its expiry is read). */
  #evict(changes: readonly RegistryChange[], own: boolean): void {
    this.#epoch += 1;
    const ownRevoked: string[] = [];
    for (const { scope, key } of changes) {
      if (scope === 'service') {
        this.#drop(key);
        this.#unknown.clear();
        // Certificates are revoked under their service's change (one by one, all of them, with a
        // removed key, with the service): a renewal's lineage is followed by serial, whatever it
        // names, so every certificate held is dropped, not only this service's.
        this.#certificates.clear();
      } else if (scope === 'member') {
        this.#drop(key);
      } else if (scope === 'domain') {
        this.#domains.delete(key);
        for (const [principal, entry] of this.#entries) if (entry.memberships.some((held) => held.domain === key)) this.#drop(principal);
      } else if (scope === 'token' && own && this.#revoked !== null) {
        if (!this.#revoked.has(key)) this.#revoked.set(key, Number.POSITIVE_INFINITY);
        ownRevoked.push(key);
      }
    }
    if (this.#revoked !== null && this.#revoked.size > this.#maxRevoked) this.#revoked = null;
    if (ownRevoked.length > 0) {
      void this.#source
        .liveRevokedTokens(this.#now(), ownRevoked)
        .then((tokens) => this.#mergeRevoked(tokens))
        .catch(() => {});
    }
  }

  #drop(principal: string): void {
    const entry = this.#entries.get(principal);
    if (entry === undefined) return;
    this.#entries.delete(principal);
    if (principal === this.#newest) this.#newest = undefined;
    if (entry.service !== null && this.#clientIds.get(entry.service.clientId) === principal) this.#clientIds.delete(entry.service.clientId);
  }

  #clear(): void {
    this.#epoch += 1;
    this.#entries.clear();
    this.#newest = undefined;
    this.#clientIds.clear();
    this.#unknown.clear();
    this.#domains.clear();
    this.#certificates.clear();
  }

  async #byClientId(clientId: string): Promise<Entry | null> {
    const principal = this.#clientIds.get(clientId);
    if (principal !== undefined) {
      const entry = this.#touch(principal);
      if (entry !== undefined) return entry;
    }
    if (this.#unknown.has(clientId)) {
      this.#unknown.delete(clientId);
      this.#unknown.add(clientId);
      return null;
    }
    const epoch = this.#epoch;
    const record = await this.#source.loadRegistryRecord('client_id', clientId);
    const service = record.service;
    if (service === null || service.clientId !== clientId) {
      if (epoch === this.#epoch) {
        if (this.#unknown.size >= this.#maxUnknown) this.#unknown.delete(this.#unknown.values().next().value!);
        this.#unknown.add(clientId);
      }
      return null;
    }
    return this.#keep(epoch, record);
  }

  async #byPrincipal(principal: string): Promise<Entry> {
    const held = this.#touch(principal);
    if (held !== undefined) return held;
    const epoch = this.#epoch;
    return this.#keep(epoch, await this.#source.loadRegistryRecord('principal', principal), principal);
  }

  /** The entry, moved to the young end of the LRU order. */
  #touch(principal: string): Entry | undefined {
    const entry = this.#entries.get(principal);
    // A request touches its client two or three times (authentication, roles): moved to the end once.
    if (entry !== undefined && principal !== this.#newest) {
      this.#entries.delete(principal);
      this.#entries.set(principal, entry);
      this.#newest = principal;
    }
    return entry;
  }

  /** The record as an entry, kept unless an eviction happened since `epoch` was read. */
  #keep(epoch: number, record: RegistryRecord, principal = record.service?.principal): Entry {
    const entry: Entry = Object.freeze({
      service: record.service === null ? null : Object.freeze({ ...record.service, allowedIps: Object.freeze([...record.service.allowedIps]) as string[] }),
      secrets: Object.freeze(record.secrets.map((secret) => Object.freeze(secret))),
      publicKeys: Object.freeze(record.publicKeys.map((key) => Object.freeze(key))),
      memberships: Object.freeze(record.memberships.map((held) => Object.freeze(held))),
    });
    if (epoch !== this.#epoch || principal === undefined || this.#closed) return entry;
    this.#drop(principal);
    while (this.#entries.size >= this.#maxClients) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#drop(oldest);
    }
    this.#entries.set(principal, entry);
    this.#newest = principal;
    if (entry.service !== null) this.#clientIds.set(entry.service.clientId, principal);
    return entry;
  }
}

/** The current secret (no end) first, then the others newest first: the store's order. */
function newestFirst(a: ClientSecretRecord, b: ClientSecretRecord): number {
  if ((a.expiresAt === null) !== (b.expiresAt === null)) return a.expiresAt === null ? -1 : 1;
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
