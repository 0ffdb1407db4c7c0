// A role's impersonators in a real browser against a real server: added and removed on the role
// page (each after a confirmation saying what it grants or ends, Cancel changing nothing) and found through the admin API;
// an invalid principal name refused with the server's message in the form; held for a second
// admin where the domain requires one (shown as waiting, the list left as it holds); and a
// domain admin of another domain refused by the server. Checked like every console page (CSP,
// console errors, requests leaving 127.0.0.1, axe-core); photographed.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import {
  assertRefusedPage,
  axeViolations,
  confirmDialog,
  evidenceDir,
  findChromium,
  launchChromium,
  onWatchedPage,
  signIn,
  signInDomainAdmin,
} from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

describe("the console: a role's impersonators", { skip, timeout: 120_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  let opsSecret: string;
  const impersonators = async (domain: string): Promise<string[]> => (await t.admin$('GET', `/domains/${domain}/roles/readers`)).json.impersonators as string[];

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
    for (const name of ['orders', 'pay', 'alpha']) {
      assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
      assert.equal((await t.admin$('PUT', `/domains/${name}/roles/readers`, { actors: ['gw.edge'] })).status, 201);
    }
    assert.equal((await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['readers'] })).status, 200);
    const ops = await t.admin$('POST', '/domains/alpha/services', { name: 'ops' });
    opsSecret = ops.json.clientSecret as string;
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.ops' }] })).status, 201);
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('adds and removes impersonators from the role page, and shows the server refusing an invalid name', async () => {
    await onWatchedPage(browser, async (w) => {
      const page = w.page;
      await page.goto(`${t.url}/console/#/domains/orders/roles/readers`);
      await signIn(page, t.admin.clientId, t.admin.clientSecret);
      await page.getByRole('heading', { level: 1, name: 'Role orders:role.readers' }).waitFor();
      const section = page.getByRole('region', { name: 'Impersonators' });
      await section.getByText('No impersonators: nobody may get this role’s tokens without act for a member.').waitFor();
      assert.equal(await page.getByText('Changed through the admin API for now').count(), 0);

      const form = page.getByRole('form', { name: 'Add an impersonator' });
      await page.getByLabel('Impersonator principal').fill('gw.support');
      await form.getByRole('button', { name: 'Add impersonator' }).click();
      // Adding one asks first, saying what it grants; Cancel changes nothing and keeps the input.
      const asked = page.getByRole('dialog', { name: 'Make gw.support an impersonator?' });
      await asked.waitFor();
      assert.match((await asked.textContent()) ?? '', /gw\.support may then get tokens carrying orders:role\.readers for any of its members without act/);
      assert.match((await asked.textContent()) ?? '', /takes them for the member's own/);
      assert.deepEqual(await axeViolations(page), []);
      await asked.getByRole('button', { name: 'Cancel' }).click();
      await asked.waitFor({ state: 'detached' });
      assert.deepEqual(await impersonators('orders'), [], 'cancel changes nothing');
      assert.equal(await page.getByLabel('Impersonator principal').inputValue(), 'gw.support', 'the input stays');
      await form.getByRole('button', { name: 'Add impersonator' }).click();
      await confirmDialog(page, 'Make gw.support an impersonator?', 'Add gw.support');
      await page.getByRole('status').filter({ hasText: 'gw.support is now an impersonator of orders:role.readers.' }).waitFor();
      await section.getByRole('listitem').filter({ hasText: 'gw.support' }).waitFor();
      assert.deepEqual(await impersonators('orders'), ['gw.support']);
      assert.equal(await page.getByLabel('Impersonator principal').inputValue(), '', 'the field is emptied once done');
      await page.getByLabel('Impersonator principal').fill('ops.debug');
      await form.getByRole('button', { name: 'Add impersonator' }).click();
      await confirmDialog(page, 'Make ops.debug an impersonator?', 'Add ops.debug');
      await section.getByRole('listitem').filter({ hasText: 'ops.debug' }).waitFor();
      assert.deepEqual(await impersonators('orders'), ['gw.support', 'ops.debug']);
      assert.deepEqual((await t.admin$('GET', '/domains/orders/roles/readers')).json.actors, ['gw.edge'], 'the actors are kept');

      // Refused input: the server's message, in the form, and nothing changes.
      w.expectFailedLoad(400, '/admin/v1/domains/orders/roles/readers');
      await page.getByLabel('Impersonator principal').fill('Not A Name');
      await form.getByRole('button', { name: 'Add impersonator' }).click();
      await confirmDialog(page, 'Make Not A Name an impersonator?', 'Add Not A Name');
      const alert = form.getByRole('alert');
      await alert.waitFor();
      assert.match((await alert.textContent()) ?? '', /^impersonators: "Not A Name" is not a valid principal name: .+ \(400 [a-z_]+\)$/);
      assert.equal(await page.getByLabel('Impersonator principal').inputValue(), 'Not A Name', 'the refused input stays to be corrected');
      assert.deepEqual(await impersonators('orders'), ['gw.support', 'ops.debug']);
      assert.deepEqual(await axeViolations(page), []);
      await page.screenshot({ path: join(await evidenceDir(), 'role-impersonators.png'), fullPage: true });

      // A removal asks first, saying what it ends; Cancel changes nothing.
      await section.getByRole('button', { name: 'Remove impersonator gw.support' }).click();
      const dialog = page.getByRole('dialog', { name: 'Remove impersonator gw.support?' });
      await dialog.waitFor();
      assert.match((await dialog.textContent()) ?? '', /gw\.support will no longer get tokens carrying orders:role\.readers without act/);
      assert.deepEqual(await axeViolations(page), []);
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'detached' });
      assert.deepEqual(await impersonators('orders'), ['gw.support', 'ops.debug'], 'cancel changes nothing');
      await section.getByRole('button', { name: 'Remove impersonator gw.support' }).click();
      await confirmDialog(page, 'Remove impersonator gw.support?', 'Remove gw.support');
      await page.getByRole('status').filter({ hasText: 'gw.support is no longer an impersonator of orders:role.readers.' }).waitFor();
      assert.deepEqual(await impersonators('orders'), ['ops.debug']);
      assert.equal(await section.getByRole('listitem').filter({ hasText: 'gw.support' }).count(), 0);

      const events = (await t.admin$('GET', '/domains/orders/audit?target=orders:role.readers')).json.events as Array<{ type: string; actor: string }>;
      assert.ok(events.filter((e) => e.type === 'role.put' && e.actor === t.admin.clientId).length >= 3, 'each change audited under the signed-in admin');
    });
  });

  it('holds the change for a second admin where the domain requires one, and never shows it done', async () => {
    await onWatchedPage(browser, async (w) => {
      const page = w.page;
      await page.goto(`${t.url}/console/#/domains/pay/roles/readers`);
      await signIn(page, t.admin.clientId, t.admin.clientSecret);
      await page.getByRole('heading', { level: 1, name: 'Role pay:role.readers' }).waitFor();
      await page.getByText(/pay requires a second admin for this role: .*impersonator/).waitFor();
      await page.getByLabel('Impersonator principal').fill('gw.support');
      await page.getByRole('form', { name: 'Add an impersonator' }).getByRole('button', { name: 'Add impersonator' }).click();
      await confirmDialog(page, 'Make gw.support an impersonator?', 'Add gw.support');
      await page.getByRole('status').filter({ hasText: 'Making gw.support an impersonator of pay:role.readers is not done yet.' }).waitFor();
      assert.equal(await page.getByText('is now an impersonator').count(), 0, 'never reported as done');
      assert.deepEqual(await impersonators('pay'), [], 'held, not applied');
      const section = page.getByRole('region', { name: 'Impersonators' });
      assert.equal(await section.getByRole('listitem').count(), 0, 'the list shows what holds now');
      const pending = (await t.admin$('GET', '/domains/pay/approvals')).json.approvals as Array<{ id: string; kind: string; change: { body: unknown } }>;
      assert.equal(pending.length, 1);
      assert.equal(pending[0]!.kind, 'role.put');
      assert.deepEqual(pending[0]!.change.body, { impersonators: ['gw.support'] });
      await page.getByText(pending[0]!.id, { exact: true }).waitFor();
      assert.deepEqual(await axeViolations(page), []);
      await page.screenshot({ path: join(await evidenceDir(), 'role-impersonators-held.png'), fullPage: true });
    });
  });

  it("refuses a domain admin another domain's role, impersonators and all", async () => {
    await onWatchedPage(browser, async (w) => {
      await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await w.page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      await assertRefusedPage(w, t.url, '#/domains/orders/roles/readers', '/admin/v1/domains/orders/roles/readers', 'Role orders:role.readers');
      assert.equal(await w.page.getByRole('form', { name: 'Add an impersonator' }).count(), 0, 'no form to change them');
      assert.equal(await w.page.getByText('ops.debug').count(), 0, 'nothing of the role is shown');
      assert.deepEqual(await axeViolations(w.page), []);

      // Its own domain's role: the form is there and works.
      await w.page.goto(`${t.url}/console/#/domains/alpha/roles/readers`);
      await w.page.getByRole('heading', { level: 1, name: 'Role alpha:role.readers' }).waitFor();
      await w.page.getByLabel('Impersonator principal').fill('orders.support');
      await w.page.getByRole('button', { name: 'Add impersonator' }).click();
      await confirmDialog(w.page, 'Make orders.support an impersonator?', 'Add orders.support');
      await w.page.getByRole('status').filter({ hasText: 'orders.support is now an impersonator of alpha:role.readers.' }).waitFor();
      assert.deepEqual(await impersonators('alpha'), ['orders.support']);
    });
    // The API behind the form refuses it too, with the domain admin's own token.
    const token = await t.token('alpha.ops', opsSecret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    assert.equal(token.status, 200, token.text);
    const refused = await t.admin$('PUT', '/domains/orders/roles/readers', { impersonators: ['alpha.ops'] }, token.json.access_token as string);
    assert.equal(refused.status, 403, refused.text);
    assert.deepEqual(await impersonators('orders'), ['ops.debug']);
  });
});
