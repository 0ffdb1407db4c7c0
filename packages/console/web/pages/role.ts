// One role: its members with their expiry and review date (add, change them, remove) and its
// actors (the principals that may get its tokens for a member) and its impersonators (those that
// may get them without act): add, remove; and whether the actors may exchange a member's ID
// token (idTokenSubjects). For a role its domain lists in approvalRequiredRoles every such change
// is held for a second admin (202): the page says so, with the change's id, instead of reporting
// it done.

import type { AdminApi, Member, PendingChange, Role } from '../api.ts';
import { announce, append, confirmAction, field, formatTime, h, notice, uid } from '../dom.ts';
import { approvalsHref, domainHref, timelineHref } from '../router.ts';
import type { PageContext } from '../main.ts';
import { actionForm, errorText, errorView, pagedTable, type PagedTable } from './common.ts';
import { askDialog, localInputFromUtc, pendingNotice, pendingText, reviewText, utcFromLocalInput } from './pending.ts';

type Report = (kind: 'success' | 'error', message: string) => void;
type Held = (change: PendingChange, what: string) => void;

/** What differs between the role's two lists of principals (actors, impersonators) on the page. */
interface PrincipalListKind {
  field: 'actors' | 'impersonators';
  noun: string;
  article: string;
  empty: string;
  label: string;
  hint: string;
  /** The removal dialog's paragraphs. */
  removal(who: string, fullName: string): string[];
  /** When adding one grants more than the page says at a glance: the paragraphs of a dialog asked first. */
  grant?(who: string, fullName: string): string[];
}

interface PrincipalList {
  element: HTMLElement;
  form: HTMLFormElement;
  show(): void;
}

export async function renderRole({ api, view, crumbs }: PageContext, domain: string, name: string, limit: number): Promise<void> {
  crumbs([{ label: domain, href: domainHref(domain) }, { label: name }]);
  let role: Role;
  try {
    role = await api.getRole(domain, name);
  } catch (error) {
    errorView(view, `Role ${domain}:role.${name}`, error);
    return;
  }
  // Whether its changes wait for a second admin: said on the page (the 202s say it anyway).
  const gated = await api.getDomain(domain).then(
    (d) => (d.approvalRequiredRoles ?? []).includes(name),
    () => false,
  );
  const outcome = h('div', { class: 'outcome' });
  const report: Report = (kind, message) => {
    outcome.replaceChildren(notice(kind, message));
    if (kind === 'success') announce(message);
  };
  const held: Held = (change, what) => {
    outcome.replaceChildren(pendingNotice(change, what));
    announce(pendingText(change, what));
  };
  const members: PagedTable<Member> = pagedTable<Member>({
    caption: `Members of ${role.fullName}`,
    columns: [
      { header: 'Principal', cell: (member) => member.principal },
      { header: 'Expires', cell: (member) => expiryText(member) },
      { header: 'Review by', cell: (member) => reviewText(member.reviewBy) },
      {
        header: 'Actions',
        cell: (member) =>
          h(
            'span',
            { class: 'row-actions' },
            changeMemberButton(api, role, member, members, report, held),
            removeMemberButton(api, role, member, members, report, held),
          ),
      },
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
  // The actors and the impersonators: two lists of principals, each replaced whole by a role PUT
  // (which keeps everything else), edited the same way.
  const lists: PrincipalList[] = [];
  const principalList = (kind: PrincipalListKind): PrincipalList => {
    const element = h('div');
    const show = (): void => {
      const names = role[kind.field];
      element.replaceChildren(
        names.length === 0
          ? h('p', { class: 'empty' }, kind.empty)
          : h('ul', { class: 'plain' }, ...names.map((who) => h('li', {}, who, ' ', removeButton(who)))),
      );
    };
    const set = async (next: string[], done: string, asked: string): Promise<void> => {
      const answer = kind.field === 'actors' ? await api.setActors(domain, name, next) : await api.setImpersonators(domain, name, next);
      if (answer.pending !== null) {
        held(answer.pending, asked);
        return;
      }
      role = answer.result;
      for (const list of lists) list.show();
      report('success', done);
    };
    const removeButton = (who: string): HTMLElement => {
      const button = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${kind.noun} ${who}` }, 'Remove');
      button.addEventListener('click', () => {
        void (async () => {
          const ok = await confirmAction({ title: `Remove ${kind.noun} ${who}?`, details: kind.removal(who, role.fullName), confirmLabel: `Remove ${who}` });
          if (!ok) return;
          await set(
            role[kind.field].filter((other) => other !== who),
            `${who} is no longer ${kind.article} ${kind.noun} of ${role.fullName}.`,
            `Removing the ${kind.noun} ${who} of ${role.fullName}`,
          ).catch((error: unknown) => report('error', `Could not remove ${who}: ${errorText(error)}`));
        })();
      });
      return button;
    };
    const input = h('input', { name: kind.noun, required: true, spellcheck: 'false', autocapitalize: 'none' });
    const form = actionForm(`Add ${kind.article} ${kind.noun}`, [field(kind.label, input, kind.hint)], `Add ${kind.noun}`, async () => {
      const who = input.value.trim();
      if (
        kind.grant &&
        !(await confirmAction({ title: `Make ${who} ${kind.article} ${kind.noun}?`, details: kind.grant(who, role.fullName), confirmLabel: `Add ${who}` }))
      ) {
        return;
      }
      await set(
        [...new Set([...role[kind.field], who])],
        `${who} is now ${kind.article} ${kind.noun} of ${role.fullName}.`,
        `Making ${who} ${kind.article} ${kind.noun} of ${role.fullName}`,
      );
      input.value = '';
    });
    const list = { element, form, show };
    lists.push(list);
    show();
    return list;
  };
  const actors = principalList({
    field: 'actors',
    noun: 'actor',
    article: 'an',
    empty: 'No actors: nobody may get this role’s tokens for a member.',
    label: 'Actor principal',
    hint: 'e.g. gw.edge: it may then get this role’s tokens for a member.',
    removal: (who, fullName) => [
      `${who} will no longer get tokens carrying ${fullName} for its members (token exchange, proxy_for_principal). The members keep the role.`,
    ],
  });
  const impersonators = principalList({
    field: 'impersonators',
    noun: 'impersonator',
    article: 'an',
    empty: 'No impersonators: nobody may get this role’s tokens without act for a member.',
    label: 'Impersonator principal',
    hint: 'e.g. gw.support: it may then get this role’s tokens for a member without act, when it asks for impersonation.',
    removal: (who, fullName) => [
      `${who} will no longer get tokens carrying ${fullName} without act for its members (token exchange with impersonation=true), ` +
        'and the impersonation tokens it holds that carry the role stop being accepted at once (introspection, the admin API).',
      'The members keep the role; its actors are kept.',
    ],
    grant: (who, fullName) => [
      `${who} may then get tokens carrying ${fullName} for any of its members without act (token exchange with impersonation=true): ` +
        `they have no act claim, so a service that ignores client_id takes them for the member's own.`,
      'Each such token is audited (token.issued, acting impersonation); removing the impersonator stops Tessera accepting the ones it holds.',
    ],
  });

  const principal = h('input', { name: 'principal', required: true, spellcheck: 'false', autocapitalize: 'none' });
  const expires = h('input', { name: 'expiresAt', type: 'datetime-local' });
  const reviewBy = h('input', { name: 'reviewBy', type: 'datetime-local' });
  const addMember = actionForm(
    'Add a member',
    [
      field('Principal', principal, 'A service of any domain, as <domain>.<service>, e.g. alpha.api.'),
      field(
        'Expires (UTC, optional)',
        expires,
        'Leave empty for a membership that does not expire. For a principal already a member, empty keeps its expiry; “Change” in the table clears it.',
      ),
      field(
        'Review by (UTC, optional)',
        reviewBy,
        'When the membership is due for review (it still grants after). For a principal already a member, empty keeps its review date.',
      ),
    ],
    'Add member',
    async () => {
      const who = principal.value.trim();
      const current = who === '' ? null : await findMember(api, role, who, members);
      const dates = {
        expiresAt: utcFromLocalInput(expires.value) ?? current?.expiresAt ?? null,
        reviewBy: utcFromLocalInput(reviewBy.value) ?? current?.reviewBy ?? null,
      };
      if (current !== null && reviewBy.value === '' && dates.reviewBy !== null && Date.parse(dates.reviewBy) <= Date.now()) {
        report('error', `The review of ${who} was due ${formatTime(dates.reviewBy)}: give the next review date, or clear it with “Change” in the table.`);
        return;
      }
      const answer = await api.putMember(domain, name, who, dates);
      principal.value = '';
      expires.value = '';
      reviewBy.value = '';
      if (answer.pending !== null) {
        held(answer.pending, current === null ? `Adding ${who} to ${role.fullName}` : `Changing the membership of ${who} in ${role.fullName}`);
        return;
      }
      await members.reload();
      report('success', answer.result.created ? `${who} is now a member of ${role.fullName}.` : `The membership of ${who} in ${role.fullName} was updated.`);
    },
  );
  const idTokens = h('input', { type: 'checkbox', name: 'idTokenSubjects', checked: role.idTokenSubjects });
  const idTokenForm = actionForm('ID tokens as subject tokens', [checkboxField('Actors may exchange a member’s ID token', idTokens)], 'Save', async () => {
    const wanted = idTokens.checked;
    const answer = await api.setIdTokenSubjects(domain, name, wanted);
    if (answer.pending !== null) {
      idTokens.checked = role.idTokenSubjects;
      held(answer.pending, `${wanted ? 'Letting' : 'No longer letting'} the actors of ${role.fullName} exchange ID tokens`);
      return;
    }
    role = answer.result;
    idTokens.checked = role.idTokenSubjects;
    report(
      'success',
      role.idTokenSubjects
        ? `The actors of ${role.fullName} may now exchange a member’s ID token issued for them.`
        : `The actors of ${role.fullName} may no longer exchange ID tokens; tokens got that way end at once.`,
    );
  });
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
    h(
      'p',
      {},
      h('a', { href: timelineHref(domain, role.fullName) }, `Changes to ${role.fullName}`),
      ': its members, actors, impersonators and settings over time.',
    ),
    gated
      ? h(
          'p',
          { class: 'notice' },
          `${domain} requires a second admin for this role: adding, changing or removing a member, an actor or an impersonator ` +
            'waits for another admin’s approval. ',
          h('a', { href: approvalsHref(domain) }, `Changes waiting in ${domain}`),
        )
      : null,
    outcome,
    h('section', { 'aria-labelledby': 'members' }, h('h2', { id: 'members' }, 'Members'), members.element, h('h3', {}, 'Add a member'), addMember),
    h(
      'section',
      { 'aria-labelledby': 'actors' },
      h('h2', { id: 'actors' }, 'Actors'),
      h('p', {}, 'Principals that may get tokens carrying this role for one of its members, through a token exchange or proxy_for_principal.'),
      actors.element,
      h('h3', {}, 'Add an actor'),
      actors.form,
      h('h3', {}, 'ID tokens as subject tokens'),
      h(
        'p',
        {},
        'When on, an actor may exchange an ID token that a member got for it (the member proved itself to the actor with it) ' +
          'for this role’s tokens, as it may the member’s access token.',
      ),
      idTokenForm,
    ),
    h(
      'section',
      { 'aria-labelledby': 'impersonators' },
      h('h2', { id: 'impersonators' }, 'Impersonators'),
      h(
        'p',
        {},
        'Principals that may get tokens carrying this role for one of its members without act, when they ask for impersonation ' +
          '(a token exchange with impersonation=true): the token names the member as its subject and no actor, so a resource server ' +
          'that ignores client_id takes it for the member’s own. Separate from the actors.',
      ),
      impersonators.element,
      h('h3', {}, 'Add an impersonator'),
      impersonators.form,
    ),
  );
}

/**
 * The membership of `who`, or null: among the loaded members, else looked up a page at a time
 * (the list is by principal, so the search stops past where it would be).
 */
async function findMember(api: AdminApi, role: Role, who: string, table: PagedTable<Member>): Promise<Member | null> {
  const loaded = table.loaded().find((member) => member.principal === who);
  if (loaded) return loaded;
  let cursor: string | null = null;
  do {
    const page: { items: Member[]; nextCursor: string | null } = await api.listMembers(role.domain, role.name, cursor, 1000);
    const found = page.items.find((member) => member.principal === who);
    if (found) return found;
    const last = page.items.at(-1);
    if (last !== undefined && last.principal > who) return null;
    cursor = page.nextCursor;
  } while (cursor !== null);
  return null;
}

/**
 * "Change": a dialog with the member's expiry and review date. A date left as it was is sent as
 * it was (a member PUT writes the membership whole, so one left out would be cleared); emptied,
 * it is cleared.
 */
function changeMemberButton(api: AdminApi, role: Role, member: Member, table: PagedTable<Member>, report: Report, held: Held): HTMLElement {
  const button = h('button', { type: 'button', class: 'secondary', 'aria-label': `Change ${member.principal}` }, 'Change');
  button.addEventListener('click', () => {
    void (async () => {
      const shownExpiry = localInputFromUtc(member.expiresAt);
      const shownReview = localInputFromUtc(member.reviewBy);
      const expires = h('input', { name: 'expiresAt', type: 'datetime-local', value: shownExpiry });
      const review = h('input', { name: 'reviewBy', type: 'datetime-local', value: shownReview });
      const kept = (input: HTMLInputElement, shown: string, original: string | null | undefined): string | null =>
        input.value === shown ? (original ?? null) : utcFromLocalInput(input.value);
      const ok = await askDialog({
        title: `Change ${member.principal} in ${role.fullName}`,
        details: ['Dates are in UTC. Empty a date to remove it: no expiry, or no review date.'],
        fields: [
          field('Expires (UTC)', expires),
          field('Review by (UTC)', review, 'In the future; past it the membership is due for review and still grants.'),
        ],
        confirmLabel: 'Save dates',
        check: () => {
          const next = kept(review, shownReview, member.reviewBy);
          if (next !== null && Date.parse(next) <= Date.now()) {
            return review.value === shownReview
              ? `The review date ${formatTime(next)} has passed: set the next one, or empty the field to remove it.`
              : 'The review date must be in the future.';
          }
          return null;
        },
      });
      if (!ok) return;
      try {
        const answer = await api.putMember(role.domain, role.name, member.principal, {
          expiresAt: kept(expires, shownExpiry, member.expiresAt),
          reviewBy: kept(review, shownReview, member.reviewBy),
        });
        if (answer.pending !== null) {
          held(answer.pending, `Changing the membership of ${member.principal} in ${role.fullName}`);
          return;
        }
        await table.reload();
        report('success', `The membership of ${member.principal} in ${role.fullName} was updated.`);
      } catch (error) {
        report('error', `Could not change ${member.principal}: ${errorText(error)}`);
      }
    })();
  });
  return button;
}

function expiryText(member: Member): string {
  if (member.expiresAt === null) return 'never';
  const past = Date.parse(member.expiresAt) <= Date.now();
  return past ? `expired ${formatTime(member.expiresAt)} (grants nothing)` : formatTime(member.expiresAt);
}

function removeMemberButton(api: AdminApi, role: Role, member: Member, table: PagedTable<Member>, report: Report, held: Held): HTMLElement {
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
        const answer = await api.removeMember(role.domain, role.name, member.principal);
        if (answer.pending !== null) {
          held(answer.pending, `Removing ${member.principal} from ${role.fullName}`);
          return;
        }
        await table.reload();
        report('success', `${member.principal} was removed from ${role.fullName}.`);
      } catch (error) {
        report('error', `Could not remove ${member.principal}: ${errorText(error)}`);
      }
    })();
  });
  return button;
}

/** A checkbox with its label after it, in the page's field style. */
function checkboxField(label: string, input: HTMLInputElement): HTMLElement {
  input.id ||= uid('field');
  return h('p', { class: 'checkbox-field' }, input, ' ', h('label', { for: input.id }, label));
}
