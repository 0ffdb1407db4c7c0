// Liveness, readiness and Prometheus metrics.

import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface HealthDeps {
  /** Throws when storage cannot answer. */
  ping: () => Promise<void>;
  keysLoaded: () => boolean;
  metrics: Registry;
}

/**
 * Readiness answers within this even when storage is silent: a load balancer's or Kubernetes'
 * probe gives up after about a second, and a late "not ready" is no answer to it.
 */
export const READY_PING_TIMEOUT_MS = 1000;

export interface Readiness {
  ready: boolean;
  /** Whether storage answered the ping within READY_PING_TIMEOUT_MS. */
  storageAnswers: boolean;
  /** How long the ping took (ms), or until it was given up. */
  pingMs: number;
  /** What keeps the instance from being ready, in words; empty when ready. */
  problems: string[];
}

/** What /readyz checks, as data: also GET /admin/v1/system/storage's answer. */
export async function readiness(deps: Pick<HealthDeps, 'ping' | 'keysLoaded'>, log: { warn(details: object, message: string): void }): Promise<Readiness> {
  const problems: string[] = [];
  const started = performance.now();
  let storageAnswers = true;
  try {
    await withTimeout(deps.ping(), READY_PING_TIMEOUT_MS);
  } catch (error) {
    log.warn({ err: error }, 'readiness: storage unreachable');
    problems.push('storage is unreachable');
    storageAnswers = false;
  }
  const pingMs = Math.round((performance.now() - started) * 10) / 10;
  if (!deps.keysLoaded()) problems.push('signing keys are not loaded');
  return { ready: problems.length === 0, storageAnswers, pingMs, problems };
}

export function healthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  app.get('/healthz', { schema: { summary: 'The process is up', tags: ['health'] } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { summary: 'Storage is reachable and signing keys are loaded', tags: ['health'] } }, async (request, reply) => {
    const { ready, problems } = await readiness(deps, request.log);
    if (!ready) return reply.code(503).send({ status: 'unavailable', problems });
    return { status: 'ready' };
  });

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['health'] } }, async (_request, reply) => {
    return reply.header('content-type', deps.metrics.contentType).send(await deps.metrics.metrics());
  });
}

/** `work`, or a rejection once `ms` have passed (the work itself goes on to its own bound). */
function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`storage did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
