// `tessera cert --watch`: keep a valid certificate in --out-dir for as long as the process runs,
// with the SDK's certificate refresher (its schedule, retries and files), which talks to the CA
// through the CLI's HTTP client (--cacert, --timeout) and waits on the CLI's clock and timers. The
// first certificate comes from the proof, unless --out-dir already holds a valid one for the
// principal (a restarted agent must not spend a one-time join token again); every later one is
// a renewal over mTLS. SIGINT or SIGTERM ends the wait at once and leaves no timer.

import { CertificateRefresherError, createCertificateRefresher, keyTypeOf } from '../sdk.ts';
import type { CaClient, CertificateInfo, CertificateRefresher } from '@tessera/sdk';

import { CliError, describeError, oneLine } from '../errors.ts';
import { ConnectionError, HttpStatusError } from '../http-client.ts';
import { answerError, certificateEndpoint, fetchBundle, postCertificateRequest } from './ca-client.ts';
import { DEFAULT_KEY_TYPE } from './keys.ts';
import { clientFor, currentForRenewal, expiredError } from './operations.ts';
import type { CertContext, CertPlan, Outcome } from './operations.ts';
import { hasCurrentCertificate, readCurrentCertificate, shownPath } from './out-dir.ts';
import type { CurrentCertificate } from './out-dir.ts';

/** Called for every certificate written, with the time its renewal is planned for. */
export type Announce = (outcome: Outcome, renewAt: number) => void;

export async function watchCertificate(plan: CertPlan, ctx: CertContext, announce: Announce): Promise<void> {
  const { io } = ctx;
  const log = (line: string): void => void io.stderr.write(`${new Date(ctx.now()).toISOString()} ${line}\n`);
  const existing = plan.proof === undefined ? await currentForRenewal(plan, ctx) : await usableExisting(plan, ctx, log);
  const principal = plan.principal ?? existing?.principal;
  if (principal === undefined) throw new CliError(`${plan.paths.certificate} has no subject CN; pass --principal`);
  const url = certificateEndpoint(plan.server);
  // A new key (--rotate-key) is of the type asked for, else of the current key's.
  const currentKey = existing?.key ?? plan.proof?.csrKey ?? plan.key;

  const signals = io.signals ?? process;
  const aborter = new AbortController();
  let signal: string | undefined;
  let fatal: CliError | undefined;
  let started = false;
  let end = (): void => {};
  const ended = new Promise<void>((resolve) => (end = resolve));
  const stopOn = (name: 'SIGINT' | 'SIGTERM') => (): void => {
    signal ??= name;
    aborter.abort();
    end();
  };
  const onInt = stopOn('SIGINT');
  const onTerm = stopOn('SIGTERM');
  signals.once('SIGINT', onInt);
  signals.once('SIGTERM', onTerm);

  let refresher: CertificateRefresher | undefined;
  try {
    refresher = await createCertificateRefresher({
      server: plan.server.href,
      principal,
      outDir: plan.outDir,
      bootstrap: plan.proof?.bootstrap,
      key: plan.key,
      keyType: plan.keyType ?? (currentKey === undefined ? undefined : keyTypeOf(currentKey)) ?? DEFAULT_KEY_TYPE,
      rotateKey: plan.rotateKey,
      caClient: caClientFor(plan, ctx, url),
      // Retried until it works or a signal ends it; renewals keep their own bundle fetch.
      bootstrapAttempts: Infinity,
      bundleRefresh: 0,
      clock: ctx.now,
      random: ctx.random,
      timers: io.timers,
      signal: aborter.signal,
      listeners: {
        failed: ({ error, attempt, retryAt }) => {
          if (retryAt === null) {
            // Expired, and the proof cannot be used again: only a new one can help.
            fatal = expiredError(plan, refresher?.info().notAfter.getTime() ?? ctx.now(), io.cwd);
            end();
            return;
          }
          const what = started ? 'renewal' : 'certificate request';
          log(`${what} failed (attempt ${attempt}): ${oneLine(cliError(error, url).message)}; retrying in ${formatDelay(retryAt.getTime() - ctx.now())}`);
        },
        renewed: ({ certificate, previous }) => {
          // Once the previous certificate expired, the new one came from the proof again.
          const how = previous.notAfter.getTime() <= ctx.now() ? 'issued' : 'renewed';
          announce({ how, certificate: summary(certificate) }, certificate.renewAt.getTime());
        },
      },
    });
  } catch (error) {
    signals.off('SIGINT', onInt);
    signals.off('SIGTERM', onTerm);
    if (signal === undefined) throw cliError(error, url);
  }
  if (refresher !== undefined) {
    started = true;
    const info = refresher.info();
    if (existing !== undefined && info.serial === existing.serial) {
      log(
        `watching the certificate for ${info.principal} in ${shownPath(plan.outDir, io.cwd)}: ` +
          `serial ${info.serial}, valid until ${info.notAfter.toISOString()}; next renewal around ${info.renewAt.toISOString()}`,
      );
    } else {
      announce({ how: 'issued', certificate: summary(info) }, info.renewAt.getTime());
    }
    await ended;
    await refresher.close();
    signals.off('SIGINT', onInt);
    signals.off('SIGTERM', onTerm);
  }
  if (fatal !== undefined) throw fatal;
  if (signal !== undefined) log(`${signal}: stopped watching ${shownPath(plan.paths.certificate, io.cwd)}`);
}

function summary(info: CertificateInfo): Outcome['certificate'] {
  return { principal: info.principal, serial: info.serial, notBefore: info.notBefore.getTime(), notAfter: info.notAfter.getTime() };
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
 * The refresher's CA, reached through the CLI's HTTP client with the trust of every other
 * `tessera cert` request. Failures keep the CLI's wording; only those that may pass (no answer,
 * 408, 429, 5xx) are worth another attempt at the first certificate.
 */
function caClientFor(plan: CertPlan, ctx: CertContext, url: URL): CaClient {
  const refresherError = (error: unknown): Error => {
    const code = isTransient(error) ? 'ERR_CA_UNAVAILABLE' : error instanceof HttpStatusError ? 'ERR_CA_REFUSED' : 'ERR_CA_ANSWER_INVALID';
    const status = error instanceof HttpStatusError ? error.status : undefined;
    return new CertificateRefresherError(describeError(error), { code, status, cause: error });
  };
  const wrapped = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw refresherError(error);
    }
  };
  return {
    certificatesUrl: url.href,
    bundle: () => wrapped(async () => fetchBundle(await clientFor(plan, ctx.io), plan.server)),
    issue: (request) => wrapped(async () => postCertificateRequest(await clientFor(plan, ctx.io, request.tls), url, request.csr, request.proof)),
    close() {},
  };
}

/** A refresher failure in the CLI's words: the CLI's own error when it came from its client. */
function cliError(error: unknown, url: URL): CliError {
  if (error instanceof CliError) return error;
  if (!(error instanceof CertificateRefresherError)) return new CliError(describeError(error), undefined, { cause: error });
  if (error.cause instanceof CliError) return error.cause;
  const invalid = /^the CA's answer cannot be used: (.*)$/s.exec(error.message);
  if (error.code === 'ERR_CA_ANSWER_INVALID' && invalid !== null) return answerError(url, invalid[1] ?? '');
  return new CliError(error.message, undefined, { cause: error });
}

/** No answer, or an answer that says "later": 408, 429 and 5xx. */
function isTransient(error: unknown): boolean {
  if (error instanceof ConnectionError) return true;
  return error instanceof HttpStatusError && (error.status === 408 || error.status === 429 || error.status >= 500);
}

function formatDelay(ms: number): string {
  return ms < 60_000 ? `${Math.round(ms / 100) / 10}s` : `${Math.round(ms / 6000) / 10}m`;
}
