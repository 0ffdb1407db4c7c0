// What the log says about storage: its outages (storage/availability.ts) and the registry
// cache's change feed (storage/registry-cache.ts).

import type { FastifyBaseLogger } from 'fastify';
import type { AvailabilityWatch } from '../storage/availability.ts';
import type { RegistryCacheOptions } from '../storage/registry-cache.ts';

type StorageLogger = Pick<FastifyBaseLogger, 'error' | 'warn' | 'info' | 'debug'>;

/**
 * A line when storage starts failing, a summary at most every 30 s while it goes on, and one
 * when it is back: the requests in between answer 503 and log at debug only. `outage` is
 * called once per outage, when it starts.
 */
export function logStorageOutages(availability: Pick<AvailabilityWatch, 'onChange'>, log: StorageLogger, outage: () => void): void {
  availability.onChange((event) => {
    if (event.state === 'failing') {
      outage();
      log.error({ err: event.error }, 'storage is failing: requests that need it answer 503 until it is back');
    } else if (event.state === 'still-failing') {
      log.error({ err: event.error, failedCalls: event.failedCalls, sinceMs: event.at - event.since }, 'storage is still failing');
    } else {
      log.info({ downMs: event.at - event.since, failedCalls: event.failedCalls }, 'storage is answering again');
    }
  });
}

/** The registry cache's events: its change notifications lost (warn) or back, and a change feed read that failed (debug). */
export function registryEventLogger(log: StorageLogger): NonNullable<RegistryCacheOptions['onEvent']> {
  return (event) => {
    if (event.kind === 'listen-down') log.warn({ err: event.error }, 'registry change notifications lost: polling every 250 ms until they are back');
    else if (event.kind === 'listen-up') log.debug('registry change notifications are heard');
    else log.debug({ err: event.error }, 'the registry change feed could not be read');
  };
}
