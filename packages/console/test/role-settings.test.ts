// A role's ID-token setting in a real browser against a real server: turned on and off from the
// role page and found through the admin API, and held for a second admin where the domain
// requires one. Checked like every console page (CSP, console errors, requests leaving
// 127.0.0.1, axe-core).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { axeViolations, findChromium, launchChromium, onWatchedPage, signIn } from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

describe("the console: a role's ID-token setting", { skip, timeout: 120_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  const setting = async (domain: string): Promise<boolean> => (await t.admin$('GET', `/domains/${domain}/roles/readers`)).json.idTokenSubjects as boolean;

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
    for (const name of ['orders', 'pay']) {
      assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
      assert.equal((await t.admin$('PUT', `/domains/${name}/roles/readers`, { actors: ['gw.edge'] })).status, 201);
    }
    assert.equal((await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['readers'] })).status, 200);
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('turns it on and off from the role page; where the domain needs a second admin, the change waits', async () => {
    await onWatchedPage(browser, async (w) => {
      const page = w.page;
      await page.goto(`${t.url}/console/#/domains/orders/roles/readers`);
      await signIn(page, t.admin.clientId, t.admin.clientSecret);
      await page.getByRole('heading', { level: 1, name: 'Role orders:role.readers' }).waitFor();
      const box = page.getByLabel('Actors may exchange a member’s ID token');
      assert.equal(await box.isChecked(), false);
      await box.check();
      await page.getByRole('form', { name: 'ID tokens as subject tokens' }).getByRole('button', { name: 'Save' }).click();
      await page.getByRole('status').filter({ hasText: 'may now exchange a member’s ID token' }).waitFor();
      assert.equal(await setting('orders'), true);
      assert.deepEqual(await axeViolations(page), []);
      await box.uncheck();
      await page.getByRole('form', { name: 'ID tokens as subject tokens' }).getByRole('button', { name: 'Save' }).click();
      await page.getByRole('status').filter({ hasText: 'may no longer exchange ID tokens' }).waitFor();
      assert.equal(await setting('orders'), false);

      await page.goto(`${t.url}/console/#/domains/pay/roles/readers`);
      await page.getByRole('heading', { level: 1, name: 'Role pay:role.readers' }).waitFor();
      await page.getByLabel('Actors may exchange a member’s ID token').check();
      await page.getByRole('form', { name: 'ID tokens as subject tokens' }).getByRole('button', { name: 'Save' }).click();
      await page
        .getByText(/Waiting for a second admin/)
        .first()
        .waitFor();
      assert.equal(await setting('pay'), false, 'held, not applied');
      assert.equal(await page.getByLabel('Actors may exchange a member’s ID token').isChecked(), false, 'the box shows what holds now');
      const pending = (await t.admin$('GET', '/domains/pay/approvals')).json.approvals as Array<{ kind: string }>;
      assert.deepEqual(
        pending.map((p) => p.kind),
        ['role.put'],
      );
    });
  });
});
