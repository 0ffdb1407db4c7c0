// /admin/v1/domains/{domain}/roles: who may act in a domain. A role belongs to the domain that
// protects the resource; its admins grant access by adding members.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RoleMember } from '../../storage/records.ts';
import { authorize } from '../authz.ts';
import { badRequest, notFound } from '../errors.ts';
import type { AdminRouteDeps } from '../index.ts';
import { isSystemAdminRole, refuseLastAdminRemoval } from '../last-admin.ts';
import { readTokenMaxLifetime, tokenMaxLifetimeSchema } from './domains.ts';
import { errorResponses, readExpiry, requireName, roleOut, schemas } from '../wire.ts';

const MAX_MEMBERS = 10_000;
const roleParams = {
  type: 'object',
  properties: { domain: { type: 'string', maxLength: 256 }, role: { type: 'string', maxLength: 256 } },
  required: ['domain', 'role'],
} as const;
const memberParams = { ...roleParams, properties: { ...roleParams.properties, principal: { type: 'string', maxLength: 256 } }, required: ['domain', 'role', 'principal'] } as const;
const security = [{ bearerAuth: [] }];
const joinTokensVoided = {
  type: 'integer',
  description:
    'outstanding join tokens of the member voided by this change: granting a service another domain\'s admin role ' +
    'voids the join tokens made for it before',
} as const;
const roleAnswer = { ...schemas.role, properties: { ...schemas.role.properties, joinTokensVoided } } as const;

export function roleRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  const { store, callerOf, now } = deps;

  const target = (request: FastifyRequest): { domain: string; role: string; actor: string } => {
    const { domain, role } = request.params as { domain: string; role: string };
    const caller = callerOf(request);
    authorize(caller, domain);
    return { domain: requireName('domain', domain), role: requireName('role', role), actor: caller.principal };
  };

  app.get(
    '/domains/:domain/roles',
    { schema: { summary: 'List the roles of a domain', tags: ['roles'], security, params: { type: 'object', properties: { domain: { type: 'string', maxLength: 256 } }, required: ['domain'] }, response: { 200: { type: 'object', properties: { roles: { type: 'array', items: schemas.role } } }, ...errorResponses } } },
    async (request) => {
      const { domain } = request.params as { domain: string };
      authorize(callerOf(request), domain);
      if (!(await store.getDomain(requireName('domain', domain)))) throw notFound(`domain "${domain}" does not exist`);
      return { roles: (await store.listRoles(domain)).map(roleOut) };
    },
  );

  app.put(
    '/domains/:domain/roles/:role',
    {
      schema: {
        summary: 'Create or replace a role',
        description:
          'With `members`, the member list is replaced; without, a new role starts empty and an existing one keeps its members. ' +
          '`tokenMaxLifetime` caps every access token granting this role; without it, an existing role keeps its limit. ' +
          'A member that becomes an admin of a domain other than its own loses its outstanding join tokens (`joinTokensVoided`).',
        tags: ['roles'],
        security,
        params: roleParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { members: { type: 'array', maxItems: MAX_MEMBERS, items: schemas.member }, tokenMaxLifetime: tokenMaxLifetimeSchema },
        },
        response: { '2xx': roleAnswer, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { domain, role, actor } = target(request);
      const body = (request.body ?? {}) as { members?: { principal: string; expiresAt?: string | null }[]; tokenMaxLifetime?: number | null };
      const members = body.members?.map(readMember);
      if (members && new Set(members.map((m) => m.principal)).size !== members.length) throw badRequest('members: each principal may appear once');
      const tokenMaxLifetime = readTokenMaxLifetime(body.tokenMaxLifetime);
      if (members && isSystemAdminRole(domain, role)) await refuseLastAdminRemoval(store, now(), { members });
      const result = await store.putRole(domain, role, members, { actor }, tokenMaxLifetime === undefined ? undefined : { tokenMaxLifetime });
      const answer = { ...roleOut(result.role), joinTokensVoided: result.joinTokensVoided };
      return reply.code(result.created ? 201 : 200).send(answer);
    },
  );

  app.get(
    '/domains/:domain/roles/:role',
    { schema: { summary: 'Get a role and its members', tags: ['roles'], security, params: roleParams, response: { 200: schemas.role, ...errorResponses } } },
    async (request) => {
      const { domain, role } = target(request);
      const found = await store.getRole(domain, role);
      if (!found) throw notFound(`role ${domain}:role.${role} does not exist`);
      return roleOut(found);
    },
  );

  app.delete(
    '/domains/:domain/roles/:role',
    { schema: { summary: 'Delete a role', tags: ['roles'], security, params: roleParams, response: { 204: { type: 'null' }, ...errorResponses } } },
    async (request, reply) => {
      const { domain, role, actor } = target(request);
      if (isSystemAdminRole(domain, role)) await refuseLastAdminRemoval(store, now(), { members: [] });
      await store.deleteRole(domain, role, { actor });
      return reply.code(204).send();
    },
  );

  app.put(
    '/domains/:domain/roles/:role/members/:principal',
    {
      schema: {
        summary: 'Add a member to a role (or change its expiry)',
        description:
          'Granting a service another domain\'s admin role (or renewing it after it expired) voids the join tokens made ' +
          'for it before (`joinTokensVoided`); rotate its other credentials too, as their holders now act as that admin.',
        tags: ['roles'],
        security,
        params: memberParams,
        body: { type: ['object', 'null'], additionalProperties: false, properties: { expiresAt: schemas.expiresAt } },
        response: {
          '2xx': {
            type: 'object',
            properties: { principal: { type: 'string' }, expiresAt: { type: ['string', 'null'] }, created: { type: 'boolean' }, joinTokensVoided },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { domain, role, actor } = target(request);
      const { principal } = request.params as { principal: string };
      const body = (request.body ?? {}) as { expiresAt?: string | null };
      const member = readMember({ principal, expiresAt: body.expiresAt });
      if (member.expiresAt !== null && isSystemAdminRole(domain, role)) {
        // An expiry may end the last admin's membership; judge the role as it will be then.
        await refuseLastAdminRemoval(store, member.expiresAt, { without: principal });
      }
      const { created, joinTokensVoided: voided } = await store.putRoleMember(domain, role, member, { actor });
      const expiresAt = member.expiresAt === null ? null : new Date(member.expiresAt).toISOString();
      return reply.code(created ? 201 : 200).send({ principal, expiresAt, created, joinTokensVoided: voided });
    },
  );

  app.delete(
    '/domains/:domain/roles/:role/members/:principal',
    { schema: { summary: 'Remove a member from a role', tags: ['roles'], security, params: memberParams, response: { 204: { type: 'null' }, ...errorResponses } } },
    async (request, reply) => {
      const { domain, role, actor } = target(request);
      const { principal } = request.params as { principal: string };
      if (isSystemAdminRole(domain, role)) await refuseLastAdminRemoval(store, now(), { without: principal });
      await store.deleteRoleMember(domain, role, requireName('principal', principal), { actor });
      return reply.code(204).send();
    },
  );
}

function readMember(input: { principal: string; expiresAt?: string | null }): RoleMember {
  return { principal: requireName('principal', input.principal), expiresAt: readExpiry(input.expiresAt) ?? null };
}
