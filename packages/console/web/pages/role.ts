// One role: its members with their expiry (add, change expiry, remove) and its actors (the
// principals that may get its tokens for a member). Impersonators are shown, not edited yet.

import type { AdminApi, Member, Role } from '../api.ts';
import { announce, append, confirmAction, field, formatTime, h, notice } from '../dom.ts';
import { domainHref, timelineHref } from '../router.ts';
import type { PageContext } from '../main.ts';
import { actionForm, errorText, errorView, pagedTable, type PagedTable } from './common.ts';

export async function renderRole({ api, view, crumbs }: PageContext, domain: string, name: string, limit: number): Promise<void> {
  crumbs([{ label: domain, href: domainHref(domain) }, { label: name }]);
  let role: Role;
  try {
    role = await api.getRole(domain, name);
  } catch (error) {
    errorView(view, `Role ${domain}:role.${name}`, error);
    return;
  }
  const outcome = h('div', { class: 'outcome' });
  const report = (kind: 'success' | 'error', message: string): void => {
    outcome.replaceChildren(notice(kind, message));
    if (kind === 'success') announce(message);
  };
  const members: PagedTable<Member> = pagedTable<Member>({
    caption: `Members of ${role.fullName}`,
    columns: [
      { header: 'Principal', cell: (member) => member.principal },
      { header: 'Expires', cell: (member) => expiryText(member) },
      { header: 'Actions', cell: (member) => removeMemberButton(api, role, member, members, report) },
    ],
    load: (cursor) => api.listMembers(domain, name, cursor, limit),
    empty: 'No members: nobody holds this role.',
  });
  try {
    await members.reload();
  } catch (error) {
    errorView(view, `Role ${role.fullName}`, error);
    return;
  }
  const actorsList = h('div');
  const showActors = (actors: string[]): void => {
    actorsList.replaceChildren(
      actors.length === 0
        ? h('p', { class: 'empty' }, 'No actors: nobody may get this role’s tokens for a member.')
        : h('ul', { class: 'plain' }, ...actors.map((actor) => h('li', {}, actor, ' ', removeActorButton(actor)))),
    );
  };
  const setActors = async (actors: string[], done: string): Promise<void> => {
    role = await api.setActors(domain, name, actors);
    showActors(role.actors);
    report('success', done);
  };
  const removeActorButton = (actor: string): HTMLElement => {
    const button = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove actor ${actor}` }, 'Remove');
    button.addEventListener('click', () => {
      void (async () => {
        const ok = await confirmAction({
          title: `Remove actor ${actor}?`,
          details: [
            `${actor} will no longer get tokens carrying ${role.fullName} for its members (token exchange, proxy_for_principal). The members keep the role.`,
          ],
          confirmLabel: `Remove ${actor}`,
        });
        if (!ok) return;
        await setActors(
          role.actors.filter((a) => a !== actor),
          `${actor} is no longer an actor of ${role.fullName}.`,
        ).catch((error: unknown) => report('error', `Could not remove ${actor}: ${errorText(error)}`));
      })();
    });
    return button;
  };
  showActors(role.actors);

  const principal = h('input', { name: 'principal', required: true, spellcheck: 'false', autocapitalize: 'none' });
  const expires = h('input', { name: 'expiresAt', type: 'datetime-local' });
  const addMember = actionForm(
    'Add a member',
    [
      field('Principal', principal, 'A service of any domain, as <domain>.<service>, e.g. alpha.api.'),
      field('Expires (UTC, optional)', expires, 'Leave empty for a membership that does not expire. For a principal already a member, this sets its expiry.'),
    ],
    'Add member',
    async () => {
      const who = principal.value.trim();
      const answer = await api.putMember(domain, name, who, expires.value ? utcFromLocalInput(expires.value) : null);
      principal.value = '';
      expires.value = '';
      await members.reload();
      report('success', answer.created ? `${who} is now a member of ${role.fullName}.` : `The membership of ${who} in ${role.fullName} was updated.`);
    },
  );
  const actor = h('input', { name: 'actor', required: true, spellcheck: 'false', autocapitalize: 'none' });
  const addActor = actionForm(
    'Add an actor',
    [field('Actor principal', actor, 'e.g. gw.edge: it may then get this role’s tokens for a member.')],
    'Add actor',
    async () => {
      const who = actor.value.trim();
      await setActors([...new Set([...role.actors, who])], `${who} is now an actor of ${role.fullName}.`);
      actor.value = '';
    },
  );

  append(
    view,
    h('h1', {}, `Role ${role.fullName}`),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Token lifetime cap'),
      h('dd', {}, role.tokenMaxLifetime === null ? 'none' : `${role.tokenMaxLifetime} s`),
      h('dt', {}, 'Updated'),
      h('dd', {}, formatTime(role.updatedAt)),
    ),
    h('p', {}, h('a', { href: timelineHref(domain, role.fullName) }, `Changes to ${role.fullName}`), ': its members, actors and settings over time.'),
    outcome,
    h('section', { 'aria-labelledby': 'members' }, h('h2', { id: 'members' }, 'Members'), members.element, h('h3', {}, 'Add a member'), addMember),
    h(
      'section',
      { 'aria-labelledby': 'actors' },
      h('h2', { id: 'actors' }, 'Actors'),
      h('p', {}, 'Principals that may get tokens carrying this role for one of its members, through a token exchange or proxy_for_principal.'),
      actorsList,
      h('h3', {}, 'Add an actor'),
      addActor,
    ),
    h(
      'section',
      { 'aria-labelledby': 'impersonators' },
      h('h2', { id: 'impersonators' }, 'Impersonators'),
      role.impersonators.length === 0 ? h('p', { class: 'empty' }, 'None.') : h('ul', { class: 'plain' }, ...role.impersonators.map((who) => h('li', {}, who))),
      h('p', { class: 'hint' }, 'Changed through the admin API for now (PUT of the role with "impersonators").'),
    ),
  );
}

/** A datetime-local value (`2026-12-31T00:00`, seconds optional) read as UTC. */
function utcFromLocalInput(value: string): string {
  return new Date(`${value.length === 16 ? `${value}:00` : value}Z`).toISOString();
}

function expiryText(member: Member): string {
  if (member.expiresAt === null) return 'never';
  const past = Date.parse(member.expiresAt) <= Date.now();
  return past ? `expired ${formatTime(member.expiresAt)} (grants nothing)` : formatTime(member.expiresAt);
}

function removeMemberButton(
  api: AdminApi,
  role: Role,
  member: Member,
  table: PagedTable<Member>,
  report: (kind: 'success' | 'error', message: string) => void,
): HTMLElement {
  const button = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${member.principal}` }, 'Remove');
  button.addEventListener('click', () => {
    void (async () => {
      const ok = await confirmAction({
        title: `Remove ${member.principal} from ${role.fullName}?`,
        details: [
          `${member.principal} loses ${role.fullName} at once: new tokens cannot carry it, and introspection stops accepting the tokens that do.`,
          'The service itself and its other roles are kept.',
        ],
        confirmLabel: `Remove ${member.principal}`,
      });
      if (!ok) return;
      try {
        await api.removeMember(role.domain, role.name, member.principal);
        await table.reload();
        report('success', `${member.principal} was removed from ${role.fullName}.`);
      } catch (error) {
        report('error', `Could not remove ${member.principal}: ${errorText(error)}`);
      }
    })();
  });
  return button;
}
