// The system page, for system admins: the token-signing keys and CA generations with their states
// and next rotation, with "rotate the signing key now" and "rotate the CA now" (each after a
// confirmation saying what becomes of what the current key or CA signed), whether storage
// answers, and the token endpoints' rates — tokens issued and requests refused per hour, the
// refusals by code — over the last 24 hours or 7 days. From the admin API only
// (docs/http-api.md: Signing keys, CA generations, System); a domain admin who opens it sees the
// server's 403.

import type { CaGeneration, SigningKey, StorageStatus, TokenRatePoint } from '../api.ts';
import { HOUR, barChart } from '../chart.ts';
import { announce, append, confirmAction, formatTime, h, notice } from '../dom.ts';
import type { PageContext } from '../main.ts';
import { systemHref, type SystemPeriod } from '../router.ts';
import type { Session } from '../session.ts';
import { errorText, errorView } from './common.ts';

const PERIODS: readonly { period: SystemPeriod; label: string; hours: number }[] = [
  { period: '24h', label: 'Last 24 hours', hours: 24 },
  { period: '7d', label: 'Last 7 days', hours: 7 * 24 },
];

/**
 * The header's sections for whoever is signed in: the domains and the membership reviews; the
 * system page for system admins only. The current section is marked.
 */
export function renderSiteNav(session: Session | null, page: string): void {
  const nav = document.getElementById('site-nav');
  if (!nav) return;
  if (session === null) {
    nav.replaceChildren();
    nav.hidden = true;
    return;
  }
  const link = (href: string, label: string, current: boolean): HTMLElement => h('li', {}, h('a', { href, 'aria-current': current ? 'page' : false }, label));
  nav.replaceChildren(
    h(
      'ul',
      {},
      link('#/domains', 'Domains', page === 'domains'),
      link('#/reviews', 'Membership reviews', page === 'reviews'),
      session.standing.kind === 'system' ? link('#/system', 'System', page === 'system') : null,
    ),
  );
  nav.hidden = false;
}

export async function renderSystem({ api, view, crumbs }: PageContext, period: SystemPeriod): Promise<void> {
  crumbs([{ label: 'System' }]);
  const chosen = PERIODS.find((p) => p.period === period) ?? PERIODS[0]!;
  // Whole hours: the server counts by the hour.
  const since = new Date(Math.floor((Date.now() - chosen.hours * HOUR) / HOUR) * HOUR).toISOString();
  let keys: { keys: SigningKey[]; nextRotationAt: string | null };
  let generations: { generations: CaGeneration[]; nextRotationAt: string | null };
  let storage: StorageStatus;
  let rates: TokenRatePoint[];
  try {
    [keys, generations, storage, rates] = await Promise.all([api.listSigningKeys(), api.listCaGenerations(), api.storageStatus(), api.tokenRates(since)]);
  } catch (error) {
    errorView(view, 'System', error);
    return;
  }

  const keysSection = h('div');
  const showKeys = (answer: typeof keys): void => {
    keysSection.replaceChildren(
      nextRotation(answer.nextRotationAt, 'key'),
      simpleTable(
        'Token-signing keys, newest first',
        ['Key id', 'Algorithm', 'State', 'Activates', 'Retired', 'Removed'],
        [...answer.keys]
          .sort((a, b) => Date.parse(b.activatesAt) - Date.parse(a.activatesAt))
          .map((k) => [h('code', {}, k.kid), k.alg, keyState(k.state), formatTime(k.activatesAt), orDash(k.retiredAt), orDash(k.removeAt)]),
      ),
    );
  };
  showKeys(keys);
  const rotateStatus = h('div', { class: 'form-status' });
  const rotate = h('button', { type: 'button' }, 'Rotate signing key now');
  rotate.addEventListener('click', () => void rotateNow());
  const rotateNow = async (): Promise<void> => {
    const confirmed = await confirmAction({
      title: 'Rotate the signing key now?',
      details: [
        'A new key is published in the JWKS now and starts signing tokens after the pre-publication window (signing.prePublication), ' +
          'so verifiers that cache the key set learn it first.',
        'The key signing now is then retired; tokens it signed stay valid until they expire. If a rotation is already pending, nothing is added.',
      ],
      confirmLabel: 'Rotate now',
    });
    if (!confirmed) return;
    rotateStatus.replaceChildren();
    rotate.disabled = true;
    try {
      const answer = await api.rotateSigningKey();
      const message = answer.created
        ? `Key ${answer.kid} was published; it signs from ${formatTime(answer.activatesAt)}.`
        : `A rotation was already pending: key ${answer.kid} signs from ${formatTime(answer.activatesAt)}. No key was added.`;
      await tellAfter(async () => showKeys(await api.listSigningKeys()), rotateStatus, message);
    } catch (error) {
      rotateStatus.appendChild(notice('error', errorText(error)));
    } finally {
      rotate.disabled = false;
    }
  };

  const generationsSection = h('div');
  const showGenerations = (answer: typeof generations): void => {
    generationsSection.replaceChildren(
      nextRotation(answer.nextRotationAt, 'generation'),
      simpleTable(
        'CA generations, newest first',
        ['Generation', 'State', 'Subject', 'Activates', 'Valid until', 'Leaves the bundle'],
        answer.generations.map((g) => [
          h('code', {}, g.id),
          generationState(g.state),
          g.subject,
          formatTime(g.activatesAt),
          formatTime(g.notAfter),
          orDash(g.removeAt),
        ]),
      ),
    );
  };
  showGenerations(generations);
  const rotateCaStatus = h('div', { class: 'form-status' });
  const rotateCa = h('button', { type: 'button' }, 'Rotate CA now');
  rotateCa.addEventListener('click', () => void rotateCaNow());
  const rotateCaNow = async (): Promise<void> => {
    const confirmed = await confirmAction({
      title: 'Rotate the CA now?',
      details: [
        'A new root and intermediate enter the trust bundle now and start signing certificates after the pre-publication window ' +
          '(ca.prePublication, 24 hours by default), so verifiers that refresh the bundle hold them before they meet a certificate they signed. ' +
          'Until then the current CA signs.',
        'Certificates issued by the current CA stay valid until they expire: nothing is revoked, and the current CA stays in the trust bundle ' +
          'until everything it signed has expired. A service gets a certificate from the new CA when it next enrolls or renews after the new CA takes over.',
        'If a rotation is already pending, nothing is added. An imported CA (ca.import) cannot be rotated here: import its successor instead.',
      ],
      confirmLabel: 'Rotate CA now',
    });
    if (!confirmed) return;
    rotateCaStatus.replaceChildren();
    rotateCa.disabled = true;
    try {
      const answer = await api.rotateCa();
      const message = answer.created
        ? `CA generation ${answer.id} was created: it is in the trust bundle now and signs from ${formatTime(answer.activatesAt)}.`
        : `A rotation was already pending: generation ${answer.id} signs from ${formatTime(answer.activatesAt)}. No generation was added.`;
      await tellAfter(async () => showGenerations(await api.listCaGenerations()), rotateCaStatus, message);
    } catch (error) {
      rotateCaStatus.appendChild(notice('error', errorText(error)));
    } finally {
      rotateCa.disabled = false;
    }
  };

  const issued = rates.reduce((sum, point) => sum + point.issued, 0);
  const refused = rates.reduce((sum, point) => sum + point.refused, 0);
  const byCode = new Map<string, number>();
  for (const point of rates) for (const [code, count] of Object.entries(point.refusals)) byCode.set(code, (byCode.get(code) ?? 0) + count);
  const codes = [...byCode].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));

  append(
    view,
    h('h1', {}, 'System'),
    h('section', { 'aria-labelledby': 'signing-keys' }, h('h2', { id: 'signing-keys' }, 'Signing keys'), keysSection, h('p', {}, rotate), rotateStatus),
    h(
      'section',
      { 'aria-labelledby': 'ca-generations' },
      h('h2', { id: 'ca-generations' }, 'CA generations'),
      generationsSection,
      h('p', {}, rotateCa),
      rotateCaStatus,
    ),
    h('section', { 'aria-labelledby': 'storage' }, h('h2', { id: 'storage' }, 'Storage'), storageView(storage)),
    h(
      'section',
      { 'aria-labelledby': 'token-rates' },
      h('h2', { id: 'token-rates' }, 'Token rates'),
      h(
        'nav',
        { 'aria-label': 'Period', class: 'row-actions' },
        ...PERIODS.map((p) =>
          p.period === chosen.period ? h('strong', { 'aria-current': 'true' }, p.label) : h('a', { href: systemHref(p.period) }, p.label),
        ),
      ),
      h('p', {}, `${issued.toLocaleString('en')} tokens issued and ${refused.toLocaleString('en')} requests refused since ${formatTime(since)}.`),
      h('p', { class: 'legend', 'aria-hidden': 'true' }, h('span', { class: 'swatch issued' }), 'Issued', h('span', { class: 'swatch refused' }), 'Refused'),
      barChart({
        start: Date.parse(since),
        hours: chosen.hours,
        title: 'Tokens issued and requests refused',
        series: [
          { label: 'Issued', className: 'issued', points: rates.map((p) => ({ at: p.at, count: p.issued })) },
          { label: 'Refused', className: 'refused', points: rates.map((p) => ({ at: p.at, count: p.refused })) },
        ],
      }),
      h('h3', { id: 'refusals' }, 'Refusals by code'),
      codes.length === 0
        ? h('p', { class: 'empty' }, 'No request was refused in this period.')
        : simpleTable(
            `Refused requests by error code, ${chosen.label.toLowerCase()}`,
            ['Code', 'Refused'],
            codes.map(([code, count]) => [h('code', {}, code), count.toLocaleString('en')]),
          ),
    ),
  );
}

/**
 * Refreshes a table, then says what happened: the notice never stands beside the table as it was
 * before (and still appears when the refresh fails, whose error follows it).
 */
async function tellAfter(refresh: () => Promise<void>, status: HTMLElement, message: string): Promise<void> {
  try {
    await refresh();
  } finally {
    status.appendChild(notice('success', message));
    announce(message);
  }
}

function orDash(iso: string | null): string {
  return iso === null ? '–' : formatTime(iso);
}

function nextRotation(at: string | null, what: 'key' | 'generation'): HTMLElement {
  if (at === null) return h('p', {}, `No rotation is scheduled: a new ${what} comes only when one is asked for.`);
  const due = Date.parse(at) <= Date.now();
  return h('p', {}, 'Next rotation: ', h('strong', {}, formatTime(at)), due ? ' (due now: at the next check)' : ` (in ${until(Date.parse(at))})`, '.');
}

/** `about 4 years`, `30 days`, `5 hours`, `12 minutes`. */
function until(at: number): string {
  const minutes = Math.max(1, Math.round((at - Date.now()) / 60_000));
  const days = minutes / 1440;
  if (days >= 2 * 365) return `about ${Math.round(days / 365)} years`;
  const [value, unit] = days >= 2 ? [Math.round(days), 'day'] : minutes >= 120 ? [Math.round(minutes / 60), 'hour'] : [minutes, 'minute'];
  return `${value} ${unit}${value === 1 ? '' : 's'}`;
}

function keyState(state: SigningKey['state']): string {
  return { next: 'next (published, not signing yet)', active: 'active (signs)', retired: 'retired (published until removed)' }[state] ?? state;
}

function generationState(state: CaGeneration['state']): string {
  return { prepared: 'prepared (in the bundle, not signing yet)', active: 'active (signs)', old: 'old (in the bundle until it leaves)' }[state] ?? state;
}

function storageView(storage: StorageStatus): HTMLElement {
  const row = (term: string, ...details: Array<Node | string>): HTMLElement[] => [h('dt', {}, term), h('dd', {}, ...details)];
  return h(
    'dl',
    { class: 'facts' },
    ...row('Backend', storage.backend === 'postgres' ? 'PostgreSQL' : 'SQLite'),
    ...row('Database', h('code', {}, storage.location)),
    ...row(
      'Health',
      h(
        'span',
        { class: storage.answers ? 'state ok' : 'state bad' },
        storage.answers ? `Healthy: answered in ${storage.pingMs} ms` : 'Not answering: the ping got no answer within a second',
      ),
    ),
    ...row('Ready (/readyz)', storage.ready ? 'Yes' : `No: ${storage.problems.join('; ')}`),
    ...row('Checked', formatTime(storage.checkedAt)),
  );
}

function simpleTable(caption: string, headers: string[], rows: Array<Array<Node | string>>): HTMLElement {
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, ...headers.map((header) => h('th', { scope: 'col' }, header)))),
    h('tbody', {}, ...rows.map((cells) => h('tr', {}, ...cells.map((cell) => h('td', {}, cell))))),
  );
}
