// `tessera cert --watch`: keep a valid certificate in --out-dir for as long as the process runs.
// The first certificate comes from the proof, unless --out-dir already holds a valid one for
// the principal (a restarted agent must not spend a one-time join token again); every later
// one is a renewal over mTLS. SIGINT or SIGTERM ends the wait at once and leaves no timer.

import { CliError, describeError, oneLine } from '../errors.ts';
import { ConnectionError, HttpStatusError } from '../http-client.ts';
import { currentForRenewal, expiredError, obtainWithProof, renewOverMtls } from './operations.ts';
import type { CertContext, CertPlan, Outcome } from './operations.ts';
import { hasCurrentCertificate, readCurrentCertificate, shownPath } from './out-dir.ts';
import type { CurrentCertificate } from './out-dir.ts';
import { createSleeper, nextRenewal, realTimers, renewalTime, retryDelay } from './schedule.ts';
import type { Sleeper } from './schedule.ts';

/** Called for every certificate written, with the time its renewal is planned for. */
export type Announce = (outcome: Outcome, renewAt: number) => void;

/** Renewal can never succeed again: the certificate expired and the proof was spent. */
class CannotRenewError extends CliError {}

export async function watchCertificate(plan: CertPlan, ctx: CertContext, announce: Announce): Promise<void> {
  const { io } = ctx;
  const sleeper = createSleeper(io.signals ?? process, io.timers ?? realTimers, ctx.now);
  const log = (line: string): void => void io.stderr.write(`${new Date(ctx.now()).toISOString()} ${line}\n`);
  try {
    let current = await startingCertificate(plan, ctx, sleeper, log, announce);
    while (current !== undefined && !sleeper.stopped) {
      const certificate: Watched = current;
      if (!(await sleeper.sleepUntil(certificate.renewAt))) break;
      const outcome = await retrying('renewal', () => renewOnce(plan, certificate, ctx), (error) => !(error instanceof CannotRenewError), sleeper, ctx, log, certificate.notAfter);
      current = outcome === undefined ? undefined : planned(outcome, ctx, announce);
    }
    if (sleeper.signal !== undefined) log(`${sleeper.signal}: stopped watching ${shownPath(plan.paths.certificate, io.cwd)}`);
  } finally {
    sleeper.dispose();
  }
}

type Watched = CurrentCertificate & { renewAt: number };

function planned(outcome: Outcome, ctx: CertContext, announce: Announce): Watched {
  const { certificate } = outcome;
  const renewAt = nextRenewal(certificate.notBefore, certificate.notAfter, ctx.now(), ctx.random());
  announce(outcome, renewAt);
  return { ...certificate, renewAt };
}

async function startingCertificate(
  plan: CertPlan,
  ctx: CertContext,
  sleeper: Sleeper,
  log: (line: string) => void,
  announce: Announce,
): Promise<Watched | undefined> {
  const existing = plan.proof === undefined ? await currentForRenewal(plan, ctx) : await usableExisting(plan, ctx, log);
  if (existing !== undefined) {
    const renewAt = renewalTime(existing.notBefore, existing.notAfter, ctx.random());
    log(
      `watching the certificate for ${existing.principal ?? plan.principal ?? '?'} in ${shownPath(plan.outDir, ctx.io.cwd)}: ` +
        `serial ${existing.serial}, valid until ${new Date(existing.notAfter).toISOString()}; next renewal around ${new Date(renewAt).toISOString()}`,
    );
    return { ...existing, renewAt };
  }
  const proof = plan.proof;
  if (proof === undefined) return undefined;
  // Only failures that may pass are retried; a refused proof will be refused again.
  const outcome = await retrying('certificate request', () => obtainWithProof(plan, proof, ctx), isTransient, sleeper, ctx, log, undefined);
  return outcome === undefined ? undefined : planned(outcome, ctx, announce);
}

/** A valid certificate already in --out-dir for this principal, or undefined (saying why not). */
async function usableExisting(plan: CertPlan, ctx: CertContext, log: (line: string) => void): Promise<CurrentCertificate | undefined> {
  if (!(await hasCurrentCertificate(plan.outDir))) return undefined;
  const ignoring = `ignoring ${shownPath(plan.paths.certificate, ctx.io.cwd)}`;
  let current: CurrentCertificate;
  try {
    current = await readCurrentCertificate(plan.outDir, ctx.io.cwd);
  } catch (error) {
    log(`${ignoring}: ${oneLine(describeError(error))}`);
    return undefined;
  }
  if (current.principal !== plan.principal) {
    log(`${ignoring}: it is for ${current.principal ?? 'no CN'}, not ${plan.principal ?? '?'}`);
    return undefined;
  }
  if (current.notAfter <= ctx.now()) {
    log(`${ignoring}: it expired at ${new Date(current.notAfter).toISOString()}`);
    return undefined;
  }
  return current;
}

/**
 * Over mTLS while the certificate is valid. Once it has expired (the machine was off, the
 * server unreachable for a third of the lifetime) only a proof that works again can help.
 */
async function renewOnce(plan: CertPlan, current: CurrentCertificate, ctx: CertContext): Promise<Outcome> {
  if (current.notAfter > ctx.now()) return renewOverMtls(plan, current, ctx);
  if (plan.proof?.repeatable === true) return obtainWithProof(plan, plan.proof, ctx);
  const expired = expiredError(plan, current, ctx.io.cwd);
  throw new CannotRenewError(expired.message);
}

async function retrying(
  what: string,
  attempt: () => Promise<Outcome>,
  retryable: (error: unknown) => boolean,
  sleeper: Sleeper,
  ctx: CertContext,
  log: (line: string) => void,
  /** The end of the certificate being renewed: retries get denser as it nears, as in the SDK's refresher. */
  notAfter: number | undefined,
): Promise<Outcome | undefined> {
  for (let n = 1; ; n += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (!retryable(error)) throw error;
      if (sleeper.stopped) return undefined;
      const delay = retryDelay(n, ctx.random(), notAfter === undefined ? 0 : notAfter - ctx.now());
      log(`${what} failed (attempt ${n}): ${oneLine(describeError(error))}; retrying in ${formatDelay(delay)}`);
      if (!(await sleeper.sleep(delay))) return undefined;
    }
  }
}

/** No answer, or an answer that says "later": 408, 429 and 5xx. */
export function isTransient(error: unknown): boolean {
  if (error instanceof ConnectionError) return true;
  return error instanceof HttpStatusError && (error.status === 408 || error.status === 429 || error.status >= 500);
}

function formatDelay(ms: number): string {
  return ms < 60_000 ? `${Math.round(ms / 100) / 10}s` : `${Math.round(ms / 6000) / 10}m`;
}
