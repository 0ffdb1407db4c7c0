// Who calls a domain, in a real browser against a real server: a domain admin opens its domain's
// callers page from the domain page, sees each principal with the roles it got, through which
// actor, how many tokens and when, and a chart of tokens over time; switches the period; and is
// refused another domain's callers (by the server). Checked like every console page: CSP, console
// errors, requests leaving 127.0.0.1, axe-core; photographed.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { assertRefusedPage, axeViolations, evidenceDir, findChromium, launchChromium, onWatchedPage, signInDomainAdmin } from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

describe('the console: who calls a domain', { skip, timeout: 120_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  const secrets = new Map<string, string>();
  const token = async (principal: string, scope: string, extra: Record<string, string> = {}): Promise<string> => {
    const res = await t.token(principal, secrets.get(principal)!, { grant_type: 'client_credentials', scope, ...extra });
    assert.equal(res.status, 200, res.text);
    return res.json.access_token as string;
  };

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
    for (const name of ['orders', 'shop', 'gw', 'other']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const [domain, name] of [
      ['orders', 'ops'],
      ['shop', 'web'],
      ['shop', 'batch'],
      ['gw', 'edge'],
    ]) {
      const res = await t.admin$('POST', `/domains/${domain}/services`, { name });
      assert.equal(res.status, 201, res.text);
      secrets.set(`${domain}.${name}`, res.json.clientSecret as string);
    }
    const members = (...principals: string[]) => principals.map((principal) => ({ principal }));
    for (const [domain, role, body] of [
      ['orders', 'admin', { members: members('orders.ops') }],
      ['orders', 'readers', { members: members('shop.web', 'shop.batch'), actors: ['gw.edge'] }],
      ['orders', 'writers', { members: members('shop.web') }],
      ['gw', 'callers', { members: members('shop.batch') }],
    ] as const) {
      const res = await t.admin$('PUT', `/domains/${domain}/roles/${role}`, body);
      assert.equal(res.status, 201, res.text);
    }
    for (let i = 0; i < 3; i++) await token('shop.web', 'orders:role.readers orders:role.writers');
    await token('shop.batch', 'orders:role.readers');
    const subject = await token('shop.batch', 'gw:role.callers');
    const exchanged = await t.token('gw.edge', secrets.get('gw.edge')!, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subject,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'orders:role.readers',
    });
    assert.equal(exchanged.status, 200, exchanged.text);
    await t.server.flushAudit();
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('lists who called, with roles, actor and counts, charts it, and switches the period', async () => {
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'orders.ops', secrets.get('orders.ops')!);
      await page.getByRole('link', { name: 'orders' }).click();
      await page.getByRole('heading', { level: 1, name: 'Domain orders' }).waitFor();
      // The admin's own token counts too: it was obtained for orders.
      await t.server.flushAudit();
      await page.getByRole('link', { name: 'Who calls orders' }).click();
      await page.getByRole('heading', { level: 1, name: 'Callers of orders' }).waitFor();
      const rows = await page.locator('table tbody tr').evaluateAll((trs) =>
        trs.map((tr) =>
          [...tr.querySelectorAll('td')]
            .slice(0, 4)
            .map((td) => td.textContent ?? '')
            .join(' | '),
        ),
      );
      assert.deepEqual(rows, [
        'orders.ops | itself | admin | 1',
        'shop.batch | itself | readers | 1',
        'shop.batch | gw.edge | readers | 1',
        'shop.web | itself | readers, writers | 3',
      ]);
      assert.match((await page.locator('#over-time + p').textContent()) ?? '', /^6 tokens since /);
      const chart = page.getByRole('img', { name: /^Tokens per day; the most, 6, from / });
      await chart.waitFor();
      assert.equal(await page.locator('svg.chart rect.bar').count(), 31, 'a bar per day of 30 days, and today');
      assert.deepEqual(await axeViolations(page), []);
      await page.screenshot({ path: join(await evidenceDir(), 'callers.png'), fullPage: true });

      await page.getByRole('link', { name: 'Last 24 hours' }).click();
      await page.getByRole('img', { name: /^Tokens per hour; the most, 6, from / }).waitFor();
      assert.equal(await page.locator('svg.chart rect.bar').count(), 25);
      assert.equal(await page.getByRole('navigation', { name: 'Period' }).locator('[aria-current="true"]').textContent(), 'Last 24 hours');
      assert.deepEqual(await axeViolations(page), []);
    });
  });

  it("refuses another domain's callers: the server says no", async () => {
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'orders.ops', secrets.get('orders.ops')!);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      await assertRefusedPage(w, t.url, '#/domains/shop/callers', '/admin/v1/domains/shop/callers/series', 'Callers of shop');
      assert.equal(await page.locator('svg.chart').count(), 0);
    });
  });
});
