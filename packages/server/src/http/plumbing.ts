// What every route of the fastify instance shares: Retry-After on every 503, the JSON body
// parser, and the API's JSON answers to a path no route serves and to errors (errors.ts).

import type { FastifyInstance } from 'fastify';
import { errorHandler, jsonDialect } from './errors.ts';

/** Retry-After of a 503 (storage or a proof's dependency unavailable). */
const RETRY_AFTER_SECONDS = 1;

export function installPlumbing(app: FastifyInstance, { bodyLimit }: { bodyLimit: number }): void {
  // Every 503 says when to come back (RFC 9110 §10.2.3): a storage outage is retried in
  // seconds, and clients that honour Retry-After (the SDK does) stop hammering meanwhile.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (reply.statusCode === 503 && !reply.hasHeader('retry-after')) void reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    done(null, payload);
  });
  // An empty JSON body is no body, so routes whose body is optional accept `Content-Type: application/json` without one.
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text) as unknown);
    } catch (error) {
      done(Object.assign(error as Error, { statusCode: 400 }), undefined);
    }
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` });
  });
  app.setErrorHandler(errorHandler(jsonDialect()));
}

/**
 * Answers of an API that hands out secrets and private data (the admin APIs: client secrets, API
 * keys and join tokens shown once, audit records): `Cache-Control: no-store`, so no browser or
 * proxy keeps them, and `X-Content-Type-Options: nosniff`. Set before anything else runs, so
 * refusals carry them too.
 */
export function privateAnswers(scope: FastifyInstance): void {
  scope.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
  });
}
