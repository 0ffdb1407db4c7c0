// What the pages share: a table that loads the API's pages one "Load more" at a time (cursor and
// nextCursor), an error view, and the message of an error.

import { ApiError, type Page } from '../api.ts';
import { announce, append, confirmAction, field, h, notice } from '../dom.ts';

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.status} ${error.code})`;
  return `The request failed: ${(error as Error).message}. Is the server reachable?`;
}

/** The page for something that could not be loaded (403, 404…), under its own heading. */
export function errorView(view: HTMLElement, title: string, error: unknown): void {
  const forbidden = error instanceof ApiError && error.status === 403;
  append(
    view,
    h('h1', {}, title),
    notice('error', forbidden ? `You may not see this: ${errorText(error)}` : errorText(error)),
    h('p', {}, h('a', { href: '#/domains' }, 'Back to the domains')),
  );
}

export interface Column<T> {
  header: string;
  cell(item: T): Node | string;
}

export interface PagedTableOptions<T> {
  caption: string;
  columns: Column<T>[];
  load(cursor: string | null): Promise<Page<T>>;
  /** Shown instead of the table when there is nothing. */
  empty: string;
  /** Which items to show (a search); all when absent. */
  filter?: (item: T) => boolean;
}

export interface PagedTable<T> {
  element: HTMLElement;
  /** Loads the first page again (after a change). */
  reload(): Promise<void>;
  /** Shows the loaded items again through the filter. */
  refresh(): void;
  loaded(): readonly T[];
  /** A line under the table, e.g. "Showing 3 of 12 loaded". */
  status: HTMLElement;
}

export function pagedTable<T>(options: PagedTableOptions<T>): PagedTable<T> {
  const element = h('div', { class: 'paged' });
  const status = h('p', { class: 'list-status', role: 'status' });
  const loadMore = h('button', { type: 'button', class: 'secondary' }, 'Load more');
  const tbody = h('tbody');
  const table = h(
    'table',
    {},
    h('caption', {}, options.caption),
    h('thead', {}, h('tr', {}, ...options.columns.map((column) => h('th', { scope: 'col' }, column.header)))),
    tbody,
  );
  const emptyLine = h('p', { class: 'empty' }, options.empty);
  const errorLine = h('div');
  let items: T[] = [];
  let cursor: string | null = null;

  const refresh = (): void => {
    const shown = options.filter ? items.filter(options.filter) : items;
    tbody.replaceChildren(...shown.map((item) => h('tr', {}, ...options.columns.map((column) => h('td', {}, column.cell(item))))));
    table.hidden = shown.length === 0;
    emptyLine.hidden = items.length !== 0;
    loadMore.hidden = cursor === null;
    const more = cursor === null ? '' : ' (more to load)';
    status.textContent = items.length === 0 ? '' : `Showing ${shown.length} of ${items.length} loaded${more}.`;
  };
  const loadPage = async (from: string | null): Promise<void> => {
    errorLine.replaceChildren();
    try {
      const page = await options.load(from);
      items = from === null ? page.items : [...items, ...page.items];
      cursor = page.nextCursor;
      refresh();
    } catch (error) {
      errorLine.replaceChildren(notice('error', errorText(error)));
      throw error;
    }
  };
  loadMore.addEventListener('click', () => {
    const before = items.length;
    loadPage(cursor).then(
      () => {
        announce(`Loaded ${items.length - before} more.`);
        // Focus the first new row's first link or cell, so the keyboard continues where the list grew.
        const row = tbody.rows[before];
        (row?.querySelector<HTMLElement>('a, button') ?? loadMore).focus();
      },
      () => undefined,
    );
  });
  append(element, table, emptyLine, status, h('p', {}, loadMore), errorLine);
  refresh();
  return { element, reload: () => loadPage(null), refresh, loaded: () => items, status };
}

/** A form that runs `action` on submit, shows its error in place, and stays usable. */
export function actionForm(label: string, fields: HTMLElement[], submitLabel: string, action: () => Promise<void>): HTMLFormElement {
  const status = h('div', { class: 'form-status' });
  const submit = h('button', { type: 'submit' }, submitLabel);
  const form = h('form', { 'aria-label': label, class: 'inline-form', novalidate: true }, ...fields, h('p', {}, submit), status);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    status.replaceChildren();
    submit.disabled = true;
    action()
      .then(
        () => undefined,
        (error: unknown) => {
          status.appendChild(notice('error', errorText(error)));
        },
      )
      .finally(() => {
        submit.disabled = false;
      });
  });
  return form;
}

/**
 * Shows a credential that the server returns once (a client secret, an API key, a join token) in
 * `box`, selected for copying, with a sentence saying it will not be shown again.
 */
export function shownOnce(box: HTMLElement, label: string, value: string, note: string): void {
  const input = h('input', { readonly: true, value, class: 'secret', spellcheck: 'false' });
  box.replaceChildren(h('div', { class: 'notice secret-notice', role: 'status' }, h('p', {}, note), field(label, input)));
  input.focus();
  input.select();
}

/** Asks before disabling a service, saying what disabling does and what it keeps. */
export function confirmDisable(principal: string): Promise<boolean> {
  return confirmAction({
    title: `Disable ${principal}?`,
    details: [
      `${principal} will get no more tokens or certificates, and the tokens it holds stop being accepted by introspection and the admin API.`,
      'Its credentials and role memberships are kept: enabling it again restores it.',
    ],
    confirmLabel: `Disable ${principal}`,
  });
}
