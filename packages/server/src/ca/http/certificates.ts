// The CA's own JSON API (docs/http-api.md, Certificate authority): POST /ca/v1/certificates issues a service certificate from a
// CSR and a proof; GET /ca/v1/bundle is the PEM trust bundle; GET /ca/v1/crl the DER CRL.

import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../../http/route-types.ts';
import { REQUEST_PROOF_TYPES } from '../proofs/index.ts';
import { CRL_MEDIA_TYPE, CRL_VALIDITY_SECONDS, buildCrl } from './crl.ts';
import { enroll } from './enroll.ts';
import type { CaHttpDeps } from './index.ts';

export const CERTIFICATES_PATH = '/ca/v1/certificates';
export const BUNDLE_PATH = '/ca/v1/bundle';
export const CRL_PATH = '/ca/v1/crl';
const PEM_CHAIN = 'application/pem-certificate-chain';
const MAX_PEM = 16 * 1024;

const str = { type: 'string' } as const;
export const caErrorSchema = {
  type: 'object',
  properties: { error: str, message: str },
  required: ['error', 'message'],
  description:
    '400 invalid_request (bad body or CSR), 401 invalid_proof (the proof proves nothing), 403 forbidden (proven, but not for this, ' +
    "e.g. from outside the service's allowedIps), 429 rate_limited (with Retry-After), 503 temporarily_unavailable",
} as const;
export const caErrorResponses = { '4xx': caErrorSchema, '5xx': caErrorSchema } as const;

export function certificateRoutes(scope: FastifyInstance, deps: CaHttpDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  app.post(
    CERTIFICATES_PATH,
    {
      schema: {
        summary: 'Issue a service certificate from a CSR',
        description:
          "The proof says who the caller is: `key-assertion` (a JWT signed by the CSR's key, which must be registered on the service; " +
          `iss = sub = the principal, aud = <issuer>${CERTIFICATES_PATH}, exp at most 5 minutes out, a fresh jti), ` +
          '`join-token` (a one-time token from POST /admin/v1/join-tokens) or `oidc-token` (a token of a configured OIDC issuer). ' +
          'Without a proof the request is a renewal: it must come over mutual TLS with the current, unexpired, unrevoked certificate, ' +
          'and the new certificate keeps its identity. A CSR subject CN or SPIFFE URI, when present, must name the proven principal.',
        tags: ['ca'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['csr'],
          properties: {
            csr: { type: 'string', maxLength: MAX_PEM, description: 'PEM PKCS#10 certificate request' },
            proof: {
              type: 'object',
              additionalProperties: false,
              required: ['type', 'value'],
              properties: { type: { type: 'string', enum: [...REQUEST_PROOF_TYPES] }, value: { type: 'string', minLength: 1, maxLength: MAX_PEM } },
            },
          },
        },
        response: {
          201: {
            type: 'object',
            properties: {
              certificate: { type: 'string', description: 'PEM leaf certificate' },
              chain: { type: 'string', description: 'PEM intermediate then root' },
              expiresAt: { type: 'string', format: 'date-time' },
              principal: str,
              serial: { type: 'string', description: 'lower-case hex' },
            },
          },
          ...caErrorResponses,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const issued = await enroll(deps, request, { csrPem: body.csr, proof: body.proof });
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({
          certificate: issued.certificatePem,
          chain: issued.chainPem,
          expiresAt: new Date(issued.expiresAt).toISOString(),
          principal: issued.principal,
          serial: issued.serial,
        });
    },
  );

  app.get(
    BUNDLE_PATH,
    {
      schema: {
        summary: 'The CA trust bundle (PEM issuing CAs and roots)',
        description:
          "Every CA a Tessera certificate may chain to, including one being rotated in: each generation's issuing CA, " +
          'then its issuers up to the root. The issuing CAs are the ones to anchor on (the SDK does); the roots are ' +
          'there for clients that need a self-signed anchor.',
        tags: ['ca'],
        response: { 200: { content: { [PEM_CHAIN]: { schema: { type: 'string' } } } } },
      },
    },
    async (_request, reply) => reply.header('content-type', PEM_CHAIN).header('cache-control', 'public, max-age=300').send(deps.ca.bundlePem),
  );

  app.get(
    CRL_PATH,
    {
      schema: {
        summary: 'The certificate revocation list of the issuing CA (DER)',
        description: `Revoked certificates that have not yet expired; made fresh for each request, valid for ${CRL_VALIDITY_SECONDS} s (nextUpdate).`,
        tags: ['ca'],
        response: { 200: { content: { [CRL_MEDIA_TYPE]: { schema: { type: 'string', contentEncoding: 'binary' } } } }, ...caErrorResponses },
      },
    },
    async (_request, reply) => {
      const now = deps.now();
      // A CRL speaks for one issuer: certificates of an earlier CA generation are not its to list.
      const revoked = (await deps.store.listRevokedCertificates(now)).filter((record) => record.caId === deps.ca.id);
      const crl = await buildCrl(await deps.crlIssuer(), revoked, now);
      return reply.header('content-type', CRL_MEDIA_TYPE).header('cache-control', 'public, max-age=60').send(crl);
    },
  );
}
