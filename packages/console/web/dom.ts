// Plain DOM helpers: elements built with properties (never HTML strings, so data from the API is
// always text), a confirmation dialog on the native <dialog>, and a polite live region.

type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | number | boolean | null | undefined | EventListener>;

/** `h('button', { type: 'button', onclick: f }, 'Delete')`: `on…` are listeners, booleans toggle attributes. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

export function clear(element: Element): void {
  element.replaceChildren();
}

let ids = 0;
/** A fresh id for label/for and aria-describedby pairs. */
export function uid(prefix: string): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled input in a paragraph; `hint` becomes its description. */
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  input.id ||= uid('field');
  const wrapper = h('p', { class: 'field' }, h('label', { for: input.id }, label), input);
  if (hint) {
    const hintId = uid('hint');
    input.setAttribute('aria-describedby', hintId);
    append(wrapper, h('span', { class: 'hint', id: hintId }, hint));
  }
  return wrapper;
}

/** Says `message` to screen readers through the page's live region (index.html). */
export function announce(message: string): void {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh text node after a tick, so that the same message twice is announced twice.
  setTimeout(() => {
    region.textContent = message;
  }, 50);
}

/** An alert paragraph (role=alert) for an error, or a status one for a success. */
export function notice(kind: 'error' | 'success', message: string): HTMLElement {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
}

export interface ConfirmOptions {
  title: string;
  /** What will happen, one paragraph each; say exactly what is removed. */
  details: string[];
  confirmLabel: string;
}

/**
 * Asks before a change that cannot be undone, in a modal <dialog> (focus moves into it and stays
 * there; Escape cancels). Resolves true only for the confirm button. Focus goes back to the
 * element that had it.
 */
export function confirmAction({ title, details, confirmLabel }: ConfirmOptions): Promise<boolean> {
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const titleId = uid('dialog-title');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const confirm = h('button', { type: 'button', class: 'danger' }, confirmLabel);
  const dialog = h(
    'dialog',
    { 'aria-labelledby': titleId, class: 'confirm' },
    h('h2', { id: titleId }, title),
    ...details.map((text) => h('p', {}, text)),
    h('p', { class: 'actions' }, cancel, confirm),
  );
  document.body.appendChild(dialog);
  return new Promise((resolve) => {
    let answer = false;
    cancel.addEventListener('click', () => dialog.close());
    confirm.addEventListener('click', () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener?.isConnected) opener.focus();
      resolve(answer);
    });
    dialog.showModal();
    cancel.focus();
  });
}

/** `2026-12-04T20:33:22.717Z` → `2026-12-04 20:33 UTC`; null → `never`. */
export function formatTime(iso: string | null): string {
  if (iso === null) return 'never';
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}
