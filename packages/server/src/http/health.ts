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

export function healthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  app.get('/healthz', { schema: { summary: 'The process is up', tags: ['health'] } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { summary: 'Storage is reachable and signing keys are loaded', tags: ['health'] } }, async (request, reply) => {
    const problems: string[] = [];
    try {
      await withTimeout(deps.ping(), READY_PING_TIMEOUT_MS);
    } catch (error) {
      request.log.warn({ err: error }, 'readiness: storage unreachable');
      problems.push('storage is unreachable');
    }
    if (!deps.keysLoaded()) problems.push('signing keys are not loaded');
    if (problems.length > 0) return reply.code(503).send({ status: 'unavailable', problems });
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
