// One domain: its services (status, create, disable/enable, delete), its roles (create,
// delete, a link to each role's members and actors), the roles whose changes need a second
// admin (approvalRequiredRoles) and a link to the changes waiting for one.

import type { AdminApi, Domain, PendingChange, Role, Service } from '../api.ts';
import { announce, append, confirmAction, field, formatTime, h, notice } from '../dom.ts';
import { approvalsHref, callersHref, roleHref, serviceHref, timelineHref } from '../router.ts';
import type { PageContext } from '../main.ts';
import { actionForm, confirmDisable, errorText, errorView, pagedTable, type PagedTable, shownOnce } from './common.ts';
import { pendingNotice, pendingText } from './pending.ts';

type Held = (change: PendingChange, what: string) => void;

export async function renderDomain({ api, view, crumbs }: PageContext, name: string, limit: number): Promise<void> {
  crumbs([{ label: name }]);
  let domain;
  try {
    domain = await api.getDomain(name);
  } catch (error) {
    errorView(view, `Domain ${name}`, error);
    return;
  }
  const outcome = h('div', { class: 'outcome' });
  const waitingLink = h('a', { href: approvalsHref(name) });
  const countWaiting = async (): Promise<void> => {
    const pending = await api.listApprovals(name, null, 100);
    waitingLink.textContent = `Changes waiting for approval (${pending.items.length}${pending.nextCursor === null ? '' : '+'})`;
  };
  // After a change held for a second admin, the count of those waiting is loaded again.
  const held = (change: PendingChange, what: string): void => {
    outcome.replaceChildren(pendingNotice(change, what));
    announce(pendingText(change, what));
    countWaiting().catch(() => undefined);
  };
  const roles = rolesTable(api, name, limit, outcome, held);
  // Deleting a service also takes it out of every role: the roles' member counts are loaded again.
  const services = servicesTable(api, name, limit, outcome, () => roles.reload());
  try {
    // The count is a convenience: without it the link still leads to the list.
    const counted = countWaiting().catch(() => {
      waitingLink.textContent = 'Changes waiting for approval';
    });
    await Promise.all([counted, services.reload(), roles.reload()]);
  } catch (error) {
    errorView(view, `Domain ${name}`, error);
    return;
  }
  append(
    view,
    h('h1', {}, `Domain ${domain.name}`),
    domain.description ? h('p', {}, domain.description) : null,
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Created'),
      h('dd', {}, formatTime(domain.createdAt)),
      h('dt', {}, 'Token lifetime cap'),
      h('dd', {}, domain.tokenMaxLifetime === null ? 'none' : `${domain.tokenMaxLifetime} s`),
    ),
    h('p', {}, h('a', { href: callersHref(domain.name) }, `Who calls ${domain.name}`), ': the principals that obtained its tokens, and how often.'),
    h(
      'p',
      {},
      h('a', { href: timelineHref(domain.name) }, `Timeline of ${domain.name}`),
      ': every change to it, its roles and its services, by whom and when.',
    ),
    h('p', {}, waitingLink, ': member and role changes held until a second admin approves them.'),
    outcome,
    h('section', { 'aria-labelledby': 'services' }, h('h2', { id: 'services' }, 'Services'), services.element, createServiceForm(api, name, services, outcome)),
    h('section', { 'aria-labelledby': 'roles' }, h('h2', { id: 'roles' }, 'Roles'), roles.element, createRoleForm(api, name, roles, outcome)),
    approvalSettings(api, domain, outcome, held),
  );
}

/**
 * The roles whose member changes wait for a second admin (`approvalRequiredRoles`): adding one
 * applies at once; removing one is itself a change a second admin must approve (202).
 */
function approvalSettings(api: AdminApi, initial: Domain, outcome: HTMLElement, held: Held): HTMLElement {
  let current = initial.approvalRequiredRoles ?? [];
  const list = h('div');
  const show = (): void => {
    list.replaceChildren(
      current.length === 0
        ? h('p', { class: 'empty' }, 'None: every change of this domain’s roles applies at once.')
        : h('ul', { class: 'plain' }, ...current.map((role) => h('li', {}, h('code', {}, role), ' ', removeButton(role)))),
    );
  };
  const save = async (next: string[], done: string, asked: string): Promise<void> => {
    const answer = await api.updateDomain(initial.name, { approvalRequiredRoles: next });
    if (answer.pending !== null) {
      held(answer.pending, asked);
      return;
    }
    current = answer.result.approvalRequiredRoles ?? next;
    show();
    report(outcome, 'success', done);
  };
  const removeButton = (role: string): HTMLElement => {
    const button = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${role} from the roles needing approval` }, 'Remove');
    button.addEventListener('click', () => {
      void (async () => {
        const ok = await confirmAction({
          title: `Stop requiring a second admin for ${role}?`,
          details: [
            `Changes of the members and actors of ${initial.name}:role.${role} would then apply at once.`,
            'This itself waits for another admin of the domain to approve it.',
          ],
          confirmLabel: `Ask to remove ${role}`,
        });
        if (!ok) return;
        await save(
          current.filter((r) => r !== role),
          `${role} no longer needs a second admin.`,
          `Removing ${role} from the roles needing a second admin`,
        ).catch((error: unknown) => report(outcome, 'error', `Could not remove ${role}: ${errorText(error)}`));
      })();
    });
    return button;
  };
  show();
  const role = h('input', { name: 'approvalRole', required: true, spellcheck: 'false', autocapitalize: 'none' });
  const form = actionForm(
    'Require a second admin for a role',
    [field('Role needing approval', role, 'e.g. admin or writers: its member changes then wait for another admin’s approval. Applies at once.')],
    'Require approval',
    async () => {
      const name = role.value.trim();
      await save([...new Set([...current, name])], `Changes of ${initial.name}:role.${name} now need a second admin.`, `Requiring approval for ${name}`);
      role.value = '';
    },
  );
  return h(
    'section',
    { 'aria-labelledby': 'approval-roles' },
    h('h2', { id: 'approval-roles' }, 'Roles needing a second admin'),
    h('p', {}, 'A change of these roles’ members or actors, or deleting one, waits until another admin of the domain approves it.'),
    list,
    h('h3', {}, 'Require a second admin for a role'),
    form,
  );
}

/** Shows the result of an action at the top of the page's content and says it. */
function report(outcome: HTMLElement, kind: 'success' | 'error', message: string): void {
  outcome.replaceChildren(notice(kind, message));
  if (kind === 'success') announce(message);
}

function servicesTable(api: AdminApi, domain: string, limit: number, outcome: HTMLElement, afterDelete: () => Promise<void>): PagedTable<Service> {
  const table: PagedTable<Service> = pagedTable<Service>({
    caption: `Services of ${domain}`,
    columns: [
      { header: 'Principal', cell: (service) => h('a', { href: serviceHref(service.domain, service.name) }, service.principal) },
      { header: 'Status', cell: (service) => statusText(service) },
      { header: 'Description', cell: (service) => service.description ?? '' },
      { header: 'Created', cell: (service) => formatTime(service.createdAt) },
      { header: 'Actions', cell: (service) => serviceActions(api, service, table, outcome, afterDelete) },
    ],
    load: (cursor) => api.listServices(domain, cursor, limit),
    empty: 'No services in this domain yet.',
  });
  return table;
}

function statusText(service: Service): string {
  if (service.status === 'DISABLED') return 'disabled';
  if (service.expiresAt !== null && Date.parse(service.expiresAt) <= Date.now()) return `expired ${formatTime(service.expiresAt)}`;
  return service.expiresAt === null ? 'active' : `active until ${formatTime(service.expiresAt)}`;
}

function serviceActions(api: AdminApi, service: Service, table: PagedTable<Service>, outcome: HTMLElement, afterDelete: () => Promise<void>): HTMLElement {
  const disabling = service.status === 'ACTIVE';
  const toggle = h(
    'button',
    { type: 'button', class: 'secondary', 'aria-label': `${disabling ? 'Disable' : 'Enable'} ${service.principal}` },
    disabling ? 'Disable' : 'Enable',
  );
  toggle.addEventListener('click', () => {
    void (async () => {
      if (disabling && !(await confirmDisable(service.principal))) return;
      try {
        await api.setServiceStatus(service.domain, service.name, disabling ? 'DISABLED' : 'ACTIVE');
        await table.reload();
        report(outcome, 'success', `${service.principal} is ${disabling ? 'disabled' : 'enabled'}.`);
      } catch (error) {
        report(outcome, 'error', `Could not ${disabling ? 'disable' : 'enable'} ${service.principal}: ${errorText(error)}`);
      }
    })();
  });
  const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${service.principal}` }, 'Delete');
  remove.addEventListener('click', () => {
    void (async () => {
      const ok = await confirmAction({
        title: `Delete ${service.principal}?`,
        details: [
          `This deletes the service ${service.principal}, its credentials (client secrets, registered public keys) and its membership in every role, in every domain.`,
          'Callers using its credentials are refused from now on. This cannot be undone: a service made again under the same name starts with nothing.',
        ],
        confirmLabel: `Delete ${service.principal}`,
      });
      if (!ok) return;
      try {
        await api.deleteService(service.domain, service.name);
        await Promise.all([table.reload(), afterDelete()]);
        report(outcome, 'success', `${service.principal} was deleted.`);
      } catch (error) {
        report(outcome, 'error', `Could not delete ${service.principal}: ${errorText(error)}`);
      }
    })();
  });
  return h('span', { class: 'row-actions' }, toggle, remove);
}

function createServiceForm(api: AdminApi, domain: string, table: PagedTable<Service>, outcome: HTMLElement): HTMLElement {
  const name = h('input', { name: 'service', required: true, spellcheck: 'false', autocapitalize: 'none' });
  const description = h('input', { name: 'description' });
  const secretBox = h('div');
  const form = actionForm(
    'Create a service',
    [field('Service name', name, `One part, no dots: the principal is ${domain}.<name>.`), field('Description (optional)', description)],
    'Create service',
    async () => {
      secretBox.replaceChildren();
      const created = await api.createService(domain, name.value.trim(), description.value.trim() || null);
      name.value = '';
      description.value = '';
      await table.reload();
      report(outcome, 'success', `Service ${created.principal} created.`);
      if (created.clientSecret) {
        shownOnce(
          secretBox,
          `Client secret of ${created.principal}`,
          created.clientSecret,
          `The client secret of ${created.principal} is shown this once: copy it now. Only its hash is stored.`,
        );
      }
    },
  );
  return h('div', {}, h('h3', {}, 'Create a service'), form, secretBox);
}

function rolesTable(api: AdminApi, domain: string, limit: number, outcome: HTMLElement, held: Held): PagedTable<Role> {
  const table: PagedTable<Role> = pagedTable<Role>({
    caption: `Roles of ${domain}`,
    columns: [
      { header: 'Role', cell: (role) => h('a', { href: roleHref(role.domain, role.name) }, role.name) },
      { header: 'Members', cell: (role) => `${role.members.length}${role.membersNextCursor === null ? '' : '+'}` },
      { header: 'Actors', cell: (role) => (role.actors.length === 0 ? 'none' : role.actors.join(', ')) },
      { header: 'Actions', cell: (role) => roleActions(api, role, table, outcome, held) },
    ],
    load: (cursor) => api.listRoles(domain, cursor, limit),
    empty: 'No roles in this domain yet.',
  });
  return table;
}

function roleActions(api: AdminApi, role: Role, table: PagedTable<Role>, outcome: HTMLElement, held: Held): HTMLElement {
  const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete role ${role.fullName}` }, 'Delete');
  remove.addEventListener('click', () => {
    void (async () => {
      const members = `${role.members.length}${role.membersNextCursor === null ? '' : ' or more'}`;
      const ok = await confirmAction({
        title: `Delete role ${role.fullName}?`,
        details: [
          `This deletes the role ${role.fullName} with its ${members} member${role.members.length === 1 ? '' : 's'} and its actors and impersonators.`,
          'Tokens carrying this role stop being accepted by introspection and the admin API; new tokens cannot have it. This cannot be undone.',
        ],
        confirmLabel: `Delete ${role.fullName}`,
      });
      if (!ok) return;
      try {
        const answer = await api.deleteRole(role.domain, role.name);
        if (answer.pending !== null) {
          held(answer.pending, `Deleting the role ${role.fullName}`);
          return;
        }
        await table.reload();
        report(outcome, 'success', `Role ${role.fullName} was deleted.`);
      } catch (error) {
        report(outcome, 'error', `Could not delete ${role.fullName}: ${errorText(error)}`);
      }
    })();
  });
  return h('span', { class: 'row-actions' }, remove);
}

function createRoleForm(api: AdminApi, domain: string, table: PagedTable<Role>, outcome: HTMLElement): HTMLElement {
  const name = h('input', { name: 'role', required: true, spellcheck: 'false', autocapitalize: 'none' });
  const form = actionForm('Create a role', [field('Role name', name, 'e.g. readers; add its members on the role’s page.')], 'Create role', async () => {
    const role = await api.createRole(domain, name.value.trim());
    name.value = '';
    await table.reload();
    report(outcome, 'success', `Role ${role.fullName} is there; open it to add members.`);
  });
  return h('div', {}, h('h3', {}, 'Create a role'), form);
}
