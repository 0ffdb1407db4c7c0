// A domain's timeline in a real browser against a real server: a domain admin opens it from the
// domain page, sees each change with who made it and what changed (old → new), follows a service
// to its own timeline, opens a role's changes from the role page, and is refused another domain's
// timeline by the server. Checked like every console page (CSP, console errors, requests leaving
// 127.0.0.1, axe-core) and photographed.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { assertRefusedPage, axeViolations, evidenceDir, findChromium, launchChromium, onWatchedPage, signInDomainAdmin } from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

describe("the console: a domain's timeline", { skip, timeout: 120_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  let opsSecret: string;

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const ops = await t.admin$('POST', '/domains/alpha/services', { name: 'ops' });
    opsSecret = ops.json.clientSecret as string;
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.ops' }] })).status, 201);
    const token = await t.token('alpha.ops', opsSecret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    const as = (method: string, path: string, body?: unknown) => t.admin$(method, path, body, token.json.access_token as string);
    assert.equal((await as('POST', '/domains/alpha/services', { name: 'api' })).status, 201);
    assert.equal((await as('PATCH', '/domains/alpha/services/api', { status: 'DISABLED' })).status, 200);
    assert.equal((await as('PUT', '/domains/alpha/roles/readers', { members: [{ principal: 'beta.web' }] })).status, 201);
    assert.equal((await as('PUT', '/domains/alpha/roles/readers/members/alpha.api', { expiresAt: '2030-01-01T00:00:00Z' })).status, 201);
    assert.equal((await t.admin$('POST', '/domains/beta/services', { name: 'web' })).status, 201);
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('lists the changes with who and what changed, and narrows to a service and to a role', async () => {
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await page.getByRole('link', { name: 'alpha' }).click();
      await page.getByRole('link', { name: 'Timeline of alpha' }).click();
      await page.getByRole('heading', { level: 1, name: 'Timeline of alpha' }).waitFor();
      const rows = await page.locator('table tbody tr').evaluateAll((trs) =>
        trs.map((tr) =>
          [...tr.querySelectorAll('td')]
            .slice(1, 4)
            .map((td) => td.textContent ?? '')
            .join(' | '),
        ),
      );
      assert.deepEqual(rows, [
        'alpha.ops | role member put | alpha:role.readers',
        'alpha.ops | role put | alpha:role.readers',
        'alpha.ops | service update | alpha.api',
        'alpha.ops | client secret add | alpha.api',
        'alpha.ops | service create | alpha.api',
        `${t.admin.clientId} | role put | alpha:role.admin`,
        `${t.admin.clientId} | client secret add | alpha.ops`,
        `${t.admin.clientId} | service create | alpha.ops`,
        `${t.admin.clientId} | domain create | alpha`,
      ]);
      const update = page.locator('table tbody tr').nth(2);
      assert.match((await update.locator('ul.diff').textContent()) ?? '', /status: ACTIVE → DISABLED/);
      assert.doesNotMatch((await update.locator('ul.diff').textContent()) ?? '', /updatedAt/);
      assert.deepEqual(await axeViolations(page), []);
      await page.screenshot({ path: join(await evidenceDir(), 'timeline.png'), fullPage: true });

      await page.getByRole('link', { name: 'alpha.api' }).first().click();
      await page.getByRole('heading', { level: 1, name: 'Timeline of alpha.api' }).waitFor();
      assert.equal(await page.locator('table tbody tr').count(), 3);
      assert.deepEqual(await axeViolations(page), []);

      await page.goto(`${t.url}/console/#/domains/alpha/roles/readers`);
      await page.getByRole('link', { name: 'Changes to alpha:role.readers' }).click();
      await page.getByRole('heading', { level: 1, name: 'Timeline of alpha:role.readers' }).waitFor();
      assert.equal(await page.locator('table tbody tr').count(), 2);
      assert.match((await page.locator('table tbody tr').first().textContent()) ?? '', /alpha\.api/);
    });
  });

  it("refuses another domain's timeline: the server says no", async () => {
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      await assertRefusedPage(w, t.url, '#/domains/beta/timeline', '/admin/v1/domains/beta/audit', 'Timeline of beta');
    });
  });
});
