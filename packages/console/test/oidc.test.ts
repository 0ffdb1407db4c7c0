// A person signs in to the console through a real OpenID provider's login page (oidc-provider,
// its development login form; a public client, PKCE only), makes a change, and the change is in
// the audit under the person's principal. The console's own pages keep their CSP, log no error
// and leave nothing in storage; the provider's page is another origin and is not checked here.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestProvider, type TestProvider } from '@tessera/testkit/oidc-provider';
import { freePort } from '@tessera/testkit/port';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { axeViolations, EXPECTED_CSP, evidenceDir, findChromium, launchChromium, watchedPage } from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

describe('the console, a person signing in with OpenID Connect', { skip, timeout: 120_000 }, () => {
  let t: TestServer;
  let idp: TestProvider;
  let browser: Browser;

  before(async () => {
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    idp = await startTestProvider({ redirectUris: [`${url}/console/`], publicClient: true });
    idp.accounts.set('ada', { preferred_username: 'Ada', email: 'ada@example.com', groups: ['tessera-admins'] });
    t = await startTestServer({
      flags: { listen: url },
      edit: (config) => {
        config.console.oidc = {
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecretFile: null,
          scopes: ['openid', 'profile', 'groups'],
          principal: { claim: 'preferred_username', domain: 'people' },
          groups: { claim: 'groups', roles: { 'tessera-admins': ['sys.auth:role.admin'] } },
          sessionLifetime: 600,
        };
      },
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
    await idp?.close();
  });

  it("signs in at the provider's login page, and a change made then is audited under the person", async () => {
    const w = await watchedPage(browser);
    const page = w.page;
    // The provider's page imports a web font; nothing leaves the machine.
    await w.context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) => route.fulfill({ status: 200, contentType: 'text/css', body: '' }),
    );
    try {
      await page.goto(`${t.url}/console/`);
      const button = page.getByRole('button', { name: 'Sign in with OpenID Connect' });
      await button.waitFor();
      assert.deepEqual(await axeViolations(page), [], 'the sign-in page with both ways in');
      await page.screenshot({ path: join(await evidenceDir(), 'sign-in-oidc.png'), fullPage: true });
      await button.click();
      // The provider's own login page.
      await page.waitForURL((url) => url.origin === idp.issuer);
      await page.getByPlaceholder('Enter any login').fill('ada');
      await page.getByPlaceholder('and password').fill('anything');
      await page.getByRole('button', { name: 'Sign-in' }).click();

      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      assert.match((await page.locator('#session-bar').textContent()) ?? '', /Signed in as people\.ada \(system admin\)\. Session ends in (10:00|9:[0-5]\d)\./);
      // The code and state are gone from the address; nothing of the flow or the session is stored.
      const address = new URL(page.url());
      assert.equal(address.search, '', 'no code or state left in the address');
      const stored = await page.evaluate('({ cookie: document.cookie, local: localStorage.length, session: sessionStorage.length })');
      assert.deepEqual(stored, { cookie: '', local: 0, session: 0 });

      await page.getByLabel('Name', { exact: true }).fill('ledger');
      await page.getByRole('button', { name: 'Create domain' }).click();
      await page.getByRole('status').filter({ hasText: 'Domain ledger created.' }).waitFor();
      await page.screenshot({ path: join(await evidenceDir(), 'domains-oidc.png'), fullPage: true });

      const audit = await t.admin$('GET', '/audit?principal=people.ada');
      const events = (audit.json.events as { actor: string; type: string; target: string; after: Record<string, unknown> }[]).map(
        (e) => `${e.actor} ${e.type} ${e.target}`,
      );
      // The first sign-in also binds people.ada to the provider's identity (person.bind), in either order with console.sign-in.
      assert.equal(events[0], 'people.ada domain.create ledger');
      assert.deepEqual(events.slice(1).sort(), ['people.ada console.sign-in people.ada', 'people.ada person.bind people.ada']);

      // Sign-out revokes the person's session token.
      const revoked = page.waitForResponse((response) => response.url().endsWith('/admin/v1/session'));
      await page.getByRole('button', { name: 'Sign out' }).click();
      assert.equal((await revoked).status(), 204);
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();

      // The console's own documents carry its CSP and logged nothing wrong; every request stayed here.
      const consoleDocuments = [...w.documents].filter(([url]) => url.startsWith(t.url));
      assert.ok(consoleDocuments.length >= 2, 'the console loaded before and after the provider');
      for (const [url, csp] of consoleDocuments) assert.equal(csp, EXPECTED_CSP, url);
      assert.deepEqual(
        w.problems.filter((p) => p.includes(t.url)),
        [],
      );
      assert.deepEqual(
        w.requests.filter((url) => new URL(url).hostname !== '127.0.0.1' && !url.startsWith('https://fonts.')),
        [],
      );
    } finally {
      await w.close();
    }
  });

  it('says so on the sign-in page when the provider cannot be reached', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const down = await startTestServer({
      edit: (config) => {
        config.console.oidc = {
          issuer: nowhere,
          clientId: 'tessera-console',
          clientSecretFile: null,
          scopes: ['openid'],
          principal: { claim: 'preferred_username', domain: 'people' },
          groups: null,
          sessionLifetime: 600,
        };
      },
    });
    const w = await watchedPage(browser);
    const page = w.page;
    try {
      w.expectFailedLoad(502, '/console/oidc/config');
      await page.goto(`${down.url}/console/`);
      await page.getByText(/^Signing in as a person is not possible now: The OpenID provider's discovery document at .* could not be reached/).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Sign in with OpenID Connect' }).count(), 0);
      // The credential form still works.
      await page.getByLabel('Client id').waitFor();
      w.assertClean();
    } finally {
      await w.close();
      await down.stop();
    }
  });

  it('shows why when the state does not match (a sign-in this tab did not start)', async () => {
    const w = await watchedPage(browser);
    const page = w.page;
    try {
      await page.goto(`${t.url}/console/?code=stolen&state=forged`);
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      await page.getByText('This sign-in was not started from this tab (its state does not match), so it was ignored. Sign in again.').waitFor();
      assert.equal(new URL(page.url()).search, '');
      w.assertClean();
    } finally {
      await w.close();
    }
  });
});
