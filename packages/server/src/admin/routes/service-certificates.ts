// /admin/v1/domains/{domain}/services/{service}/certificates: the certificates Tessera's CA
// issued to one service, listed a page at a time, and all revoked in one call (incident
// response: a stolen key, or a service retired in a hurry). Who may: as for the service itself.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CertificateStatus } from '../../storage/records.ts';
import { notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { DEFAULT_PAGE_LIMIT as DEFAULT_LIMIT, MAX_PAGE_LIMIT as MAX_LIMIT, errorResponses, pageOf, readCursor, readPageLimit } from '../wire.ts';
import { certificateOut, certificateSchema, readReason, reasonProperty } from './certificates.ts';
import { serviceParams, serviceTarget, type ServiceTarget } from './services.ts';

/** A serial as the CA records it: lower-case hex. */
const SERIAL = /^[0-9a-f]{1,64}$/;

const STATUSES = ['active', 'revoked', 'expired'] as const;
const security = [{ bearerAuth: [] }];

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: {
      type: 'string',
      maxLength: 16,
      description: `certificates per page, 1 to ${MAX_LIMIT} (default ${DEFAULT_LIMIT})`,
    },
    cursor: { type: 'string', maxLength: 256, description: 'nextCursor of the previous page, unchanged' },
    status: {
      type: 'string',
      enum: STATUSES,
      description: 'active: neither revoked nor expired; revoked (expired or not); expired and never revoked',
    },
  },
} as const;

const listSchema = {
  type: 'object',
  properties: {
    certificates: { type: 'array', items: certificateSchema },
    nextCursor: { type: ['string', 'null'], description: 'pass as ?cursor= for the next page; null on the last page' },
  },
} as const;

export function serviceCertificateRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  const { store, callerOf, now } = deps;

  /** The service, once the caller may administer it; 404 when it does not exist. */
  const existingService = async (request: FastifyRequest): Promise<ServiceTarget> => {
    const target = serviceTarget(callerOf(request), request);
    if (!(await store.getService(target.principal))) throw notFound(`service "${target.principal}" does not exist`);
    return target;
  };

  app.get(
    '/domains/:domain/services/:service/certificates',
    {
      schema: {
        summary: 'List the certificates issued to a service, newest first',
        description:
          'Paginated: follow `nextCursor` until it is null. ' +
          'Each renewal names the serial it renewed (`renewedFrom`).',
        tags: ['certificates'],
        security,
        params: serviceParams,
        querystring: listQuery,
        response: { 200: listSchema, ...errorResponses },
      },
    },
    async (request) => {
      const query = request.query as { limit?: string; cursor?: string; status?: CertificateStatus };
      const limit = readPageLimit(query.limit);
      const cursor = query.cursor === undefined ? undefined : readCursor(query.cursor, SERIAL);
      const after = cursor && { issuedAt: cursor.at, serial: cursor.id };
      const { principal } = await existingService(request);
      const page = { limit: limit + 1, after, status: query.status, now: now() };
      const rows = await store.listCertificates(principal, page);
      const { items, nextCursor } = pageOf(rows, limit, (certificate) => ({ at: certificate.issuedAt, id: certificate.serial }));
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
      const reason = readReason((request.body as { reason?: string } | null | undefined)?.reason);
      const { principal, actor } = await existingService(request);
      return { revoked: await store.revokeServiceCertificates(principal, reason, { actor }) };
    },
  );
}
