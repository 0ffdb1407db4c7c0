// /admin/v1/certificates/{serial}: the service certificates Tessera's CA issued, looked up and
// revoked by serial. A revoked serial is refused at once wherever a certificate authenticates
// (tls_client_auth, certificate login, renewal) and is listed in the CRL until it expires.
// A system admin, or an admin of the domain the certificate's principal belongs to, may do this.
// A service's certificates, listed and revoked all at once, are in service-certificates.ts.

import type { FastifyInstance } from 'fastify';
import type { RequestWithParams, SchemaTypes } from '../../http/route-types.ts';
import { splitPrincipal } from '../../policy/names.ts';
import type { CertificateRecord } from '../../storage/records.ts';
import { authorize } from '../authz.ts';
import { badRequest, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { errorResponses } from '../wire.ts';

/**
 * RFC 5280 §5.3.1 reasons that apply to a service certificate. `certificateHold` is left out
 * because a revocation here is final, `cACompromise` because these are not CA certificates.
 */
export const REVOCATION_REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'] as const;

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const security = [{ bearerAuth: [] }];

const serialParams = {
  type: 'object',
  properties: { serial: { type: 'string', maxLength: 128, description: 'hex, as `openssl x509 -serial` prints it (colons and case do not matter)' } },
  required: ['serial'],
} as const;

export const certificateSchema = {
  type: 'object',
  properties: {
    serial: str,
    principal: str,
    thumbprint: { type: 'string', description: 'x5t#S256: base64url SHA-256 of the DER certificate' },
    caId: str,
    notBefore: str,
    notAfter: str,
    issuedAt: str,
    revokedAt: nullableStr,
    revocationReason: nullableStr,
    renewedFrom: {
      type: ['string', 'null'],
      description: 'serial of the certificate this one renewed; null when bootstrapped',
    },
    provedByKey: {
      type: ['string', 'null'],
      description: 'kid of the registered key that proved it (key assertion), whose removal revokes it; else null',
    },
  },
} as const;

const revokedSchema = {
  type: 'object',
  properties: {
    ...certificateSchema.properties,
    descendantsRevoked: {
      type: 'integer',
      description: 'certificates renewed from this one (transitively) that this call revoked',
    },
  },
} as const;

/** The `reason` a revocation body may carry. */
export const reasonProperty = {
  type: 'string',
  maxLength: 64,
  description: `RFC 5280 reason: ${REVOCATION_REASONS.join(', ')} (default unspecified)`,
} as const;

const iso = (ms: number): string => new Date(ms).toISOString();

export const certificateOut = (c: CertificateRecord) => ({
  serial: c.serial,
  principal: c.principal,
  thumbprint: c.thumbprint,
  caId: c.caId,
  notBefore: iso(c.notBefore),
  notAfter: iso(c.notAfter),
  issuedAt: iso(c.issuedAt),
  revokedAt: c.revokedAt === null ? null : iso(c.revokedAt),
  revocationReason: c.revocationReason,
  renewedFrom: c.renewedFrom,
  provedByKey: c.provedByKey,
});

export function certificateRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf } = deps;

  /** The record, once the caller is known to administer its principal's domain. */
  const authorizedRecord = async (request: RequestWithParams<typeof serialParams>): Promise<{ record: CertificateRecord; actor: string }> => {
    const caller = callerOf(request);
    const serial = readSerial(request.params.serial);
    const record = await store.getCertificate(serial);
    if (!record) throw notFound(`Tessera's CA issued no certificate with serial ${serial}`);
    authorize(caller, splitPrincipal(record.principal)?.domain);
    return { record, actor: caller.principal };
  };

  app.get(
    '/certificates/:serial',
    {
      schema: {
        summary: 'Get an issued certificate by serial',
        tags: ['certificates'],
        security,
        params: serialParams,
        response: { 200: certificateSchema, ...errorResponses },
      },
    },
    async (request) => certificateOut((await authorizedRecord(request)).record),
  );

  app.post(
    '/certificates/:serial/revoke',
    {
      schema: {
        summary: 'Revoke an issued certificate',
        description:
          'Takes effect at once: the serial is refused for mutual TLS client authentication, certificate login and renewal, and appears in the CRL until it expires. ' +
          'Every certificate renewed from it, transitively, is revoked with it, with the same reason; ' +
          '`descendantsRevoked` says how many this call revoked. ' +
          'Idempotent: revoking a revoked certificate answers its record again.',
        tags: ['certificates'],
        security,
        params: serialParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { reason: reasonProperty },
        },
        response: { 200: revokedSchema, ...errorResponses },
      },
    },
    async (request) => {
      const reason = readReason(request.body?.reason);
      const { record, actor } = await authorizedRecord(request);
      const { certificate, descendantsRevoked } = await store.revokeCertificate(record.serial, reason, { actor });
      return { ...certificateOut(certificate), descendantsRevoked };
    },
  );
}

function readSerial(text: string): string {
  const serial = text.replaceAll(':', '').toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(serial)) {
    throw badRequest(`"${text.slice(0, 80)}" is not a certificate serial; give it in hex, as openssl x509 -noout -serial prints it`);
  }
  return serial;
}

export function readReason(reason: string | undefined): string {
  if (reason === undefined) return 'unspecified';
  if (!(REVOCATION_REASONS as readonly string[]).includes(reason)) {
    throw badRequest(`reason "${reason.slice(0, 40)}" is not one Tessera records; use one of ${REVOCATION_REASONS.join(', ')}`);
  }
  return reason;
}
