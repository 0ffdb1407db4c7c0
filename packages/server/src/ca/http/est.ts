// EST (RFC 7030) for standard clients (curl + openssl, libest, cert-manager's EST issuers …):
//
//   GET  /.well-known/est/cacerts          the CA certificates (no authentication)
//   POST /.well-known/est/simpleenroll     a first certificate, proven with a join token
//   POST /.well-known/est/simplereenroll   renewal over mutual TLS with the current certificate
//
// Requests carry a base64 DER PKCS#10 CSR (`Content-Type: application/pkcs10`); answers are a
// base64 "certs-only" PKCS#7 (`application/pkcs7-mime; smime-type=certs-only`,
// `Content-Transfer-Encoding: base64`), as RFC 7030 §4.1.3 and §4.2.3 describe.
//
// simpleenroll authenticates with a join token (POST /admin/v1/join-tokens), sent either as
// `Authorization: Bearer <token>` or, for clients that only speak HTTP Basic as RFC 7030 §3.2.3
// expects, as `Authorization: Basic` with the principal as user name and the token as password
// (the user name must then be the token's principal). Without an Authorization header, a client
// presenting its current Tessera certificate is treated as a re-enrollment.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodeBasic } from '../../http/authorization.ts';
import { x509 } from '../x509.ts';
import { caErrorResponses } from './certificates.ts';
import { enroll, type EnrollRequest } from './enroll.ts';
import type { CaHttpDeps } from './index.ts';
import { CaRequestError } from './errors.ts';
import { PKCS7_MIME, base64Body, certsOnlyPkcs7 } from './pkcs7.ts';

export const EST_PREFIX = '/.well-known/est';
export const PKCS10_MEDIA_TYPE = 'application/pkcs10';
const MAX_CSR_BASE64 = 16 * 1024;

const pkcs7Response = { 200: { content: { [PKCS7_MIME]: { schema: { type: 'string', contentEncoding: 'base64' } } } }, ...caErrorResponses } as const;
const csrBody = { type: 'string', maxLength: MAX_CSR_BASE64, description: 'base64 DER PKCS#10 certificate request' } as const;

export function estRoutes(app: FastifyInstance, deps: CaHttpDeps): void {
  const sendPkcs7 = (reply: FastifyReply, certificatesPem: string[], cache: string): FastifyReply =>
    reply
      .header('content-type', PKCS7_MIME)
      .header('content-transfer-encoding', 'base64')
      .header('cache-control', cache)
      .send(base64Body(certsOnlyPkcs7(certificatesPem)));

  app.get(
    `${EST_PREFIX}/cacerts`,
    {
      schema: {
        summary: 'EST: the CA certificates (RFC 7030 §4.1)',
        description: 'The chain of the CA that signs now, then the rest of the trust bundle (every issuing CA and root), ' + 'as a base64 certs-only PKCS#7.',
        tags: ['est'],
        response: pkcs7Response,
      },
    },
    async (_request, reply) => sendPkcs7(reply, uniqueCertificates([deps.ca.chainPem, deps.ca.bundlePem]), 'public, max-age=300'),
  );

  app.post(
    `${EST_PREFIX}/simpleenroll`,
    {
      schema: {
        summary: 'EST: enroll for a first certificate (RFC 7030 §4.2.1)',
        description:
          'Authenticate with a join token: `Authorization: Bearer <token>`, or HTTP Basic with the principal as user name and the token as password. ' +
          'Without Authorization, a client presenting its current Tessera certificate over mutual TLS re-enrolls. Answers the issued certificate as a base64 certs-only PKCS#7.',
        tags: ['est'],
        security: [{ bearerAuth: [] }, { basicAuth: [] }],
        consumes: [PKCS10_MEDIA_TYPE],
        body: csrBody,
        response: pkcs7Response,
      },
    },
    async (request, reply) => {
      const csrPem = csrFromBase64(request);
      const issued = await enroll(deps, request, { csrPem, ...joinTokenAuth(request) });
      return sendPkcs7(reply, [issued.certificatePem], 'no-store');
    },
  );

  app.post(
    `${EST_PREFIX}/simplereenroll`,
    {
      schema: {
        summary: 'EST: renew over mutual TLS (RFC 7030 §4.2.2)',
        description: 'Present the current, unexpired Tessera certificate as the TLS client certificate; the new certificate keeps its identity.',
        tags: ['est'],
        consumes: [PKCS10_MEDIA_TYPE],
        body: csrBody,
        response: pkcs7Response,
      },
    },
    async (request, reply) => {
      const issued = await enroll(deps, request, { csrPem: csrFromBase64(request) });
      return sendPkcs7(reply, [issued.certificatePem], 'no-store');
    },
  );
}

/** The join token of an EST request, from Bearer or Basic; no header means re-enrollment over mTLS. */
function joinTokenAuth(request: FastifyRequest): Pick<EnrollRequest, 'proof' | 'expectedPrincipal'> {
  const header = request.headers.authorization;
  if (header === undefined) return {};
  const [scheme = '', credentials = ''] = header.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === 'bearer' && credentials !== '') return { proof: { type: 'join-token', value: credentials } };
  if (scheme.toLowerCase() === 'basic' && credentials !== '') {
    const basic = decodeBasic(credentials);
    if (basic !== undefined && basic.user !== '') return { proof: { type: 'join-token', value: basic.password }, expectedPrincipal: basic.user };
  }
  throw new CaRequestError(
    401,
    'invalid_proof',
    'send the join token as "Authorization: Bearer <token>", or as HTTP Basic with the principal as user name and the token as password',
  );
}

/** The body as parseCsr takes it (bare base64 DER); parseCsr says what is wrong with a bad one. */
function csrFromBase64(request: FastifyRequest): string {
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType !== PKCS10_MEDIA_TYPE) {
    throw new CaRequestError(
      415,
      'invalid_request',
      `send the CSR with Content-Type: ${PKCS10_MEDIA_TYPE} (RFC 7030 §4.2.1), not ${mediaType || 'no Content-Type'}`,
    );
  }
  const body = request.body;
  if (typeof body !== 'string' || body.trim() === '') {
    throw new CaRequestError(
      400,
      'invalid_request',
      `send the CSR as base64 DER PKCS#10 with Content-Type: ${PKCS10_MEDIA_TYPE} (openssl req -new -outform DER | openssl base64)`,
    );
  }
  return body;
}

/** The certificates of several PEM bundles, each once, in first-seen order. */
function uniqueCertificates(bundles: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const der of bundles.flatMap((pem) => x509.PemConverter.decode(pem))) {
    const key = Buffer.from(der).toString('base64');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(x509.PemConverter.encode(der, 'CERTIFICATE'));
  }
  return out;
}
