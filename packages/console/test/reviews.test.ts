// Membership review dates in a real browser against a real server: the role page shows them (and
// "due" once past) and keeps the one not changed when the other is (a member PUT writes the
// membership whole); the reviews inbox lists what is due in a window, extends (new review date,
// 90 days by default) and removes in bulk, checked through the admin API; and its main flow works
// from the keyboard alone.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { axeViolations, evidenceDir, findChromium, launchChromium, signInDomainAdmin, watchedPage, type Watched } from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;
const DAY = 86_400_000;
const inDays = (days: number): string => new Date(Date.now() + days * DAY).toISOString();

describe('the console: membership reviews', { skip, timeout: 240_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  let opsSecret: string;

  type M = { principal: string; expiresAt: string | null; reviewBy: string | null };
  const member = async (domain: string, role: string, principal: string): Promise<M | undefined> =>
    ((await t.admin$('GET', `/domains/${domain}/roles/${role}/members`)).json.members as M[]).find((m) => m.principal === principal);
  const signInOps = (w: Watched, hash: string): Promise<Page> => signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret, hash);

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    opsSecret = (await t.admin$('POST', '/domains/alpha/services', { name: 'ops' })).json.clientSecret as string;
    for (const name of ['a1', 'a2', 'a3', 'a4', 'a5', 'k1', 'k2']) assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.ops' }] })).status, 201);
    assert.equal((await t.admin$('POST', '/domains/beta/services', { name: 'b1' })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'beta.b1', reviewBy: inDays(1) }] })).status, 201);
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('shows review dates on the role page, "due" once past, and keeps the date not changed', async () => {
    const soon = new Date(Date.now() + 1500).toISOString();
    const expiry = '2031-01-02T03:04:00.000Z';
    const review = inDays(100);
    const put = await t.admin$('PUT', '/domains/alpha/roles/editors', {
      members: [
        { principal: 'alpha.a1', expiresAt: expiry, reviewBy: review },
        { principal: 'alpha.a2', reviewBy: soon },
      ],
    });
    assert.equal(put.status, 201, put.text);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const w = await watchedPage(browser);
    try {
      const page = await signInOps(w, '#/domains/alpha/roles/editors');
      await page.getByRole('heading', { level: 1, name: 'Role alpha:role.editors' }).waitFor();
      await page.getByRole('columnheader', { name: 'Review by' }).waitFor();
      const a1 = page.getByRole('row').filter({ hasText: 'alpha.a1' });
      await a1.getByRole('cell', { name: `${review.slice(0, 10)} ${review.slice(11, 16)} UTC` }).waitFor();
      await page
        .getByRole('row')
        .filter({ hasText: 'alpha.a2' })
        .getByText(/^due \(since /)
        .waitFor();
      assert.deepEqual(await axeViolations(page), []);

      // Change: only the expiry is changed; the review date is sent as it was.
      await page.getByRole('button', { name: 'Change alpha.a1' }).click();
      let dialog = page.getByRole('dialog', { name: 'Change alpha.a1 in alpha:role.editors' });
      assert.equal(await dialog.getByLabel('Review by (UTC)').inputValue(), review.slice(0, 16), 'prefilled');
      await dialog.getByLabel('Expires (UTC)').fill('2032-05-06T07:08');
      await dialog.getByRole('button', { name: 'Save dates' }).click();
      await page.getByRole('status').filter({ hasText: 'The membership of alpha.a1 in alpha:role.editors was updated.' }).waitFor();
      assert.deepEqual(await member('alpha', 'editors', 'alpha.a1'), { principal: 'alpha.a1', expiresAt: '2032-05-06T07:08:00.000Z', reviewBy: review });

      // The add form for a principal already a member: only the review date given, the expiry kept.
      const next = inDays(120).slice(0, 16);
      await page.getByLabel('Principal', { exact: true }).fill('alpha.a1');
      await page.getByLabel('Review by (UTC, optional)').fill(next);
      await page.getByRole('button', { name: 'Add member' }).click();
      await page.getByRole('status').filter({ hasText: 'The membership of alpha.a1 in alpha:role.editors was updated.' }).waitFor();
      assert.deepEqual(await member('alpha', 'editors', 'alpha.a1'), {
        principal: 'alpha.a1',
        expiresAt: '2032-05-06T07:08:00.000Z',
        reviewBy: `${next}:00.000Z`,
      });

      // A new member with both dates.
      await page.getByLabel('Principal', { exact: true }).fill('alpha.a3');
      await page.getByLabel('Expires (UTC, optional)').fill('2033-01-01T00:00');
      await page.getByLabel('Review by (UTC, optional)').fill(next);
      await page.getByRole('button', { name: 'Add member' }).click();
      await page.getByRole('status').filter({ hasText: 'alpha.a3 is now a member of alpha:role.editors.' }).waitFor();
      assert.deepEqual(await member('alpha', 'editors', 'alpha.a3'), {
        principal: 'alpha.a3',
        expiresAt: '2033-01-01T00:00:00.000Z',
        reviewBy: `${next}:00.000Z`,
      });

      // A past review date cannot be kept: the dialog says so and sends nothing; emptied, it is cleared.
      await page.getByRole('button', { name: 'Change alpha.a2' }).click();
      dialog = page.getByRole('dialog', { name: 'Change alpha.a2 in alpha:role.editors' });
      await dialog.getByLabel('Expires (UTC)').fill('2034-01-01T00:00');
      await dialog.getByRole('button', { name: 'Save dates' }).click();
      await dialog.getByRole('alert').filter({ hasText: 'has passed: set the next one, or empty the field to remove it.' }).waitFor();
      await dialog.getByLabel('Review by (UTC)').fill('');
      await dialog.getByRole('button', { name: 'Save dates' }).click();
      await page.getByRole('status').filter({ hasText: 'The membership of alpha.a2 in alpha:role.editors was updated.' }).waitFor();
      assert.deepEqual(await member('alpha', 'editors', 'alpha.a2'), { principal: 'alpha.a2', expiresAt: '2034-01-01T00:00:00.000Z', reviewBy: null });
      w.assertClean();
    } finally {
      await w.close();
    }
  });

  it('lists what is due in the window, extends and removes in bulk', async () => {
    const put = await t.admin$('PUT', '/domains/alpha/roles/readers', {
      members: [
        { principal: 'alpha.a1', reviewBy: inDays(2) },
        { principal: 'alpha.a4', reviewBy: inDays(3), expiresAt: inDays(200) },
        { principal: 'alpha.a5', expiresAt: inDays(5) },
        { principal: 'alpha.a3', reviewBy: inDays(45) },
        { principal: 'alpha.k1' },
      ],
    });
    assert.equal(put.status, 201, put.text);
    const w = await watchedPage(browser);
    try {
      const page = await signInOps(w, '#/domains');
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      await page.getByRole('link', { name: 'Membership reviews' }).click();
      await page.getByRole('heading', { level: 1, name: 'Membership reviews' }).waitFor();
      const rows = async (): Promise<string[]> => (await page.locator('table tbody tr td:nth-child(4)').allTextContents()).sort();
      // 14 days: the review dates and the expiry within it, of alpha only (beta is not administered by alpha.ops).
      assert.deepEqual(await rows(), ['alpha.a1', 'alpha.a4', 'alpha.a5']);
      await page.getByRole('row').filter({ hasText: 'alpha.a5' }).getByText('expiring').waitFor();
      await page.getByRole('row').filter({ hasText: 'alpha.a1' }).getByText('review due').waitFor();
      assert.deepEqual(await axeViolations(page), []);

      await page.getByRole('checkbox', { name: 'Select alpha.a1 in alpha:role.readers' }).check();
      await page.getByRole('checkbox', { name: 'Select alpha.a4 in alpha:role.readers' }).check();
      await page.getByText('2 selected.').waitFor();
      await page.getByLabel('Reason (optional)').fill('quarterly review');
      await page.screenshot({ path: join(await evidenceDir(), 'reviews.png'), fullPage: true });
      await page.getByRole('button', { name: 'Extend selected' }).click();
      const dialog = page.getByRole('dialog', { name: 'Extend 2 memberships' });
      const proposed = await dialog.getByLabel('Next review by (UTC)').inputValue();
      assert.ok(Math.abs(Date.parse(`${proposed}:00Z`) - (Date.now() + 90 * DAY)) < 120_000, `90 days from now by default: ${proposed}`);
      assert.deepEqual(await axeViolations(page), []);
      await dialog.getByRole('button', { name: 'Extend' }).click();
      await page.getByRole('status').filter({ hasText: 'Extended 2 memberships.' }).waitFor();
      const a4Before = put.json.members.find((m: M) => m.principal === 'alpha.a4') as M;
      for (const who of ['alpha.a1', 'alpha.a4']) {
        const m = (await member('alpha', 'readers', who))!;
        assert.equal(m.reviewBy, `${proposed}:00.000Z`, `${who}: review date moved`);
        if (who === 'alpha.a4') assert.equal(m.expiresAt, a4Before.expiresAt, 'expiry kept');
      }
      const events = (await t.admin$('GET', '/domains/alpha/audit?type=review.extend')).json.events as Array<{ actor: string; after: { reason?: string } }>;
      assert.deepEqual(
        events.map((e) => [e.actor, e.after.reason]),
        [['alpha.ops', 'quarterly review']],
      );
      assert.deepEqual(await rows(), ['alpha.a5'], 'extended: no longer due within 14 days');

      // 90 days: a3 (45 days) too; select all on this page, remove after a confirmation naming them.
      await page.getByRole('link', { name: 'Within 90 days' }).click();
      await page.getByRole('strong').filter({ hasText: 'Within 90 days' }).waitFor();
      await page.getByRole('row').filter({ hasText: 'alpha.a3' }).waitFor();
      assert.deepEqual(await rows(), ['alpha.a1', 'alpha.a3', 'alpha.a4', 'alpha.a5']);
      await page.getByLabel('Select all on this page').check();
      await page.getByText('4 selected.').waitFor();
      await page.getByRole('checkbox', { name: 'Select alpha.a1 in alpha:role.readers' }).uncheck();
      await page.getByRole('checkbox', { name: 'Select alpha.a4 in alpha:role.readers' }).uncheck();
      await page.getByRole('button', { name: 'Remove selected' }).click();
      const confirm = page.getByRole('dialog', { name: 'Remove 2 memberships?' });
      assert.match((await confirm.textContent()) ?? '', /alpha\.a5 in alpha:role\.readers; alpha\.a3 in alpha:role\.readers\./);
      await confirm.getByRole('button', { name: 'Remove 2' }).click();
      await page.getByRole('status').filter({ hasText: 'Removed 2 memberships.' }).waitFor();
      const left = ((await t.admin$('GET', '/domains/alpha/roles/readers/members')).json.members as M[]).map((m) => m.principal);
      assert.deepEqual(left, ['alpha.a1', 'alpha.a4', 'alpha.k1']);
      assert.deepEqual(await rows(), ['alpha.a1', 'alpha.a4']);
      w.assertClean();
    } finally {
      await w.close();
    }
  });

  it("runs the inbox's main flow from the keyboard alone", async () => {
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/keys', { members: [{ principal: 'alpha.k2', reviewBy: inDays(1) }] })).status, 201);
    const w = await watchedPage(browser);
    try {
      const page = await signInOps(w, '#/reviews?days=7');
      await page.getByRole('heading', { level: 1, name: 'Membership reviews' }).waitFor();
      const FOCUSED =
        "(() => { const el = document.activeElement; if (!el) return ''; " +
        "return `${el.tagName.toLowerCase()} ${el.getAttribute('aria-label') ?? el.textContent ?? ''}`.trim(); })()";
      const focused = (): Promise<string> => page.evaluate(FOCUSED) as Promise<string>;
      const tabTo = async (wanted: string, limit = 40): Promise<void> => {
        for (let i = 0; i < limit; i += 1) {
          if ((await focused()) === wanted) return;
          await page.keyboard.press('Tab');
        }
        assert.fail(`Tab never reached ${wanted}; at ${await focused()}`);
      };
      await tabTo('input Select alpha.k2 in alpha:role.keys');
      await page.keyboard.press('Space');
      await page.getByText('1 selected.').waitFor();
      await tabTo('button Extend selected');
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog', { name: 'Extend 1 membership' });
      await dialog.waitFor();
      assert.equal(await focused(), 'input', 'focus starts in the review date field');
      // Tab goes through the date fields' parts (day, month, year, time) to Cancel and Extend.
      await tabTo('button Extend', 30);
      await page.keyboard.press('Enter');
      await page.getByRole('status').filter({ hasText: 'Extended 1 membership.' }).waitFor();
      const m = (await member('alpha', 'keys', 'alpha.k2'))!;
      assert.ok(Date.parse(m.reviewBy!) > Date.now() + 89 * DAY, `extended by the keyboard: ${m.reviewBy}`);
      assert.equal(await page.evaluate('document.activeElement?.className'), 'outcome', 'focus on what happened (the button is disabled now)');
      w.assertClean();
    } finally {
      await w.close();
    }
  });
});
