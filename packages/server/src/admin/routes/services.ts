// /admin/v1/domains/{domain}/services: the identities (OAuth clients) of a domain, their
// secrets and registered public keys. A secret is shown once, on creation; only its keyed hash
// is stored.

import type { FastifyInstance } from 'fastify';
import type { RequestWithParams, SchemaTypes } from '../../http/route-types.ts';
import { generateClientSecret, generateSecretId } from '../../keys/client-secrets.ts';
import { parsePublicKeyPem } from '../../policy/public-keys.ts';
import { authorize, authorizeServiceChange, onlyTakesStandingAway, type AdminCaller } from '../authz.ts';
import { AdminError, badRequest, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import {
  errorResponses,
  nameKey,
  pageOf,
  pageQuerystring,
  pageSchema,
  readAllowedIps,
  readExpiry,
  readPage,
  requireName,
  schemas,
  serviceOut,
  textKey,
  timeKey,
} from '../wire.ts';

/** A registered key's id, as stored (and removed): letters, digits, dot, dash, underscore. */
const KID = '^[A-Za-z0-9._-]{1,128}$';
/**
 * A new key's id may not be `.` or `..`: URL clients (browsers among them) resolve those as dot
 * segments, so `…/keys/..` would address another resource than the key. A stored one can still be
 * removed by a client that sends the path as it is.
 */
function checkNewKid(kid: string): void {
  if (kid === '.' || kid === '..') {
    throw badRequest(`the key id "${kid}" is refused: URL clients read it as a dot segment, so the key could not be addressed; choose another, e.g. k1`);
  }
}
const MAX_GRACE_SECONDS = 30 * 86_400;
const DEFAULT_GRACE_SECONDS = 3600;

export const serviceParams = {
  type: 'object',
  properties: { domain: { type: 'string', maxLength: 256 }, service: { type: 'string', maxLength: 256 } },
  required: ['domain', 'service'],
} as const;
const keyParams = {
  ...serviceParams,
  properties: { ...serviceParams.properties, kid: { type: 'string', pattern: KID } },
  required: ['domain', 'service', 'kid'],
} as const;
const pemBody = { type: 'object', additionalProperties: false, required: ['pem'], properties: { pem: { type: 'string', maxLength: 16_384 } } } as const;
const security = [{ bearerAuth: [] }];

export function serviceRoutes(scope: FastifyInstance, deps: AdminRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf, hasher, now } = deps;

  const target = (request: ServiceRequest): ServiceTarget => serviceTarget(callerOf(request), request);
  /** As target, for a change to the service's credentials or standing (authz.ts). */
  const changeTarget = async (request: ServiceRequest): Promise<ServiceTarget> => {
    const found = target(request);
    await authorizeServiceChange(store, callerOf(request), found.principal, now());
    return found;
  };

  app.post(
    '/domains/:domain/services',
    {
      schema: {
        summary: 'Register a service',
        description:
          'Returns the client secret once (unless `secret: false`). Without `secret`, a secret is made unless public keys are given. ' +
          "409 in the people's domain (console.oidc.principal.domain) while console sign-in for people is on: its principals are people's.",
        tags: ['services'],
        security,
        params: { type: 'object', properties: { domain: { type: 'string', maxLength: 256 } }, required: ['domain'] },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string', maxLength: 256 },
            description: schemas.description,
            allowedIps: schemas.allowedIps,
            expiresAt: schemas.expiresAt,
            secret: { type: 'boolean' },
            publicKeys: {
              type: 'array',
              maxItems: 10,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['kid', 'pem'],
                properties: { kid: { type: 'string', pattern: KID }, pem: { type: 'string', maxLength: 16_384 } },
              },
            },
          },
        },
        response: {
          201: {
            ...schemas.service,
            properties: {
              ...schemas.service.properties,
              clientSecret: { type: 'string' },
              secretId: { type: 'string' },
              publicKeys: { type: 'array', items: { type: 'string' } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { domain } = request.params;
      const caller = callerOf(request);
      authorize(caller, domain);
      const body = request.body;
      requireName('domain', domain);
      requireName('service', body.name);
      // A name may already be a member of another domain's admin role; the new service would hold it.
      await authorizeServiceChange(store, caller, `${domain}.${body.name}`, now());
      refuseInPeopleDomain(deps.peopleDomain, domain);
      const publicKeys = body.publicKeys ?? [];
      for (const key of publicKeys) {
        checkNewKid(key.kid);
        checkPem(key.pem, `publicKeys[${key.kid}]`);
      }
      if (new Set(publicKeys.map((k) => k.kid)).size !== publicKeys.length) throw badRequest('publicKeys: each kid must be unique');
      const wantsSecret = body.secret ?? publicKeys.length === 0;
      const clientSecret = wantsSecret ? generateClientSecret() : undefined;
      const secretId = generateSecretId();
      const service = await store.createService(
        {
          domain,
          name: body.name,
          description: body.description ?? null,
          allowedIps: readAllowedIps(body.allowedIps) ?? [],
          expiresAt: readExpiry(body.expiresAt) ?? null,
        },
        { secret: clientSecret ? { id: secretId, hash: hasher.hash(clientSecret) } : undefined, publicKeys },
        { actor: caller.principal },
      );
      const created = { ...serviceOut(service), publicKeys: publicKeys.map((k) => k.kid) };
      return reply.code(201).send(clientSecret ? { ...created, clientSecret, secretId } : created);
    },
  );

  app.get(
    '/domains/:domain/services',
    {
      schema: {
        summary: 'List the services of a domain, by name',
        description: 'Paginated: follow `nextCursor` until it is null.',
        tags: ['services'],
        security,
        params: { type: 'object', properties: { domain: { type: 'string', maxLength: 256 } }, required: ['domain'] },
        querystring: pageQuerystring('services'),
        response: { 200: pageSchema('services', schemas.service), ...errorResponses },
      },
    },
    async (request) => {
      const { domain } = request.params;
      authorize(callerOf(request), domain);
      if (!(await store.getDomain(requireName('domain', domain)))) throw notFound(`domain "${domain}" does not exist`);
      const list = `services ${domain}`;
      const { limit, after } = readPage(request.query, list, [nameKey('service')]);
      const rows = await store.listServices(domain, { limit: limit + 1, after: after?.[0] as string | undefined });
      const { items, nextCursor } = pageOf(rows, limit, list, (service) => [service.name]);
      return { services: items.map(serviceOut), nextCursor };
    },
  );

  app.get(
    '/domains/:domain/services/:service',
    { schema: { summary: 'Get a service', tags: ['services'], security, params: serviceParams, response: { 200: schemas.service, ...errorResponses } } },
    async (request) => {
      const { principal } = target(request);
      const service = await store.getService(principal);
      if (!service) throw notFound(`service "${principal}" does not exist`);
      return serviceOut(service);
    },
  );

  app.patch(
    '/domains/:domain/services/:service',
    {
      schema: {
        summary: 'Change a service: status, description, allowedIps, expiresAt',
        tags: ['services'],
        security,
        params: serviceParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            status: { type: 'string', enum: ['ACTIVE', 'DISABLED'] },
            description: schemas.description,
            allowedIps: schemas.allowedIps,
            expiresAt: schemas.expiresAt,
          },
        },
        response: { 200: schemas.service, ...errorResponses },
      },
    },
    async (request) => {
      const body = request.body;
      const { principal, actor } = target(request);
      const standing = { status: body.status, expiresAt: readExpiry(body.expiresAt), allowedIps: readAllowedIps(body.allowedIps) };
      // Taking standing away stays with the service's own domain's admins (authz.ts); a missing service is the 404 of updateService.
      const current = await store.getService(principal);
      if (!current || !onlyTakesStandingAway(current, standing)) await authorizeServiceChange(store, callerOf(request), principal, now());
      const service = await store.updateService(principal, { ...standing, description: body.description }, { actor });
      return serviceOut(service);
    },
  );

  app.delete(
    '/domains/:domain/services/:service',
    {
      schema: {
        summary: 'Delete a service, its credentials and its role memberships',
        tags: ['services'],
        security,
        params: serviceParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      // Taking standing away: open to the service's own domain's admins even when it holds another domain's admin role (authz.ts).
      const { principal, actor } = target(request);
      await store.deleteService(principal, { actor });
      return reply.code(204).send();
    },
  );

  app.post(
    '/domains/:domain/services/:service/secrets',
    {
      schema: {
        summary: 'Add a client secret; older ones stop working after the grace period',
        description: `At most two secrets are live at once. graceSeconds defaults to ${DEFAULT_GRACE_SECONDS}.`,
        tags: ['services'],
        security,
        params: serviceParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { graceSeconds: { type: 'integer', minimum: 0, maximum: MAX_GRACE_SECONDS } },
        },
        response: {
          201: { type: 'object', properties: { id: { type: 'string' }, clientSecret: { type: 'string' }, previousSecretsExpireAt: { type: 'string' } } },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { principal, actor } = await changeTarget(request);
      const clientSecret = generateClientSecret();
      const id = generateSecretId();
      const graceUntil = now() + (request.body?.graceSeconds ?? DEFAULT_GRACE_SECONDS) * 1000;
      await store.addClientSecret(principal, { id, hash: hasher.hash(clientSecret) }, graceUntil, { actor });
      return reply.code(201).send({ id, clientSecret, previousSecretsExpireAt: new Date(graceUntil).toISOString() });
    },
  );

  app.get(
    '/domains/:domain/services/:service/keys',
    {
      schema: {
        summary: 'List the public keys registered on a service, oldest first',
        description: 'Paginated: follow `nextCursor` until it is null.',
        tags: ['services'],
        security,
        params: serviceParams,
        querystring: pageQuerystring('keys'),
        response: {
          200: pageSchema('keys', { type: 'object', properties: { kid: { type: 'string' }, pem: { type: 'string' }, createdAt: { type: 'string' } } }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { principal } = target(request);
      if (!(await store.getService(principal))) throw notFound(`service "${principal}" does not exist`);
      const list = `keys ${principal}`;
      const { limit, after } = readPage(request.query, list, [timeKey, textKey(new RegExp(KID))]);
      const page = { limit: limit + 1, after: after && { createdAt: after[0] as number, id: after[1] as string } };
      const { items, nextCursor } = pageOf(await store.listPublicKeys(principal, page), limit, list, (key) => [key.createdAt, key.kid]);
      return { keys: items.map((k) => ({ kid: k.kid, pem: k.pem, createdAt: new Date(k.createdAt).toISOString() })), nextCursor };
    },
  );

  app.put(
    '/domains/:domain/services/:service/keys/:kid',
    {
      schema: {
        summary: 'Register or replace a public key',
        tags: ['services'],
        security,
        params: keyParams,
        body: pemBody,
        response: {
          '2xx': { type: 'object', properties: { kid: { type: 'string' }, created: { type: 'boolean' }, certificatesRevoked: { type: 'integer' } } },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { principal, actor } = await changeTarget(request);
      const { kid } = request.params;
      checkNewKid(kid);
      const { pem } = request.body;
      checkPem(pem, 'pem');
      const { created, certificatesRevoked } = await store.putPublicKey(principal, kid, pem, { actor });
      return reply.code(created ? 201 : 200).send({ kid, created, certificatesRevoked });
    },
  );

  app.delete(
    '/domains/:domain/services/:service/keys/:kid',
    { schema: { summary: 'Remove a public key', tags: ['services'], security, params: keyParams, response: { 204: { type: 'null' }, ...errorResponses } } },
    async (request, reply) => {
      const { principal, actor } = target(request);
      const { kid } = request.params;
      await store.deletePublicKey(principal, kid, { actor });
      return reply.code(204).send();
    },
  );
}

/** A request to a route under /domains/:domain/services/:service. */
export type ServiceRequest = RequestWithParams<typeof serviceParams>;

export interface ServiceTarget {
  domain: string;
  service: string;
  principal: string;
  actor: string;
}

/** Checks the caller's right to the domain (403), then the names (400); returns the principal. */
export function serviceTarget(caller: AdminCaller, request: ServiceRequest): ServiceTarget {
  const { domain, service } = request.params;
  authorize(caller, domain);
  requireName('domain', domain);
  requireName('service', service);
  return { domain, service, principal: `${domain}.${service}`, actor: caller.principal };
}

function checkPem(pem: string, field: string): void {
  try {
    parsePublicKeyPem(pem);
  } catch (error) {
    throw badRequest(`${field}: ${(error as Error).message}`);
  }
}

/**
 * The people's domain (console.oidc.principal.domain) holds the principals of people who sign in
 * to the console: a service registered there under a person's name would end their session and
 * take over their roles and pending changes (accept-token.ts, acceptPersonSession). 409 for every
 * caller while people sign in there; the message names the setting.
 */
export function refuseInPeopleDomain(peopleDomain: string | null | undefined, domain: string): void {
  if (peopleDomain === undefined || peopleDomain === null || domain !== peopleDomain) return;
  throw new AdminError(
    409,
    'conflict',
    `${domain} is the people's domain (console.oidc.principal.domain): its principals are people who sign in to the console, ` +
      'so no service is registered there; register the service in another domain',
  );
}
