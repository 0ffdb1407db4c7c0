// One service and its credentials: its standing (status, description, allowed addresses, expiry:
// edit, disable, enable), its client secret (rotate, the new one shown once), registered public
// keys (add, remove), API keys (create, shown once; revoke), certificates issued to it (by
// status; revoke one or all) and join tokens (create, shown once; delete). Every removal asks
// first and says what goes with it.

import type { AdminApi, ApiKey, Certificate, CertificateStatus, JoinToken, PublicKey, Service } from '../api.ts';
import { announce, append, confirmAction, field, formatTime, h, notice } from '../dom.ts';
import { domainHref, timelineHref } from '../router.ts';
import type { PageContext } from '../main.ts';
import { actionForm, confirmDisable, errorText, errorView, pagedTable, type PagedTable, shownOnce } from './common.ts';

type Report = (kind: 'success' | 'error', message: string) => void;

const REVOCATION_REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'];

export async function renderService({ api, view, crumbs }: PageContext, domain: string, name: string, limit: number): Promise<void> {
  const principal = `${domain}.${name}`;
  crumbs([{ label: domain, href: domainHref(domain) }, { label: principal }]);
  let service: Service;
  try {
    service = await api.getService(domain, name);
  } catch (error) {
    errorView(view, `Service ${principal}`, error);
    return;
  }
  const outcome = h('div', { class: 'outcome' });
  const report: Report = (kind, message) => {
    outcome.replaceChildren(notice(kind, message));
    if (kind === 'success') announce(message);
  };
  const facts = h('dl', { class: 'facts' });
  const showFacts = (): void => {
    facts.replaceChildren(
      h('dt', {}, 'Status'),
      h('dd', {}, service.status === 'ACTIVE' ? 'active' : 'disabled'),
      h('dt', {}, 'Client id'),
      h('dd', {}, service.clientId),
      h('dt', {}, 'Description'),
      h('dd', {}, service.description ?? 'none'),
      h('dt', {}, 'Allowed addresses'),
      h('dd', {}, service.allowedIps.length === 0 ? 'any' : service.allowedIps.join(', ')),
      h('dt', {}, 'Expires'),
      h('dd', {}, formatTime(service.expiresAt)),
      h('dt', {}, 'Created'),
      h('dd', {}, formatTime(service.createdAt)),
    );
  };
  showFacts();
  const changed = (next: Service, message: string): void => {
    service = next;
    showFacts();
    report('success', message);
  };

  const sections = await Promise.all([
    keysSection(api, service, limit, report),
    apiKeysSection(api, service, limit, report),
    certificatesSection(api, service, limit, report),
    joinTokensSection(api, service, limit, report),
  ]).catch((error: unknown) => {
    errorView(view, `Service ${principal}`, error);
    return null;
  });
  if (sections === null) return;
  append(
    view,
    h('h1', {}, `Service ${principal}`),
    facts,
    h('p', {}, h('a', { href: timelineHref(domain, principal) }, `Changes to ${principal}`), ': its credentials and standing over time.'),
    outcome,
    h(
      'section',
      { 'aria-labelledby': 'standing' },
      h('h2', { id: 'standing' }, 'Standing'),
      standingForms(api, () => service, changed, report),
    ),
    h('section', { 'aria-labelledby': 'secret' }, h('h2', { id: 'secret' }, 'Client secret'), secretForm(api, service, report)),
    ...sections,
  );
}

function standingForms(api: AdminApi, current: () => Service, changed: (next: Service, message: string) => void, report: Report): HTMLElement {
  const service = current();
  const description = h('input', { name: 'description', value: service.description ?? '' });
  const allowed = h('input', { name: 'allowedIps', value: service.allowedIps.join(', '), spellcheck: 'false' });
  const expires = h('input', { name: 'expiresAt', type: 'datetime-local', value: service.expiresAt === null ? '' : service.expiresAt.slice(0, 16) });
  const edit = actionForm(
    'Change the service',
    [
      field('Description', description),
      field('Allowed addresses (optional)', allowed, 'CIDR blocks, comma-separated (10.0.0.0/8, 2001:db8::/32); empty allows every address.'),
      field('Expires (UTC, optional)', expires, 'Empty: never. After it the service gets no tokens or certificates.'),
    ],
    'Save changes',
    async () => {
      const ips = allowed.value
        .split(',')
        .map((ip) => ip.trim())
        .filter((ip) => ip !== '');
      const next = await api.updateService(service.domain, service.name, {
        description: description.value.trim() || null,
        allowedIps: ips,
        expiresAt: expires.value === '' ? null : `${expires.value}:00Z`,
      });
      changed(next, `${next.principal} is saved.`);
    },
  );
  const toggle = h('button', { type: 'button', class: 'secondary' });
  const label = (): void => {
    toggle.textContent = current().status === 'ACTIVE' ? 'Disable' : 'Enable';
  };
  label();
  toggle.addEventListener('click', () => {
    void (async () => {
      const now = current();
      const disabling = now.status === 'ACTIVE';
      if (disabling && !(await confirmDisable(now.principal))) return;
      try {
        const next = await api.setServiceStatus(now.domain, now.name, disabling ? 'DISABLED' : 'ACTIVE');
        changed(next, `${next.principal} is ${disabling ? 'disabled' : 'enabled'}.`);
        label();
      } catch (error) {
        report('error', `Could not ${disabling ? 'disable' : 'enable'} ${now.principal}: ${errorText(error)}`);
      }
    })();
  });
  return h('div', {}, edit, h('p', {}, toggle));
}

function secretForm(api: AdminApi, service: Service, report: Report): HTMLElement {
  const grace = h(
    'select',
    { name: 'graceSeconds' },
    ...[
      ['0', 'at once'],
      ['3600', 'after an hour'],
      ['86400', 'after a day'],
      ['604800', 'after a week'],
    ].map(([value, text]) => h('option', { value: value!, selected: value === '3600' }, text!)),
  );
  const box = h('div');
  const form = actionForm('Rotate the client secret', [field('Older secrets stop working', grace)], 'Make a new secret', async () => {
    if (grace.value === '0') {
      const ok = await confirmAction({
        title: `End ${service.principal}'s current secrets now?`,
        details: ['Every caller still using an older secret is refused from now on, until it has the new one.'],
        confirmLabel: 'Make a new secret and end the old ones',
      });
      if (!ok) return;
    }
    const made = await api.rotateSecret(service.domain, service.name, Number(grace.value));
    const until = made.previousSecretsExpireAt === null ? 'now' : formatTime(made.previousSecretsExpireAt);
    shownOnce(
      box,
      `New client secret of ${service.principal}`,
      made.clientSecret,
      `The new secret is shown this once: copy it now. Older secrets work until ${until}.`,
    );
    report('success', `A new client secret of ${service.principal} was made.`);
  });
  return h(
    'div',
    {},
    h('p', {}, 'A new secret works at once; the older ones keep working for the grace period, so callers can switch without refusals.'),
    form,
    box,
  );
}

async function keysSection(api: AdminApi, service: Service, limit: number, report: Report): Promise<HTMLElement> {
  const { domain, name, principal } = service;
  const table: PagedTable<PublicKey> = pagedTable<PublicKey>({
    caption: `Public keys registered on ${principal}`,
    columns: [
      { header: 'Key id', cell: (key) => key.kid },
      { header: 'Added', cell: (key) => formatTime(key.createdAt) },
      {
        header: 'Actions',
        cell: (key) =>
          removeButton(
            `Remove key ${key.kid}`,
            async () => {
              const ok = await confirmAction({
                title: `Remove key ${key.kid} of ${principal}?`,
                details: [
                  `Every token of ${principal} issued until now ends, whatever it authenticated with, ` +
                    'and the certificates this key proved (and their renewals) are revoked.',
                  `Callers signing with this key (private_key_jwt, self-signed mTLS) are refused from now on.`,
                ],
                confirmLabel: `Remove ${key.kid}`,
              });
              if (!ok) return;
              await api.deleteKey(domain, name, key.kid);
              await table.reload();
              report('success', `Key ${key.kid} was removed from ${principal}.`);
            },
            report,
          ),
      },
    ],
    load: (cursor) => api.listKeys(domain, name, cursor, limit),
    empty: 'No public keys registered.',
  });
  await table.reload();
  const kid = h('input', { name: 'kid', required: true, spellcheck: 'false', autocapitalize: 'none' });
  const pem = h('textarea', { name: 'pem', required: true, rows: 6, spellcheck: 'false', class: 'pem' });
  const form = actionForm(
    'Register a public key',
    [field('Key id', kid, 'Letters, digits, dot, dash and underscore; the kid its JWTs name.'), field('Public key or certificate (PEM)', pem)],
    'Register key',
    async () => {
      const answer = await api.putKey(domain, name, kid.value.trim(), pem.value.trim());
      kid.value = '';
      pem.value = '';
      await table.reload();
      report('success', `Key ${answer.kid} is ${answer.created ? 'registered on' : 'replaced on'} ${principal}.`);
    },
  );
  return h('section', { 'aria-labelledby': 'keys' }, h('h2', { id: 'keys' }, 'Public keys'), table.element, h('h3', {}, 'Register a key'), form);
}

async function apiKeysSection(api: AdminApi, service: Service, limit: number, report: Report): Promise<HTMLElement> {
  const { domain, name, principal } = service;
  const table: PagedTable<ApiKey> = pagedTable<ApiKey>({
    caption: `API keys of ${principal}, newest first`,
    columns: [
      { header: 'Id', cell: (key) => key.id },
      { header: 'For', cell: (key) => key.audience },
      { header: 'Description', cell: (key) => key.description ?? '' },
      { header: 'Expires', cell: (key) => formatTime(key.expiresAt) },
      { header: 'State', cell: (key) => (key.revokedAt === null ? 'active' : `revoked ${formatTime(key.revokedAt)}`) },
      {
        header: 'Actions',
        cell: (key) =>
          key.revokedAt !== null
            ? ''
            : removeButton(
                `Revoke API key ${key.id}`,
                async () => {
                  const ok = await confirmAction({
                    title: `Revoke API key ${key.id}?`,
                    details: [`Callers presenting it to ${key.audience} are refused from now on. It cannot be restored.`],
                    confirmLabel: `Revoke ${key.id}`,
                  });
                  if (!ok) return;
                  await api.revokeApiKey(domain, name, key.id);
                  await table.reload();
                  report('success', `API key ${key.id} is revoked.`);
                },
                report,
                'Revoke',
              ),
      },
    ],
    load: (cursor) => api.listApiKeys(domain, name, cursor, limit),
    empty: 'No API keys.',
  });
  await table.reload();
  const audience = h('input', { name: 'audience', required: true, spellcheck: 'false', autocapitalize: 'none' });
  const description = h('input', { name: 'description' });
  const expires = h('input', { name: 'expiresAt', type: 'datetime-local' });
  const box = h('div');
  const form = actionForm(
    'Create an API key',
    [
      field('For domain', audience, `The domain whose services accept it; ${principal} must hold a role there.`),
      field('Description (optional)', description),
      field('Expires (UTC, optional)', expires),
    ],
    'Create API key',
    async () => {
      const made = await api.createApiKey(domain, name, {
        audience: audience.value.trim(),
        ...(description.value.trim() && { description: description.value.trim() }),
        ...(expires.value && { expiresAt: `${expires.value}:00Z` }),
      });
      audience.value = '';
      description.value = '';
      expires.value = '';
      await table.reload();
      shownOnce(box, `API key ${made.id}`, made.apiKey, 'The API key is shown this once: copy it now. Only its hash is stored.');
      report('success', `API key ${made.id} for ${made.audience} was made.`);
    },
  );
  return h('section', { 'aria-labelledby': 'api-keys' }, h('h2', { id: 'api-keys' }, 'API keys'), table.element, h('h3', {}, 'Create an API key'), form, box);
}

async function certificatesSection(api: AdminApi, service: Service, limit: number, report: Report): Promise<HTMLElement> {
  const { domain, name, principal } = service;
  let status: CertificateStatus = 'active';
  const reason = h('select', { name: 'reason' }, ...REVOCATION_REASONS.map((value) => h('option', { value }, value)));
  const table: PagedTable<Certificate> = pagedTable<Certificate>({
    caption: `Certificates issued to ${principal}, newest first`,
    columns: [
      { header: 'Serial', cell: (c) => h('code', {}, c.serial) },
      { header: 'Issued', cell: (c) => formatTime(c.issuedAt) },
      { header: 'Valid until', cell: (c) => formatTime(c.notAfter) },
      {
        header: 'State',
        cell: (c) => (c.revokedAt === null ? (Date.parse(c.notAfter) <= Date.now() ? 'expired' : 'active') : `revoked (${c.revocationReason})`),
      },
      {
        header: 'Actions',
        cell: (c) =>
          c.revokedAt !== null || Date.parse(c.notAfter) <= Date.now()
            ? ''
            : removeButton(
                `Revoke certificate ${c.serial}`,
                async () => {
                  const ok = await confirmAction({
                    title: `Revoke certificate ${c.serial.slice(0, 12)}…?`,
                    details: [
                      `The certificate and every certificate renewed from it are revoked (reason ${reason.value}), published in the CRL, ` +
                        'and the tokens bound to them stop being accepted.',
                    ],
                    confirmLabel: 'Revoke certificate',
                  });
                  if (!ok) return;
                  const answer = await api.revokeCertificate(c.serial, reason.value);
                  await table.reload();
                  report(
                    'success',
                    `Certificate ${c.serial} is revoked${answer.descendantsRevoked > 0 ? `, with ${answer.descendantsRevoked} renewed from it` : ''}.`,
                  );
                },
                report,
                'Revoke',
              ),
      },
    ],
    load: (cursor) => api.listCertificates(domain, name, status, cursor, limit),
    empty: 'No certificates in this state.',
  });
  await table.reload();
  const choose = h('select', { name: 'status' }, ...(['active', 'revoked', 'expired'] as const).map((value) => h('option', { value }, value)));
  choose.addEventListener('change', () => {
    status = choose.value as CertificateStatus;
    table.reload().catch((error: unknown) => report('error', errorText(error)));
  });
  const revokeAll = h('button', { type: 'button', class: 'danger' }, 'Revoke all its certificates');
  revokeAll.addEventListener('click', () => {
    void (async () => {
      const ok = await confirmAction({
        title: `Revoke every certificate of ${principal}?`,
        details: [`Every unexpired certificate issued to ${principal} is revoked (reason ${reason.value}), and the tokens bound to them stop being accepted.`],
        confirmLabel: 'Revoke all',
      });
      if (!ok) return;
      try {
        const answer = await api.revokeAllCertificates(domain, name, reason.value);
        await table.reload();
        report('success', `${answer.revoked} certificate${answer.revoked === 1 ? '' : 's'} of ${principal} revoked.`);
      } catch (error) {
        report('error', `Could not revoke: ${errorText(error)}`);
      }
    })();
  });
  return h(
    'section',
    { 'aria-labelledby': 'certificates' },
    h('h2', { id: 'certificates' }, 'Certificates'),
    h('div', { class: 'row-actions' }, field('Show', choose), field('Reason for revoking', reason)),
    table.element,
    h('p', {}, revokeAll),
  );
}

async function joinTokensSection(api: AdminApi, service: Service, limit: number, report: Report): Promise<HTMLElement> {
  const { principal } = service;
  const table: PagedTable<JoinToken> = pagedTable<JoinToken>({
    caption: `Unused join tokens of ${principal}`,
    columns: [
      { header: 'Id', cell: (token) => token.id },
      { header: 'Made', cell: (token) => formatTime(token.createdAt) },
      { header: 'Expires', cell: (token) => formatTime(token.expiresAt) },
      {
        header: 'Actions',
        cell: (token) =>
          removeButton(
            `Delete join token ${token.id}`,
            async () => {
              const ok = await confirmAction({
                title: `Delete join token ${token.id}?`,
                details: [`Whoever holds it can no longer enroll as ${principal} with it.`],
                confirmLabel: `Delete ${token.id}`,
              });
              if (!ok) return;
              await api.deleteJoinToken(token.id);
              await table.reload();
              report('success', `Join token ${token.id} is deleted.`);
            },
            report,
          ),
      },
    ],
    load: (cursor) => api.listJoinTokens(principal, cursor, limit),
    empty: 'No unused join tokens.',
  });
  await table.reload();
  const ttl = h(
    'select',
    { name: 'ttlSeconds' },
    ...[
      ['900', '15 minutes'],
      ['3600', 'an hour'],
      ['86400', 'a day'],
    ].map(([value, text]) => h('option', { value: value!, selected: value === '900' }, text!)),
  );
  const box = h('div');
  const form = actionForm('Create a join token', [field('Valid for', ttl)], 'Create join token', async () => {
    const made = await api.createJoinToken(principal, Number(ttl.value));
    await table.reload();
    shownOnce(
      box,
      `Join token ${made.id}`,
      made.token,
      `The join token is shown this once: copy it now. It enrolls ${principal} once, until ${formatTime(made.expiresAt)}.`,
    );
    report('success', `Join token ${made.id} for ${principal} was made.`);
  });
  return h(
    'section',
    { 'aria-labelledby': 'join-tokens' },
    h('h2', { id: 'join-tokens' }, 'Join tokens'),
    h('p', {}, `A join token lets a new instance of ${principal} get its first certificate (EST or the CA API) without another credential.`),
    table.element,
    form,
    box,
  );
}

/** A danger button labelled for screen readers; `act` asks for confirmation itself; its failure is reported. */
function removeButton(ariaLabel: string, act: () => Promise<void>, report: Report, text = 'Remove'): HTMLElement {
  const button = h('button', { type: 'button', class: 'danger', 'aria-label': ariaLabel }, text);
  button.addEventListener('click', () => {
    act().catch((error: unknown) => report('error', `${ariaLabel} failed: ${errorText(error)}`));
  });
  return button;
}
