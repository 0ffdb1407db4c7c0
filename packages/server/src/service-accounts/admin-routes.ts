// /auth/admin/service-accounts: the service-account JSON dialect's management API over Tessera services. The caller is
// already authenticated (index.ts); each route authorizes it for the account's domain.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authorize, authorizeServiceChange, type AdminCaller } from '../admin/authz.ts';
import { notFound } from '../admin/errors.ts';
import {
  MAX_PAGE_LIMIT,
  nameKey,
  nextCursorSchema,
  pageOf,
  pageParameters,
  readAllowedIps,
  readExpiry,
  readPage,
  requireName,
  schemas as adminSchemas,
  timeKey,
} from '../admin/wire.ts';
import { optionalBody, type RequestWithParams, type SchemaTypes } from '../http/route-types.ts';
import type { Service } from '../storage/records.ts';
import { generateSecretId } from '../keys/client-secrets.ts';
import { createAccount, newClientSecret, type ProvisionDeps } from './provision.ts';
import { accountOut, errorResponses, isoSeconds, readScopes, schemas, scopeOf, scopesHeld } from './wire.ts';

export interface AccountRouteDeps extends ProvisionDeps {
  callerOf(request: FastifyRequest): AdminCaller;
}

const DEFAULT_GRACE_SECONDS = 3600;
const MAX_GRACE_SECONDS = 30 * 86_400;
const CREATED_MESSAGE = "Service account created successfully. Save the client secret as it won't be shown again.";

const tags = ['service-accounts'];
const security = [{ bearerAuth: [] }];
const idParams = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 64, description: 'the serviceAccountId, e.g. svc_7f9e51c3ad654b28' } },
  required: ['id'],
} as const;

export function accountRoutes(scope: FastifyInstance, deps: AccountRouteDeps): void {
  const app = scope.withTypeProvider<SchemaTypes>();
  const { store, callerOf, now } = deps;

  const view = async (service: Service) => accountOut(service, scopesHeld(await store.membershipsOf(service.principal), now()));

  /** The account named in the path, once the caller is known to administer its domain. */
  const target = async (request: RequestWithParams<typeof idParams>): Promise<{ service: Service; actor: string }> => {
    const { id } = request.params;
    const caller = callerOf(request);
    const service = await store.getServiceByAccountId(id);
    if (!service) throw notFound(`service account "${id.slice(0, 64)}" does not exist; list them with GET /auth/admin/service-accounts`);
    authorize(caller, service.domain);
    return { service, actor: caller.principal };
  };
  /** As target, for a change to the account's credentials or standing (admin/authz.ts). */
  const changeTarget = async (request: RequestWithParams<typeof idParams>): Promise<{ service: Service; actor: string }> => {
    const found = await target(request);
    await authorizeServiceChange(store, callerOf(request), found.service.principal, now());
    return found;
  };

  app.post(
    '/admin/service-accounts',
    {
      schema: {
        summary: 'Create a service account (service-account JSON dialect)',
        description:
          'Returns the client secret once. Each scope `<domain>:<role>` becomes a role membership of the account; a missing domain or role is created when the caller is a system admin.',
        tags,
        security,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string', maxLength: 64 },
            description: adminSchemas.description,
            scopes: schemas.scopes,
            allowedIps: adminSchemas.allowedIps,
            expiresAt: adminSchemas.expiresAt,
          },
        },
        response: { 201: schemas.created, ...errorResponses },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      // 403 before 400: a caller without rights learns nothing from how its body is read.
      authorize(caller, deps.domain);
      const body = request.body;
      const grants = readScopes(body.scopes ?? []);
      const { service, clientSecret } = await createAccount(deps, caller, {
        name: requireName('service', body.name),
        description: body.description ?? null,
        scopes: grants,
        allowedIps: readAllowedIps(body.allowedIps) ?? [],
        expiresAt: readExpiry(body.expiresAt) ?? null,
      });
      const { serviceAccountId, name, status, clientId, createdAt, expiresAt } = accountOut(service, []);
      // The scopes as asked (in the dialect's form, each once), in the order asked, as the dialect echoes them.
      const scopes = grants.map(scopeOf);
      return reply.code(201).send({ serviceAccountId, name, status, clientId, clientSecret, scopes, createdAt, expiresAt, message: CREATED_MESSAGE });
    },
  );

  app.get(
    '/admin/service-accounts',
    {
      schema: {
        summary: 'List service accounts, oldest first',
        description:
          `The accounts in every domain the caller administers, ${MAX_PAGE_LIMIT} at most a page (\`?limit=\` asks for fewer); ` +
          'follow `nextCursor` until it is null. `count` is the number on this page.',
        tags,
        security,
        // Other parameters are let through, as before this list had pages.
        querystring: { type: 'object', properties: pageParameters('accounts', MAX_PAGE_LIMIT) },
        response: {
          200: {
            type: 'object',
            properties: { serviceAccounts: { type: 'array', items: schemas.account }, count: { type: 'integer' }, nextCursor: nextCursorSchema },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      authorize(caller, deps.domain);
      const list = 'service-accounts';
      // The largest page by default: clients of this dialect knew no pages, and a page this size holds most installations.
      const { limit, after } = readPage(request.query, list, [timeKey, nameKey('principal')], MAX_PAGE_LIMIT);
      const page = { limit: limit + 1, after: after && { createdAt: after[0] as number, id: after[1] as string } };
      const rows = await store.listServiceAccounts({ ...page, domains: caller.isSystemAdmin ? undefined : [...caller.adminOf] });
      const { items, nextCursor } = pageOf(rows, limit, list, (service) => [service.createdAt, service.principal]);
      const serviceAccounts = await Promise.all(items.map(view));
      return { serviceAccounts, count: serviceAccounts.length, nextCursor };
    },
  );

  app.get(
    '/admin/service-accounts/:id',
    { schema: { summary: 'Get a service account', tags, security, params: idParams, response: { 200: schemas.account, ...errorResponses } } },
    async (request) => view((await target(request)).service),
  );

  for (const [action, status] of [
    ['disable', 'DISABLED'],
    ['enable', 'ACTIVE'],
  ] as const) {
    app.post(
      `/admin/service-accounts/:id/${action}`,
      {
        schema: {
          summary:
            action === 'disable' ? 'Disable a service account: its token requests fail with AUTH_103 at once' : 'Enable a disabled service account again',
          tags,
          security,
          params: idParams,
          response: { 200: schemas.account, ...errorResponses },
        },
      },
      async (request) => {
        // Disabling takes standing away: open to the account's own domain's admins (admin/authz.ts); enabling is not.
        const { service, actor } = status === 'DISABLED' ? await target(request) : await changeTarget(request);
        if (service.status === status) return view(service);
        return view(await store.updateService(service.principal, { status }, { actor }));
      },
    );
  }

  app.delete(
    '/admin/service-accounts/:id',
    {
      schema: {
        summary: 'Delete a service account, its secrets and its role memberships',
        tags,
        security,
        params: idParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      // Taking standing away: open to the account's own domain's admins (admin/authz.ts).
      const { service, actor } = await target(request);
      await store.deleteService(service.principal, { actor });
      return reply.code(204).send();
    },
  );

  app.post(
    '/admin/service-accounts/:id/rotate-secret',
    {
      schema: {
        summary: 'Issue a new client secret; the previous one stops working after the grace period',
        description: `graceSeconds defaults to ${DEFAULT_GRACE_SECONDS}; 0 ends the previous secret at once. At most two secrets are live at a time.`,
        tags,
        security,
        params: idParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { graceSeconds: { type: 'integer', minimum: 0, maximum: MAX_GRACE_SECONDS } },
        },
        response: { 200: schemas.rotated, ...errorResponses },
      },
    },
    async (request) => {
      const { service, actor } = await changeTarget(request);
      const { graceSeconds = DEFAULT_GRACE_SECONDS } = optionalBody(request.body);
      const clientSecret = newClientSecret();
      const graceUntil = now() + graceSeconds * 1000;
      await store.addClientSecret(service.principal, { id: generateSecretId(), hash: deps.hasher.hash(clientSecret) }, graceUntil, { actor });
      const previousSecretExpiresAt = isoSeconds(graceUntil);
      return {
        serviceAccountId: service.accountId,
        clientId: service.clientId,
        clientSecret,
        previousSecretExpiresAt,
        message: `Client secret rotated. Save the new client secret as it won't be shown again; the previous one stops working at ${previousSecretExpiresAt}.`,
      };
    },
  );
}
