// One `tessera serve` per embedded (SQLite) data dir. A second one on the same dir used to start
// without a word and serve beside the first; usually that is a mistake (an old instance left
// running, a unit started twice), and the operator should hear which process holds the dir.
// The lock is a file `tessera.lock` in the data dir holding the pid, the process's start time and
// boot id (Linux), and where it serves. A lock whose process is gone (the server was killed, the
// machine restarted) is stale and taken over, also when its pid now belongs to another program.
// No flock: that needs a native addon. A cluster's workers belong to the `tessera serve` that
// forked them: only that process takes the lock.
//
// Several instances on one SQLite file on one host do work (each sees the others' changes within
// 200 ms), and the propagation benchmark and some tests rely on it: `sharedDataDir` opts in.
// PostgreSQL needs no lock: sharing the database is how instances scale there.
// `tessera restore` takes the same lock while it writes a data dir, so that a serve started on
// the dir meanwhile refuses rather than opening a database the restore then replaces.
//
// A pid names a process only within its pid namespace: two containers on one volume each run
// serve as pid 1. The lock records the holder's namespace; one from another namespace cannot be
// checked by pid, so it is live while its holder keeps touching it (every HEARTBEAT_MS), and
// stale once it has not for FOREIGN_STALE_MS (the other container stopped or was killed).

import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bootId, pidNamespace, processStartedAt, processStartTicks } from './process-identity.ts';

export const LOCK_FILE = 'tessera.lock';

export class DataDirInUseError extends Error {
  readonly code = 'DATA_DIR_IN_USE';
  /** The live process holding the dir, when the lock could be read. */
  readonly holder: LockContent | null;
  constructor(message: string, holder: LockContent | null = null) {
    super(message);
    this.name = 'DataDirInUseError';
    this.holder = holder;
  }
}

export interface LockContent {
  pid: number;
  url?: string;
  /** Which command holds the dir; absent means `tessera serve`. */
  command?: string;
  /** The holder's start time (clock ticks since boot, Linux): with `boot`, tells it from a later process given the same pid. */
  start?: string;
  /** The boot the holder ran in (Linux): a lock from another boot is stale whatever process has its pid now. */
  boot?: string;
  /** The holder's pid namespace (Linux, `pid:[…]`): from another one, `pid` says nothing here. */
  ns?: string;
  /** Makes every lock's text unique, so that a takeover can tell the stale lock it judged from a fresh one. */
  id?: string;
}

export interface DataDirLock {
  /** Records where this instance serves, for the message a second one gets. */
  serving(url: string): Promise<void>;
  /** Removes the lock if it is still this process's. */
  release(): Promise<void>;
}

/** Rounds of create, judge, take over; only starts racing each other ever need more than two. */
const ATTEMPTS = 8;
/** Claims of a stale lock passed over because their claimants died before replacing it. */
const CLAIM_LEVELS = 8;
/** A takeover is a few file operations; this is long enough for one to finish. */
const CONTENDED_WAIT_MS = 25;
/** How much later than the lock's last write its holder may seem to have started (the boot time is to the second). */
const START_SLACK_MS = 2000;
/** How often the holder touches the lock, so that another pid namespace can tell it is alive. */
const HEARTBEAT_MS = 15_000;
/** A lock from another pid namespace untouched this long is stale: its holder would have touched it four times. */
const FOREIGN_STALE_MS = 60_000;

/**
 * Takes the lock of `dataDir`, taking over a stale one. Of several starts racing for the same
 * stale lock exactly one wins: a lock is created whole (written to a file of its own, then linked
 * into place, which fails if a lock exists), and a stale lock is replaced only by the start that
 * claimed it (takeOver).
 *
 * @throws {DataDirInUseError} naming the pid (and URL) of the live process that holds `dataDir`.
 */
export async function lockDataDir(dataDir: string, listen: string, pid = process.pid, command = 'tessera serve'): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, LOCK_FILE);
  const [start, boot, ns] = await Promise.all([processStartTicks(pid), bootId(), pidNamespace()]);
  const content = (url: string): string =>
    `${JSON.stringify({ pid, url, ...(command === 'tessera serve' ? {} : { command }), ...(start === null ? {} : { start }), ...(boot === null ? {} : { boot }), ...(ns === null ? {} : { ns }), id: randomBytes(8).toString('hex') })}\n`;
  const busy = (): DataDirInUseError =>
    new DataDirInUseError(`the data dir ${dataDir} is being locked by another tessera serve at this moment (${file}): try again`);

  const temp = await writeTemp(file, content(listen));
  try {
    for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
      if (await linked(temp, file)) return heldLock(file, pid, content);
      const seen = await readLockText(file);
      if (seen === null) continue; // removed since: try to create it again
      const holder = parseLock(seen.text);
      // Only a holder in this namespace with this pid is this process from an earlier start.
      const foreign = holder !== null && isForeign(holder, ns);
      if (holder !== null && (foreign || holder.pid !== pid) && (await holderAlive(holder, seen.mtimeMs))) {
        if (foreign) {
          throw new DataDirInUseError(
            `the data dir ${dataDir} is in use by a ${holder.command ?? 'tessera serve'} in another pid namespace (pid ${holder.pid} there${holder.url ? `, serving at ${holder.url}` : ''}), ` +
              `most likely another container on the same volume, whose process cannot be checked from here: give each container a data dir of its own. ` +
              `If no other container uses this dir, delete ${file}; a lock its holder has not touched for ${FOREIGN_STALE_MS / 1000} s is taken over by itself`,
            holder,
          );
        }
        throw new DataDirInUseError(
          `the data dir ${dataDir} is in use by another ${holder.command ?? 'tessera serve'} (pid ${holder.pid}${holder.url ? `, serving at ${holder.url}` : ''}): ` +
            'stop it first, or give this one another --data-dir. To run several instances on this one SQLite file on purpose, ' +
            'pass --shared-data-dir (TESSERA_SHARED_DATA_DIR=1) to each',
          holder,
        );
      }
      // An empty or half-written lock a moment old is an older version's start writing it, not a stale one.
      if (holder === null && Date.now() - seen.mtimeMs < 2000) throw busy();
      // Stale (its process is gone, or its pid is another process's now), unreadable, or this very
      // process's from an earlier start.
      const outcome = await takeOver(file, seen.text, temp, content(listen));
      if (outcome === 'taken') return heldLock(file, pid, content);
      // Another start is taking it over: give it a moment, then see whose it is.
      if (outcome === 'contended') await sleep(CONTENDED_WAIT_MS);
    }
    throw busy();
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/**
 * Replaces the stale lock whose text is `judged` with `temp`, if this start is the one to do it.
 * The right to replace a stale lock is a claim file named after its text, created exclusively:
 * one start gets it, and it replaces the lock only while the lock still holds that text (no
 * other start can change it meanwhile: only the claimant of a stale lock replaces it, and a
 * live holder's lock is not stale). A claim whose claimant died mid-way is not removed, which
 * would race, but passed over for the next level's.
 */
async function takeOver(file: string, judged: string, temp: string, identity: string): Promise<'taken' | 'changed' | 'contended'> {
  const key = createHash('sha256').update(judged).digest('hex').slice(0, 16);
  const claimTemp = await writeTemp(file, identity);
  try {
    for (let level = 0; level < CLAIM_LEVELS; level += 1) {
      const claim = `${file}.takeover-${key}-${level}`;
      if (!(await linked(claimTemp, claim))) {
        const seen = await readLockText(claim);
        // Removed: its claimant is done, so the lock is no longer the judged one.
        if (seen === null) return 'changed';
        const claimant = parseLock(seen.text);
        if (claimant !== null && (await holderAlive(claimant, seen.mtimeMs))) return 'contended';
        continue;
      }
      try {
        const now = await readFile(file, 'utf8').catch(() => null);
        if (now !== judged) return 'changed';
        await rename(temp, file);
        return 'taken';
      } finally {
        // Only now: until the lock is replaced, a claim of a lower level gone would let another start claim it afresh.
        for (let below = level; below >= 0; below -= 1) await unlink(`${file}.takeover-${key}-${below}`).catch(() => undefined);
      }
    }
    return 'contended';
  } finally {
    await unlink(claimTemp).catch(() => undefined);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function heldLock(file: string, pid: number, content: (url: string) => string): DataDirLock {
  const own = async (): Promise<boolean> => {
    const seen = await readLockText(file);
    return seen !== null && parseLock(seen.text)?.pid === pid;
  };
  // Unref'd: the lock never keeps a process alive. A failed touch is retried at the next beat.
  const heartbeat = setInterval(() => {
    void own()
      .then(async (mine) => {
        if (mine) await utimes(file, new Date(), new Date());
      })
      .catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  return {
    async serving(url) {
      if (!(await own())) return;
      // Replaced whole, so that a start reading it meanwhile never sees half a lock.
      const temp = await writeTemp(file, content(url));
      await rename(temp, file).catch(async (error: unknown) => {
        await unlink(temp).catch(() => undefined);
        throw error;
      });
    },
    async release() {
      clearInterval(heartbeat);
      if (await own()) await unlink(file).catch(() => undefined);
    },
  };
}

/** A file of its own beside the lock, holding `text`; never an existing file or a symlink's target. */
async function writeTemp(file: string, text: string): Promise<string> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
  await writeFile(temp, text, { mode: 0o600, flag: 'wx' });
  return temp;
}

/** link() creates the lock with its whole content, or fails because a lock exists. */
async function linked(temp: string, file: string): Promise<boolean> {
  try {
    await link(temp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function readLockText(file: string): Promise<{ text: string; mtimeMs: number } | null> {
  try {
    const [text, info] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    return { text, mtimeMs: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function parseLock(text: string): LockContent | null {
  try {
    const value = JSON.parse(text) as Partial<Record<keyof LockContent, unknown>>;
    if (typeof value.pid !== 'number' || !Number.isInteger(value.pid) || value.pid <= 0) return null;
    const lock: LockContent = { pid: value.pid };
    if (typeof value.url === 'string') lock.url = value.url;
    if (typeof value.command === 'string') lock.command = value.command;
    if (typeof value.start === 'string') lock.start = value.start;
    if (typeof value.boot === 'string') lock.boot = value.boot;
    if (typeof value.ns === 'string') lock.ns = value.ns;
    return lock;
  } catch {
    return null;
  }
}

/**
 * Whether the lock's holder still runs: its pid is alive, in the same boot, and is the same
 * process — the same start time when the lock records one; else (a lock from an older version)
 * a process started before the lock was last written. Without /proc only the pid is known.
 */
async function holderAlive(holder: LockContent, writtenAtMs: number): Promise<boolean> {
  const [boot, ns] = await Promise.all([bootId(), pidNamespace()]);
  if (holder.boot !== undefined && boot !== null && holder.boot !== boot) return false;
  if (isForeign(holder, ns)) return Date.now() - writtenAtMs < FOREIGN_STALE_MS;
  if (!isAlive(holder.pid)) return false;
  if (holder.start !== undefined) {
    const start = await processStartTicks(holder.pid);
    return start === null || start === holder.start;
  }
  const startedAt = await processStartedAt(holder.pid);
  return startedAt === null || startedAt <= writtenAtMs + START_SLACK_MS;
}

/** True when the lock was written in another pid namespace than `ns` (this process's), where its pid cannot be checked. */
function isForeign(holder: LockContent, ns: string | null): boolean {
  return holder.ns !== undefined && ns !== null && holder.ns !== ns;
}

/**
 * The live process holding `dataDir`, or null when none does (no lock, a stale one, or one that
 * cannot be read). Takes nothing: for a serve that shares the dir and so takes no lock, but must
 * still not start on a dir a restore is writing.
 */
export async function holderOf(dataDir: string): Promise<LockContent | null> {
  const seen = await readLockText(join(dataDir, LOCK_FILE)).catch(() => null);
  const holder = seen === null ? null : parseLock(seen.text);
  return holder !== null && seen !== null && (await holderAlive(holder, seen.mtimeMs)) ? holder : null;
}

/** Signal 0 checks that the process exists; EPERM means it does, as another user's. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
