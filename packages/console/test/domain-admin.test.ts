// A domain admin in the console: it sees only its own domain, is refused another domain's page
// (and the API call behind it is refused by the server: the console has no way around the API),
// and signs in with or without naming its domain. Also a session that ends when its token expires.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { axeViolations, evidenceDir, findChromium, launchChromium, signIn, watchedPage } from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

describe('the console for a domain admin', { skip, timeout: 120_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  let opsSecret: string;
  let plainSecret: string;

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const ops = await t.admin$('POST', '/domains/alpha/services', { name: 'ops' });
    opsSecret = ops.json.clientSecret as string;
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.ops' }] })).status, 201);
    const plain = await t.admin$('POST', '/domains/beta/services', { name: 'worker' });
    plainSecret = plain.json.clientSecret as string;
    await t.admin$('POST', '/domains/beta/services', { name: 'secretive' });
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it("sees only its domain, and another domain's page is refused by the server", async () => {
    const w = await watchedPage(browser);
    const page = w.page;
    try {
      // Not a system admin: the first try (sys.auth:role.admin) is refused, the second (its own domain's admin role) granted.
      w.expectFailedLoad(403, '/oauth2/token');
      await page.goto(`${t.url}/console/`);
      await signIn(page, 'alpha.ops', opsSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      assert.match((await page.locator('#session-bar').textContent()) ?? '', /Signed in as alpha\.ops \(admin of alpha\)\./);
      const names = await page.locator('table tbody tr td:first-child').allTextContents();
      assert.deepEqual(names, ['alpha']);
      assert.equal(await page.getByRole('button', { name: 'Create domain' }).count(), 0, 'no domain creation for a domain admin');
      assert.deepEqual(await axeViolations(page), []);
      await page.screenshot({ path: join(await evidenceDir(), 'domains-domain-admin.png'), fullPage: true });

      const refused = page.waitForResponse((response) => new URL(response.url()).pathname === '/admin/v1/domains/beta');
      w.expectFailedLoad(403, '/admin/v1/domains/beta');
      await page.goto(`${t.url}/console/#/domains/beta`);
      const answer = await refused;
      assert.equal(answer.status(), 403, 'the server refuses the call the page makes');
      assert.equal(answer.request().headers()['authorization']?.startsWith('Bearer '), true);
      assert.equal(answer.request().headers()['cookie'], undefined);
      await page.getByRole('heading', { level: 1, name: 'Domain beta' }).waitFor();
      const alert = await page.getByRole('alert').textContent();
      assert.match(alert ?? '', /^You may not see this: .+ \(403 forbidden\)$/);
      assert.equal(await page.getByRole('heading', { name: 'Services' }).count(), 0, 'nothing of beta is shown');
      assert.deepEqual(await axeViolations(page), []);
      await page.screenshot({ path: join(await evidenceDir(), 'domain-refused.png'), fullPage: true });

      // Its own domain works, services and roles alike.
      await page.getByRole('link', { name: 'Back to the domains' }).click();
      await page.getByRole('link', { name: 'alpha' }).click();
      await page.getByRole('heading', { level: 1, name: 'Domain alpha' }).waitFor();
      await page.getByRole('cell', { name: 'alpha.ops', exact: true }).waitFor();
      await page.getByRole('link', { name: 'admin' }).click();
      await page.getByRole('heading', { level: 1, name: 'Role alpha:role.admin' }).waitFor();
      await page.getByRole('cell', { name: 'alpha.ops', exact: true }).waitFor();
      w.assertClean();
    } finally {
      await w.close();
    }
  });

  it('signs in naming its domain, and is told plainly when it administers nothing', async () => {
    const w = await watchedPage(browser);
    const page = w.page;
    try {
      await page.goto(`${t.url}/console/`);
      await signIn(page, 'alpha.ops', opsSecret, 'alpha');
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      assert.equal(w.requests.filter((url) => url.endsWith('/oauth2/token')).length, 1, 'one request: the role named');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();

      w.expectFailedLoad(403, '/oauth2/token');
      await signIn(page, 'beta.worker', plainSecret);
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.equal(
        await alert.textContent(),
        'This client holds neither sys.auth:role.admin nor beta:role.admin: it is not an admin. Name the domain it administers, or use another credential.',
      );
      await page.getByLabel('Domain to administer (optional)').fill('gamma');
      w.expectFailedLoad(404, '/oauth2/token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'No such domain' }).waitFor();
      w.assertClean();
    } finally {
      await w.close();
    }
  });
});

describe('a console session whose token expires', { skip, timeout: 60_000 }, () => {
  it('shows the time left and signs out when the token ends', async () => {
    const t = await startTestServer({ env: { TESSERA_TOKEN_DEFAULT_LIFETIME: '3' } });
    const browser = await launchChromium();
    try {
      const w = await watchedPage(browser);
      const page = w.page;
      await page.goto(`${t.url}/console/`);
      await signIn(page, t.admin.clientId, t.admin.clientSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      assert.match((await page.locator('#session-remaining').textContent()) ?? '', /^0:0[1-3]$/);
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor({ timeout: 10_000 });
      assert.match(
        (await page.getByRole('status').first().textContent()) ?? '',
        /^Your session ended at \d\d:\d\d:\d\d UTC, when its token expired\. Sign in again\.$/,
      );
      assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
      w.assertClean();
      await w.close();
    } finally {
      await browser.close();
      await t.stop();
    }
  });
});
