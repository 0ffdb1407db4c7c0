// Sign-in with an admin credential (client id and secret). The secret is sent once to
// /oauth2/token and dropped once the token is obtained: sign-out needs only the token (session.ts).
// When the server has OpenID Connect sign-in for people (console.oidc), a button above the form
// starts it (oidc.ts).

import { append, field, h, notice } from '../dom.ts';
import { oidcConfig, startOidcSignIn } from '../oidc.ts';
import { clientCredentialsSignIn, SignInError, type Session } from '../session.ts';

export interface SignInOptions {
  onSignedIn(session: Session): void;
  /** Why the visitor is here (the session ended, they signed out). */
  message?: string | undefined;
  /** Why a sign-in failed (an OpenID Connect sign-in coming back refused). */
  error?: string | undefined;
}

export function renderSignIn(view: HTMLElement, { onSignedIn, message, error }: SignInOptions): void {
  const clientId = h('input', {
    name: 'clientId',
    autocomplete: 'username',
    required: true,
    spellcheck: 'false',
    autocapitalize: 'none',
    'data-autofocus': true,
  });
  const secret = h('input', { name: 'clientSecret', type: 'password', autocomplete: 'current-password', required: true });
  const domain = h('input', { name: 'domain', spellcheck: 'false', autocapitalize: 'none' });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const status = h('div', { class: 'form-status' });
  const form = h(
    'form',
    { 'aria-labelledby': 'sign-in-title', novalidate: true },
    field('Client id', clientId, 'The admin service’s client id, e.g. sys.auth.admin (the bootstrap admin’s, from bootstrap-admin.json).'),
    field('Client secret', secret),
    field(
      'Domain to administer (optional)',
      domain,
      'Leave empty to sign in as a system admin, or, when the client is not one, as the admin of its own domain.',
    ),
    h('p', {}, submit),
    status,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    status.replaceChildren();
    const missing = !clientId.value.trim() ? clientId : !secret.value ? secret : null;
    if (missing) {
      status.appendChild(notice('error', missing === clientId ? 'Enter the client id.' : 'Enter the client secret.'));
      missing.setAttribute('aria-invalid', 'true');
      missing.focus();
      return;
    }
    clientId.removeAttribute('aria-invalid');
    secret.removeAttribute('aria-invalid');
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    clientCredentialsSignIn
      .signIn({ clientId: clientId.value.trim(), clientSecret: secret.value, domain: domain.value.trim() })
      .then(
        (session) => {
          secret.value = '';
          onSignedIn(session);
        },
        (error: unknown) => {
          const text = error instanceof SignInError ? error.message : `Sign-in failed: ${(error as Error).message}. Is the server reachable?`;
          status.appendChild(notice('error', text));
          secret.setAttribute('aria-invalid', 'true');
          secret.select();
          secret.focus();
        },
      )
      .finally(() => {
        submit.disabled = false;
        submit.textContent = 'Sign in';
      });
  });
  // Filled in when the server answers that it has OpenID Connect sign-in.
  const people = h('section', { 'aria-labelledby': 'sign-in-people', hidden: true });
  // Shown with it, so the two ways in have a heading each.
  const credentialHeading = h('h2', { hidden: true }, 'With an admin credential');
  void oidcConfig().then((config) => {
    if (config === null) return;
    const status = h('div', { class: 'form-status' });
    if ('unavailable' in config) {
      append(people, h('h2', { id: 'sign-in-people' }, 'As a person'), notice('error', `Signing in as a person is not possible now: ${config.unavailable}`));
      people.hidden = false;
      credentialHeading.hidden = false;
      return;
    }
    const button = h('button', { type: 'button' }, 'Sign in with OpenID Connect');
    button.addEventListener('click', () => {
      button.disabled = true;
      button.textContent = 'Going to the sign-in page…';
      startOidcSignIn(config).catch((failure: unknown) => {
        status.replaceChildren(notice('error', `Sign-in could not start: ${(failure as Error).message}.`));
        button.disabled = false;
        button.textContent = 'Sign in with OpenID Connect';
      });
    });
    append(
      people,
      h('h2', { id: 'sign-in-people' }, 'As a person'),
      h('p', {}, `Sign in at ${new URL(config.issuer).host} with your own account; you get the admin roles your principal holds.`),
      h('p', {}, button),
      status,
    );
    people.hidden = false;
    credentialHeading.hidden = false;
  });
  append(
    view,
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    message ? notice('success', message) : null,
    error ? notice('error', error) : null,
    people,
    credentialHeading,
    h(
      'p',
      {},
      'Sign in with an admin credential. What you can see and change is what the admin API lets that credential do, ' +
        'and every change is audited under its name.',
    ),
    form,
    h('p', { class: 'hint' }, 'The session lasts as long as its access token and lives in this tab only: reloading or closing the tab signs you out.'),
  );
}
