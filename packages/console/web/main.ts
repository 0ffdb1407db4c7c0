// The console's shell: the session bar, the breadcrumbs, and one page at a time in <main>,
// chosen by the hash. After each navigation focus moves to the page's heading, so keyboard and
// screen-reader users start where the new content starts.

import { AdminApi, ApiError } from './api.ts';
import { announce, append, clear, h, notice } from './dom.ts';
import { parseRoute, type Route } from './router.ts';
import { oidcReturn } from './oidc.ts';
import { SignInError, type Session } from './session.ts';
import { renderSignIn } from './pages/sign-in.ts';
import { renderDomains } from './pages/domains.ts';
import { renderDomain } from './pages/domain.ts';
import { renderRole } from './pages/role.ts';
import { renderCallers } from './pages/callers.ts';
import { renderTimeline } from './pages/timeline.ts';
import { renderSiteNav, renderSystem } from './pages/system.ts';
import { renderService } from './pages/service.ts';
import { renderReviews } from './pages/reviews.ts';
import { renderApprovals } from './pages/approvals.ts';

export interface PageContext {
  api: AdminApi;
  session: Session;
  /** Where the page puts its content (not yet in the document while it loads). */
  view: HTMLElement;
  /** Sets the breadcrumbs after "Domains". */
  crumbs(trail: Array<{ label: string; href?: string }>): void;
}

let session: Session | null = null;
let api: AdminApi | null = null;
let expiryTimer: ReturnType<typeof setInterval> | undefined;
/** Each navigation's number: a page that finishes loading after the next navigation is dropped. */
let navigation = 0;
/** Where to go after sign-in when a signed-out visitor asked for a page. */
let afterSignIn = '#/domains';

const main = (): HTMLElement => document.getElementById('main')!;

function startSession(started: Session): void {
  session = started;
  api = new AdminApi({
    token: started.token,
    onUnauthorized: (error) => void endSession(`The server no longer accepts this session (${explainUnauthorized(error)}). Sign in again.`),
  });
  renderSessionBar();
  expiryTimer = setInterval(tick, 1000);
  const target = afterSignIn;
  afterSignIn = '#/domains';
  if (location.hash === target) void render();
  else location.hash = target;
}

function explainUnauthorized(error: ApiError): string {
  return error.message;
}

/** Ends the session: revokes the token when asked to, forgets it, and shows the sign-in form with `message`. */
/**
 * Forgets the session and shows the sign-in page at once: nothing of the signed-in pages (a secret
 * shown once among them) stays on screen while the server is asked anything. With `revoke`
 * (sign-out), the token is then withdrawn at the server, and the page says whether it was.
 */
async function endSession(message: string, revoke = false): Promise<void> {
  const ending = session;
  if (!ending) return;
  session = null;
  api = null;
  clearInterval(expiryTimer);
  renderSessionBar();
  document.getElementById('announcer')?.replaceChildren();
  if (location.hash !== '#/sign-in') history.replaceState(null, '', '#/sign-in');
  await render(revoke ? 'You signed out. Revoking the session token at the server…' : message);
  if (!revoke) return;
  const outcome = await ending.revoke().then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  // The sign-in page may have been left (or a new session started) meanwhile: say it only where it was asked.
  const said = document.querySelector<HTMLElement>('#main .notice.success');
  if (session !== null || said === null) return;
  if (outcome.ok) {
    said.textContent = message;
    return;
  }
  const why = outcome.error instanceof ApiError ? `${outcome.error.status} ${outcome.error.code}` : 'no answer';
  const until = new Date(ending.expiresAt).toISOString().slice(11, 16);
  said.replaceWith(
    notice(
      'error',
      `You signed out here, but the server did not confirm revoking the session token (${why}): it stays valid until ${until} UTC. ` +
        'Sign in and out again to revoke it, or ask an admin to revoke it.',
    ),
  );
}

function tick(): void {
  if (!session) return;
  const left = session.expiresAt - Date.now();
  if (left <= 0) {
    void endSession(`Your session ended at ${new Date(session.expiresAt).toISOString().slice(11, 19)} UTC, when its token expired. Sign in again.`);
    return;
  }
  const remaining = document.getElementById('session-remaining');
  if (remaining) remaining.textContent = formatLeft(left);
  if (left <= 60_000 && left > 59_000) announce('Your session ends in one minute.');
}

/** `0:42`, `59:59`, `1:00:00`: what is left of the session. */
function formatLeft(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  const two = (n: number): string => String(n).padStart(2, '0');
  const [hours, minutes] = [Math.floor(seconds / 3600), Math.floor((seconds % 3600) / 60)];
  return hours > 0 ? `${hours}:${two(minutes)}:${two(seconds % 60)}` : `${minutes}:${two(seconds % 60)}`;
}

function renderSessionBar(): void {
  const bar = document.getElementById('session-bar')!;
  clear(bar);
  if (!session) return;
  const standing = session.standing.kind === 'system' ? 'system admin' : `admin of ${session.standing.domain}`;
  const signOut = h(
    'button',
    { type: 'button', class: 'secondary', onclick: () => void endSession('You signed out; the session token was revoked.', true) },
    'Sign out',
  );
  append(
    bar,
    h(
      'p',
      { class: 'who' },
      'Signed in as ',
      h('strong', {}, session.principal),
      ` (${standing}). Session ends in `,
      h('span', { id: 'session-remaining' }, formatLeft(session.expiresAt - Date.now())),
      '.',
    ),
    signOut,
  );
}

function setCrumbs(trail: Array<{ label: string; href?: string }>): void {
  const nav = document.getElementById('breadcrumbs')!;
  clear(nav);
  if (!session) return;
  const items = [{ label: 'Domains', href: '#/domains' }, ...trail];
  const list = h('ol');
  items.forEach((item, index) => {
    const last = index === items.length - 1;
    append(list, h('li', {}, last || !item.href ? h('span', { 'aria-current': last ? 'page' : false }, item.label) : h('a', { href: item.href }, item.label)));
  });
  nav.appendChild(list);
}

async function render(message?: string, error?: string): Promise<void> {
  const current = ++navigation;
  const route: Route = parseRoute(location.hash);
  const view = h('div', { class: 'page' });
  renderSiteNav(session, route.page);
  if (!session || !api || route.page === 'sign-in') {
    if (session && route.page === 'sign-in') {
      location.hash = '#/domains';
      return;
    }
    if (route.page !== 'sign-in' && route.page !== 'not-found') afterSignIn = location.hash || '#/domains';
    setCrumbs([]);
    renderSignIn(view, { onSignedIn: startSession, message, error });
  } else {
    main().setAttribute('aria-busy', 'true');
    const context: PageContext = { api, session, view, crumbs: setCrumbs };
    if (route.page === 'domains') await renderDomains(context, route.limit);
    else if (route.page === 'domain') await renderDomain(context, route.domain, route.limit);
    else if (route.page === 'role') await renderRole(context, route.domain, route.role, route.limit);
    else if (route.page === 'callers') await renderCallers(context, route.domain, route.period, route.limit);
    else if (route.page === 'service') await renderService(context, route.domain, route.service, route.limit);
    else if (route.page === 'timeline') await renderTimeline(context, route.domain, route.target, route.limit);
    else if (route.page === 'reviews') await renderReviews(context, route.days, route.limit);
    else if (route.page === 'approvals') await renderApprovals(context, route.domain, route.limit);
    else if (route.page === 'system') await renderSystem(context, route.period);
    else {
      setCrumbs([{ label: 'Not found' }]);
      append(view, h('h1', {}, 'Not found'), h('p', {}, `The console has no page at ${route.path}. `, h('a', { href: '#/domains' }, 'Go to the domains.')));
    }
  }
  if (current !== navigation) return;
  main().removeAttribute('aria-busy');
  main().replaceChildren(view);
  const heading = view.querySelector('h1');
  document.title = `${heading?.textContent ?? 'Tessera'} · Tessera console`;
  const focusTarget = view.querySelector<HTMLElement>('[data-autofocus]') ?? heading;
  if (focusTarget) {
    if (!focusTarget.hasAttribute('data-autofocus')) focusTarget.setAttribute('tabindex', '-1');
    focusTarget.focus();
  }
}

document.getElementById('skip-link')?.addEventListener('click', (event) => {
  event.preventDefault();
  main().focus();
});
window.addEventListener('hashchange', () => void render());
// A page kept in the back/forward cache would come back signed in: forget the session when the
// browser keeps the page, so Back shows the sign-in form instead.
window.addEventListener('pagehide', (event: PageTransitionEvent) => {
  if (event.persisted) void endSession('You left the console, so its session was forgotten. Sign in again.');
});
// Back from the OpenID provider: finish that sign-in first (oidc.ts).
const returning = oidcReturn();
if (returning === null) void render();
else {
  returning.then(startSession, (failure: unknown) => {
    const text = failure instanceof SignInError ? failure.message : `Sign-in failed: ${(failure as Error).message}. Is the server reachable?`;
    void render(undefined, text);
  });
}
