// Liveness, readiness and Prometheus metrics.

import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface HealthDeps {
  /** Throws when storage cannot answer. */
  ping: () => Promise<void>;
  keysLoaded: () => boolean;
  metrics: Registry;
}

export function healthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  app.get('/healthz', { schema: { summary: 'The process is up', tags: ['health'] } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { summary: 'Storage is reachable and signing keys are loaded', tags: ['health'] } }, async (request, reply) => {
    const problems: string[] = [];
    try {
      await deps.ping();
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
