// /admin/v1/ca: the CA's generations and forced rotation (docs/certificates.md). System admins only: the CA
// signs for every domain.

import type { FastifyInstance } from 'fastify';
import type { CaGenerationInfo, ForcedCaRotationResult } from '../../ca/index.ts';
import { CaRotationRefusedError } from '../../ca/index.ts';
import type { Actor } from '../../storage/records.ts';
import { authorize } from '../authz.ts';
import { AdminError } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses } from '../wire.ts';

/** The part of the CertificateAuthority these routes use. */
export interface CaAdmin {
  rotate(by: Actor): Promise<ForcedCaRotationResult>;
  generations(): CaGenerationInfo[];
  nextRotationAt(): number | null;
}

const security = [{ bearerAuth: [] }];
const str = { type: 'string' } as const;
const iso = (ms: number): string => new Date(ms).toISOString();

export function caRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  const { callerOf, ca } = deps;
  if (ca === undefined) return;

  app.post(
    '/ca/rotate',
    {
      schema: {
        summary: 'Start a CA rotation',
        description:
          'Creates the next CA generation (a new root and intermediate) and adds both to the trust bundle now; it ' +
          'starts signing after the pre-publication window (ca.prePublication), so verifiers hold the new CA before ' +
          'they see a certificate from it. The current CA then stays in the bundle until everything it signed has ' +
          'expired. A rotation already pending is reported, not shortened. An imported CA cannot be rotated here (409).',
        tags: ['ca'],
        security,
        response: {
          202: { type: 'object', properties: { id: str, activatesAt: str, created: { type: 'boolean' } } },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      authorize(caller);
      try {
        const next = await ca.rotate({ actor: caller.principal });
        return await reply.code(202).send({ id: next.id, activatesAt: iso(next.activatesAt), created: next.created });
      } catch (error) {
        if (error instanceof CaRotationRefusedError) throw new AdminError(409, 'conflict', error.message);
        throw error;
      }
    },
  );

  app.get(
    '/ca/generations',
    {
      schema: {
        summary: 'List the CA generations and their rotation state',
        description:
          'Newest first. `prepared`: in the bundle, not signing yet; `active`: signs; `old`: in the bundle until `removeAt`. ' +
          "`nextRotationAt`: when the scheduler will next create a generation — a sixth of the signing generation's life before its " +
          '`notAfter`, at the latest `ca.prePublication` plus the longest certificate lifetime before it; null for an imported CA, ' +
          'whose successor is imported.',
        tags: ['ca'],
        security,
        response: {
          200: {
            type: 'object',
            properties: {
              generations: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: str,
                    state: str,
                    subject: str,
                    createdAt: str,
                    activatesAt: str,
                    removeAt: { type: ['string', 'null'] },
                    notAfter: str,
                  },
                },
              },
              nextRotationAt: { type: ['string', 'null'], description: 'when the next generation will be created; null when none is scheduled' },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      authorize(callerOf(request));
      const next = ca.nextRotationAt();
      return {
        nextRotationAt: next === null ? null : iso(next),
        generations: ca.generations().map((generation) => ({
          id: generation.id,
          state: generation.state,
          subject: generation.subject,
          createdAt: iso(generation.createdAt),
          activatesAt: iso(generation.activatesAt),
          removeAt: generation.removeAt === null ? null : iso(generation.removeAt),
          notAfter: iso(generation.notAfter),
        })),
      };
    },
  );
}
