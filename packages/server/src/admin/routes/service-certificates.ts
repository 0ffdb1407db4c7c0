// /admin/v1/domains/{domain}/services/{service}/certificates: the certificates Tessera's CA
// issued to one service, listed a page at a time, and all revoked in one call (incident
// response: a stolen key, or a service retired in a hurry). Who may: as for the service itself.

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import { notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses, pageOf, pageParameters, pageSchema, readPage, textKey, timeKey } from '../wire.ts';
import { certificateOut, certificateSchema, readReason, reasonProperty } from './certificates.ts';
import { serviceParams, serviceTarget, type ServiceRequest, type ServiceTarget } from './services.ts';

/** A serial as the CA records it: lower-case hex. */
const SERIAL = /^[0-9a-f]{1,64}$/;

const STATUSES = ['active', 'revoked', 'expired'] as const;
const security = [{ bearerAuth: [] }];

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...pageParameters('certificates'),
    status: {
      type: 'string',
      enum: STATUSES,
      description: 'active: neither revoked nor expired; revoked (expired or not); expired and never revoked',
    },
  },
} as const;

const listSchema = pageSchema('certificates', certificateSchema);

export function serviceCertificateRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf, now } = deps;

  /** The service, once the caller may administer it; 404 when it does not exist. */
  const existingService = async (request: ServiceRequest): Promise<ServiceTarget> => {
    const target = serviceTarget(callerOf(request), request);
    if (!(await store.getService(target.principal))) throw notFound(`service "${target.principal}" does not exist`);
    return target;
  };

  app.get(
    '/domains/:domain/services/:service/certificates',
    {
      schema: {
        summary: 'List the certificates issued to a service, newest first',
        description: 'Paginated: follow `nextCursor` until it is null. ' + 'Each renewal names the serial it renewed (`renewedFrom`).',
        tags: ['certificates'],
        security,
        params: serviceParams,
        querystring: listQuery,
        response: { 200: listSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { query } = request;
      const { principal } = await existingService(request);
      const list = `certificates ${principal} ${query.status ?? ''}`;
      const { limit, after: key } = readPage(query, list, [timeKey, textKey(SERIAL)]);
      const after = key && { issuedAt: key[0] as number, serial: key[1] as string };
      const page = { limit: limit + 1, after, status: query.status, now: now() };
      const rows = await store.listCertificates(principal, page);
      const { items, nextCursor } = pageOf(rows, limit, list, (certificate) => [certificate.issuedAt, certificate.serial]);
      return { certificates: items.map(certificateOut), nextCursor };
    },
  );

  app.post(
    '/domains/:domain/services/:service/certificates/revoke',
    {
      schema: {
        summary: 'Revoke every live certificate of a service',
        description:
          'Every certificate of the service that is neither revoked nor expired is revoked at once, ' +
          'with the reason given; the service may still get new certificates with a join token or a ' +
          'registered key. Answers how many were revoked.',
        tags: ['certificates'],
        security,
        params: serviceParams,
        body: { type: ['object', 'null'], additionalProperties: false, properties: { reason: reasonProperty } },
        response: { 200: { type: 'object', properties: { revoked: { type: 'integer' } } }, ...errorResponses },
      },
    },
    async (request) => {
      const reason = readReason(request.body?.reason);
      const { principal, actor } = await existingService(request);
      return { revoked: await store.revokeServiceCertificates(principal, reason, { actor }) };
    },
  );
}
