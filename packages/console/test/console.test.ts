// The console in a real browser against a real server, signed in as the bootstrap admin: create a
// domain, a service and a role with a member through the pages and find them through the admin
// API; disable, enable and delete with confirmations; actors; a wrong secret; sign-out revoking
// the token; keyboard-only use. Every page visited is checked for its CSP, console errors, CSP
// violations, requests leaving 127.0.0.1, and serious or critical axe-core violations, and
// photographed into the evidence folder.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { loadConsoleAssets } from '../../server/src/console/index.ts';
import { axeViolations, evidenceDir, findChromium, launchChromium, signIn, watchedPage, type Watched } from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

/** Checks the page as it is now (axe) and photographs it as `<name>.png`. */
async function visit(page: Page, name: string): Promise<void> {
  assert.deepEqual(await axeViolations(page), [], `no serious or critical accessibility violations on ${name}`);
  await page.screenshot({ path: join(await evidenceDir(), `${name}.png`), fullPage: true });
}

describe('the console, signed in as the bootstrap admin', { skip, timeout: 120_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  let w: Watched;
  /** Signs in as the bootstrap admin from a fresh page; answers the session token the page got. */
  const signInAsAdmin = async (page: Page): Promise<string> => {
    const tokenAnswer = page.waitForResponse((response) => response.url().endsWith('/oauth2/token'));
    await page.goto(`${t.url}/console/`);
    await signIn(page, t.admin.clientId, t.admin.clientSecret);
    const token = ((await (await tokenAnswer).json()) as { access_token: string }).access_token;
    await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
    return token;
  };

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('loads the sign-in form quickly, from the server alone (measured)', async (tc: TestContext) => {
    w = await watchedPage(browser);
    try {
      await w.page.goto(`${t.url}/console/`);
      const ready = await w.page.waitForFunction('document.querySelector(\'form[aria-labelledby="sign-in-title"]\') && performance.now()');
      const firstLoadMs = Math.round((await ready.jsonValue()) as number);
      // The focus starts in the first field.
      assert.equal(await w.page.locator(':focus').getAttribute('name'), 'clientId');
      assert.equal(await w.page.title(), 'Sign in · Tessera console');
      await visit(w.page, 'sign-in');
      const assets = loadConsoleAssets();
      const bodies = [assets.entry.body, ...[...assets.files.values()].map((file) => file.body)];
      const bytes = bodies.reduce((sum, body) => sum + body.length, 0);
      const gzip = bodies.reduce((sum, body) => sum + gzipSync(body, { level: 9 }).length, 0);
      const metrics = { files: bodies.length, bytes, gzipBytesIfCompressed: gzip, firstLoadMs, compressedByServer: false };
      tc.diagnostic(
        `console assets: ${bodies.length} files, ${bytes} bytes (${gzip} gzipped, not compressed by the server); ` +
          `sign-in form ready ${firstLoadMs} ms after navigation start`,
      );
      await writeFile(join(await evidenceDir(), 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
      assert.ok(firstLoadMs < 10_000, `sign-in form ready within 10 s on loopback, even on a busy machine (${firstLoadMs} ms)`);
      w.assertClean();
    } finally {
      await w.close();
    }
  });

  it('says clearly when the secret is wrong, and signs in nobody', async () => {
    w = await watchedPage(browser);
    try {
      w.expectFailedLoad(401, '/oauth2/token');
      await w.page.goto(`${t.url}/console/`);
      await signIn(w.page, t.admin.clientId, 'not-the-secret');
      const alert = w.page.getByRole('alert');
      await alert.waitFor();
      assert.equal(await alert.textContent(), 'The client id or secret is wrong (AUTH_101). Check both and try again.');
      assert.equal(await w.page.getByLabel('Client secret').getAttribute('aria-invalid'), 'true');
      assert.equal(await w.page.getByRole('button', { name: 'Sign out' }).count(), 0);
      await visit(w.page, 'sign-in-wrong-secret');
      // An empty field is caught before any request.
      await w.page.getByLabel('Client secret').fill('');
      await w.page.getByRole('button', { name: 'Sign in' }).click();
      await w.page.getByRole('alert').filter({ hasText: 'Enter the client secret.' }).waitFor();
      assert.equal(w.requests.filter((url) => url.endsWith('/oauth2/token')).length, 1);
      w.assertClean();
    } finally {
      await w.close();
    }
  });

  it('creates a domain, a service and a role with a member, which the admin API then has', async () => {
    w = await watchedPage(browser);
    const page = w.page;
    try {
      await page.goto(`${t.url}/console/`);
      await signIn(page, t.admin.clientId, t.admin.clientSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      assert.match(
        (await page.locator('#session-bar').textContent()) ?? '',
        /Signed in as sys\.auth\.admin \(system admin\)\. Session ends in (1:00:00|59:[0-5]\d)\./,
      );
      assert.equal(await page.locator(':focus').textContent(), 'Domains', "focus on the new page's heading");

      await page.getByLabel('Name', { exact: true }).fill('payments');
      await page.getByLabel('Description (optional)').fill('Card payments');
      await page.getByRole('button', { name: 'Create domain' }).click();
      await page.getByRole('status').filter({ hasText: 'Domain payments created.' }).waitFor();
      await page.getByRole('link', { name: 'payments' }).waitFor();
      await visit(page, 'domains');

      await page.getByRole('link', { name: 'payments' }).click();
      await page.getByRole('heading', { level: 1, name: 'Domain payments' }).waitFor();
      await page.getByLabel('Service name').fill('api');
      await page.getByRole('button', { name: 'Create service' }).click();
      const secretField = page.getByLabel('Client secret of payments.api');
      await secretField.waitFor();
      const secret = await secretField.inputValue();
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/, 'the new secret, shown once');
      await page.getByRole('cell', { name: 'payments.api', exact: true }).waitFor();
      // The secret works: the new service gets a token with it.
      const token = await t.token('payments.api', secret, { grant_type: 'client_credentials', scope: 'payments:domain' });
      assert.equal(token.status, 403, 'authenticated (it holds no role yet, so access_denied, not invalid_client)');

      await page.getByLabel('Role name').fill('readers');
      await page.getByRole('button', { name: 'Create role' }).click();
      await page.getByRole('link', { name: 'readers' }).waitFor();
      await visit(page, 'domain');

      await page.getByRole('link', { name: 'readers' }).click();
      await page.getByRole('heading', { level: 1, name: 'Role payments:role.readers' }).waitFor();
      await page.getByLabel('Principal', { exact: true }).fill('payments.api');
      await page.getByLabel('Expires (UTC, optional)').fill('2031-01-02T03:04');
      await page.getByRole('button', { name: 'Add member' }).click();
      await page.getByRole('status').filter({ hasText: 'payments.api is now a member of payments:role.readers.' }).waitFor();
      await page.getByRole('cell', { name: '2031-01-02 03:04 UTC' }).waitFor();
      await page.getByLabel('Actor principal').fill('gw.edge');
      await page.getByRole('button', { name: 'Add actor' }).click();
      await page.getByRole('listitem').filter({ hasText: 'gw.edge' }).waitFor();
      await visit(page, 'role');

      const role = await t.admin$('GET', '/domains/payments/roles/readers');
      assert.equal(role.status, 200);
      assert.deepEqual(role.json.members, [{ principal: 'payments.api', expiresAt: '2031-01-02T03:04:00.000Z', reviewBy: null }]);
      assert.deepEqual(role.json.actors, ['gw.edge']);
      const domain = await t.admin$('GET', '/domains/payments');
      assert.equal(domain.json.description, 'Card payments');
      const service = await t.admin$('GET', '/domains/payments/services/api');
      assert.equal(service.json.status, 'ACTIVE');
      const granted = await t.token('payments.api', secret, { grant_type: 'client_credentials', scope: 'payments:domain' });
      assert.equal(granted.json.scope, 'payments:role.readers', 'the membership made in the console grants the role');

      // Removing the member and the actor, each after a confirmation naming what goes.
      await page.getByRole('button', { name: 'Remove payments.api' }).click();
      const dialog = page.getByRole('dialog', { name: 'Remove payments.api from payments:role.readers?' });
      await dialog.waitFor();
      assert.match((await dialog.textContent()) ?? '', /payments\.api loses payments:role\.readers at once/);
      await visit(page, 'role-confirm-remove');
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      assert.equal((await t.admin$('GET', '/domains/payments/roles/readers')).json.members.length, 1, 'cancel changes nothing');
      await page.getByRole('button', { name: 'Remove payments.api' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Remove payments.api' }).click();
      await page.getByText('No members: nobody holds this role.').waitFor();
      await page.getByRole('button', { name: 'Remove actor gw.edge' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Remove gw.edge' }).click();
      await page.getByText('No actors: nobody may get this role’s tokens for a member.').waitFor();
      const emptied = await t.admin$('GET', '/domains/payments/roles/readers');
      assert.deepEqual([emptied.json.members, emptied.json.actors], [[], []]);

      const audit = await t.admin$('GET', '/audit?limit=1000');
      assert.equal(audit.status, 200, audit.text);
      const mine = (audit.json.events as Array<{ type: string; actor: string; target: string }>).filter(
        (event) => event.target?.startsWith('payments') && !event.type.startsWith('token.'),
      );
      const types = new Set(mine.map((event) => event.type));
      for (const type of ['domain.create', 'service.create', 'role.put', 'role-member.put', 'role-member.delete'])
        assert.ok(types.has(type), `${type} audited: ${[...types].join(', ')}`);
      for (const event of mine) assert.equal(event.actor, t.admin.clientId, `${event.type} by the signed-in principal`);
      w.assertClean();
    } finally {
      await w.close();
    }
  });

  it('disables, enables and deletes a service, confirming first and naming what is removed', async () => {
    await t.admin$('POST', '/domains', { name: 'shop' });
    await t.admin$('POST', '/domains/shop/services', { name: 'cart' });
    await t.admin$('PUT', '/domains/shop/roles/buyers', { members: [{ principal: 'shop.cart' }] });
    w = await watchedPage(browser);
    const page = w.page;
    try {
      await page.goto(`${t.url}/console/#/domains/shop`);
      await signIn(page, t.admin.clientId, t.admin.clientSecret);
      await page.getByRole('heading', { level: 1, name: 'Domain shop' }).waitFor();
      await page.getByRole('button', { name: 'Disable shop.cart' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Disable shop.cart' }).click();
      await page.getByRole('cell', { name: 'disabled', exact: true }).waitFor();
      assert.equal((await t.admin$('GET', '/domains/shop/services/cart')).json.status, 'DISABLED');
      await page.getByRole('button', { name: 'Enable shop.cart' }).click();
      await page.getByRole('cell', { name: 'active', exact: true }).waitFor();
      assert.equal((await t.admin$('GET', '/domains/shop/services/cart')).json.status, 'ACTIVE');

      await page.getByRole('button', { name: 'Delete shop.cart' }).click();
      const dialog = page.getByRole('dialog', { name: 'Delete shop.cart?' });
      await dialog.waitFor();
      const text = (await dialog.textContent()) ?? '';
      assert.match(text, /deletes the service shop\.cart, its credentials \(client secrets, registered public keys\) and its membership in every role/);
      assert.match(text, /cannot be undone/);
      // Focus is in the dialog, on Cancel; Escape cancels.
      assert.equal(await page.locator(':focus').textContent(), 'Cancel');
      await visit(page, 'domain-confirm-delete');
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      assert.equal((await t.admin$('GET', '/domains/shop/services/cart')).status, 200, 'Escape deletes nothing');
      assert.equal(await page.locator(':focus').getAttribute('aria-label'), 'Delete shop.cart', 'focus back on the button');
      await page.getByRole('button', { name: 'Delete shop.cart' }).click();
      await dialog.getByRole('button', { name: 'Delete shop.cart' }).click();
      await page.getByText('No services in this domain yet.').waitFor();
      assert.equal((await t.admin$('GET', '/domains/shop/services/cart')).status, 404);
      assert.deepEqual((await t.admin$('GET', '/domains/shop/roles/buyers')).json.members, []);

      // The role goes the same way, its confirmation naming its members.
      await page.getByRole('button', { name: 'Delete role shop:role.buyers' }).click();
      assert.match(
        (await page.getByRole('dialog').textContent()) ?? '',
        /deletes the role shop:role\.buyers with its 0 members and its actors and impersonators/,
      );
      await page.getByRole('dialog').getByRole('button', { name: 'Delete shop:role.buyers' }).click();
      await page.getByText('No roles in this domain yet.').waitFor();
      assert.equal((await t.admin$('GET', '/domains/shop/roles/buyers')).status, 404);
      w.assertClean();
    } finally {
      await w.close();
    }
  });

  it("lists domains a page at a time with the API's cursor, and filters what is loaded", async () => {
    for (const name of ['list-a', 'list-b', 'list-c']) await t.admin$('POST', '/domains', { name });
    const total = (await t.admin$('GET', '/domains?limit=1000')).json.domains.length as number;
    w = await watchedPage(browser);
    const page = w.page;
    try {
      await page.goto(`${t.url}/console/#/domains?limit=2`);
      await signIn(page, t.admin.clientId, t.admin.clientSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      const rows = page.locator('table tbody tr');
      assert.equal(await rows.count(), 2);
      assert.equal(await page.locator('.list-status').textContent(), 'Showing 2 of 2 loaded (more to load).');
      const limits = w.requests.filter((url) => url.includes('/admin/v1/domains?')).map((url) => new URL(url).searchParams.get('limit'));
      assert.deepEqual(limits, ['2']);
      for (let loaded = 2; loaded < total; loaded += 2)
        await page
          .getByRole('button', { name: 'Load more' })
          .click()
          .then(() => rows.nth(Math.min(loaded + 1, total - 1)).waitFor());
      await page.getByRole('button', { name: 'Load more' }).waitFor({ state: 'hidden' });
      assert.equal(await rows.count(), total);
      assert.ok(
        w.requests.some((url) => new URL(url).searchParams.has('cursor')),
        'later pages asked for with the cursor',
      );
      await page.getByLabel('Filter the loaded domains').fill('list-');
      assert.equal(await rows.count(), 3);
      assert.equal(await page.locator('.list-status').textContent(), `Showing 3 of ${total} loaded.`);
      await page.getByLabel('Filter the loaded domains').fill('nothing-like-this');
      assert.equal(await page.locator('table').isHidden(), true);
      w.assertClean();
    } finally {
      await w.close();
    }
  });

  it('signs out: the token revokes itself at the server (no secret kept) and is forgotten by the page', async () => {
    w = await watchedPage(browser);
    const page = w.page;
    try {
      const token = await signInAsAdmin(page);
      assert.equal((await t.admin$('GET', '/domains', undefined, token)).status, 200);
      // Nothing of the session is stored where another page or a later visit could read it.
      const stored = await page.evaluate('({ cookie: document.cookie, local: localStorage.length, session: sessionStorage.length })');
      assert.deepEqual(stored, { cookie: '', local: 0, session: 0 });
      const state = await page.context().storageState();
      assert.deepEqual([state.cookies.length, state.origins.length], [0, 0]);

      // The token revokes itself (DELETE /admin/v1/session): the page kept no client secret for it.
      const revoked = page.waitForResponse((response) => response.url().endsWith('/admin/v1/session'));
      await page.getByRole('button', { name: 'Sign out' }).click();
      const answer = await revoked;
      assert.equal(answer.status(), 204);
      assert.equal(answer.request().method(), 'DELETE');
      assert.equal(answer.request().headers()['authorization'], `Bearer ${token}`);
      assert.equal(answer.request().postData(), null, 'no body: no secret, no other token');
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      await page.getByRole('status').filter({ hasText: 'You signed out; the session token was revoked.' }).waitFor();
      assert.equal((await t.admin$('GET', '/domains', undefined, token)).status, 401, 'the token is no longer accepted');
      await visit(page, 'signed-out');
      // Back to a page of the session: the sign-in form, not the page.
      await page.goto(`${t.url}/console/#/domains/payments`);
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      w.assertClean();
    } finally {
      await w.close();
    }
  });

  it('ends the session when the server stops accepting its token', async () => {
    w = await watchedPage(browser);
    const page = w.page;
    try {
      const token = await signInAsAdmin(page);
      const revoke = await t.send('/oauth2/revoke', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(t.admin.clientId, t.admin.clientSecret) },
        body: new URLSearchParams({ token }).toString(),
      });
      assert.equal(revoke.status, 200);
      w.expectFailedLoad(401, '/admin/v1/domains/payments');
      await page.getByRole('link', { name: 'payments' }).click();
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      assert.match((await page.getByRole('status').first().textContent()) ?? '', /^The server no longer accepts this session \(.+\)\. Sign in again\.$/);
      assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
      w.assertClean();
    } finally {
      await w.close();
    }
  });

  it('is usable with the keyboard alone: sign in and open a domain', async () => {
    w = await watchedPage(browser);
    const page = w.page;
    try {
      await page.goto(`${t.url}/console/`);
      await page.getByLabel('Client id').waitFor();
      // The focus starts in the client id field; Tab moves through the form, Enter submits it.
      await page.keyboard.type(t.admin.clientId);
      await page.keyboard.press('Tab');
      await page.keyboard.type(t.admin.clientSecret);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      let reached = false;
      for (let presses = 0; presses < 40 && !reached; presses += 1) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate("document.activeElement?.tagName === 'A' && document.activeElement.textContent === 'payments'");
      }
      assert.ok(reached, "Tab reaches the domain's link");
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Domain payments' }).waitFor();
      assert.equal(await page.locator(':focus').textContent(), 'Domain payments', 'focus moved to the new page');
      // The first Tab from the heading lands on something visible and focusable (the breadcrumbs come before main).
      await page.keyboard.press('Tab');
      assert.notEqual(await page.evaluate('document.activeElement?.tagName'), 'BODY');
      w.assertClean();
    } finally {
      await w.close();
    }
  });
});
