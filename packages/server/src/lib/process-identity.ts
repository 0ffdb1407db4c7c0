// Who a pid is, beyond the number: a pid is reused once its process is gone (soon after a reboot,
// in a container often as pid 1 again), so a file that names a pid names a process only together
// with that process's start time and the boot it ran in. Read from /proc on Linux; elsewhere
// these are null and a pid is all there is to go by.

import { readFile, readlink } from 'node:fs/promises';

/**
 * Clock ticks per second of /proc/<pid>/stat's start time: USER_HZ, which Linux fixes at 100 for
 * user space on every architecture it runs on (sysconf(_SC_CLK_TCK), not readable without a native addon).
 */
const TICKS_PER_SECOND = 100;

/** This boot's id (/proc/sys/kernel/random/boot_id); null off Linux. */
export async function bootId(): Promise<string | null> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim() || null;
  } catch {
    return null;
  }
}

/**
 * This process's pid namespace (`pid:[4026531836]`); null off Linux. Two containers each have
 * their own, and a pid means nothing across them: pid 1 here and pid 1 there are two processes.
 */
export async function pidNamespace(): Promise<string | null> {
  try {
    return (await readlink('/proc/self/ns/pid')) || null;
  } catch {
    return null;
  }
}

/** The start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat); null when unknown. */
export async function processStartTicks(pid: number): Promise<string | null> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2, the command name, is in parentheses and may hold spaces and ')': count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = fields[22 - 3];
  return ticks !== undefined && /^\d+$/.test(ticks) ? ticks : null;
}

/** When `pid` started, in milliseconds since the epoch (to the second); null when unknown. */
export async function processStartedAt(pid: number): Promise<number | null> {
  const ticks = await processStartTicks(pid);
  if (ticks === null) return null;
  let boot: number;
  try {
    boot = Number(/^btime (\d+)$/m.exec(await readFile('/proc/stat', 'utf8'))?.[1]);
  } catch {
    return null;
  }
  return Number.isFinite(boot) && boot > 0 ? boot * 1000 + (Number(ticks) * 1000) / TICKS_PER_SECOND : null;
}
