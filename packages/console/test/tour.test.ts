// The README's five-minute tour done through the console instead of curl, in a real browser
// against a real server: sign in as the bootstrap admin, create domains alpha and beta, the
// service alpha.api (its secret shown once), beta's readers and writers with alpha.api in both;
// alpha.api then gets the tour's token (aud beta, scp readers and writers) and it verifies
// offline against the JWKS; a join token made on the service's page enrolls a certificate,
// which the page then lists; who called beta and its timeline show the tour. Each page is
// checked like every console page (CSP, console errors, requests leaving 127.0.0.1, axe-core).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { csrFor, serviceKey } from '../../server/test/helpers/ca-client.ts';
import { axeViolations, findChromium, launchChromium, signIn, watchedPage } from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

describe("the README's tour, through the console", { skip, timeout: 180_000 }, () => {
  let t: TestServer;
  let browser: Browser;

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  const createDomain = async (page: Page, name: string): Promise<void> => {
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByRole('button', { name: 'Create domain' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Domain ${name} created.` })
      .waitFor();
  };
  const createRoleWithMember = async (page: Page, domain: string, role: string, member: string): Promise<void> => {
    await page.goto(`${t.url}/console/#/domains/${domain}`);
    await page.getByRole('heading', { level: 1, name: `Domain ${domain}` }).waitFor();
    await page.getByLabel('Role name').fill(role);
    await page.getByRole('button', { name: 'Create role' }).click();
    await page.getByRole('link', { name: role, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: `Role ${domain}:role.${role}` }).waitFor();
    await page.getByLabel('Principal', { exact: true }).fill(member);
    await page.getByRole('button', { name: 'Add member' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `${member} is now a member of ${domain}:role.${role}.` })
      .waitFor();
  };

  it('registers the services and roles, whose token then verifies offline, and enrolls a certificate', async () => {
    const w = await watchedPage(browser);
    const page = w.page;
    try {
      await page.goto(`${t.url}/console/`);
      await signIn(page, t.admin.clientId, t.admin.clientSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      await createDomain(page, 'alpha');
      await createDomain(page, 'beta');

      await page.getByRole('link', { name: 'alpha', exact: true }).click();
      await page.getByRole('heading', { level: 1, name: 'Domain alpha' }).waitFor();
      await page.getByLabel('Service name').fill('api');
      await page.getByRole('button', { name: 'Create service' }).click();
      const secretField = page.getByLabel('Client secret of alpha.api');
      await secretField.waitFor();
      const secret = await secretField.inputValue();

      await createRoleWithMember(page, 'beta', 'readers', 'alpha.api');
      await createRoleWithMember(page, 'beta', 'writers', 'alpha.api');
      assert.deepEqual(await axeViolations(page), []);

      // alpha.api asks for every role it holds in beta, with the secret the console showed.
      const res = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'beta:domain' });
      assert.equal(res.status, 200, res.text);
      const keys = (await t.send('/oauth2/keys')).json as JSONWebKeySet;
      const { payload } = await jwtVerify(res.json.access_token as string, createLocalJWKSet(keys), {
        issuer: t.server.config.issuer,
        audience: 'beta',
        typ: 'at+jwt',
      });
      assert.equal(payload.sub, 'alpha.api');
      assert.equal(payload['client_id'], 'alpha.api');
      assert.deepEqual(payload['scp'], ['readers', 'writers']);

      // A join token from the service's page enrolls a certificate, which the page then lists.
      await page.goto(`${t.url}/console/#/domains/alpha/services/api`);
      await page.getByRole('heading', { level: 1, name: 'Service alpha.api' }).waitFor();
      await page.getByRole('button', { name: 'Create join token' }).click();
      const joinField = page.getByLabel(/^Join token /);
      await joinField.waitFor();
      const joinToken = await joinField.inputValue();
      const enroll = await t.send('/ca/v1/certificates', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ csr: await csrFor(await serviceKey('ec')), proof: { type: 'join-token', value: joinToken } }),
      });
      assert.equal(enroll.status, 201, enroll.text);
      // Away and back (a reload would end the session, which lives in the page's memory only).
      await page.goto(`${t.url}/console/#/domains/alpha`);
      await page.getByRole('heading', { level: 1, name: 'Domain alpha' }).waitFor();
      await page.getByRole('link', { name: 'alpha.api' }).click();
      await page.getByRole('heading', { level: 1, name: 'Service alpha.api' }).waitFor();
      const serial = ((await t.admin$('GET', '/domains/alpha/services/api/certificates')).json.certificates[0] as { serial: string }).serial;
      await page.getByRole('cell', { name: serial, exact: true }).waitFor();

      // Who called beta, and beta's timeline, tell the tour back.
      await t.server.flushAudit();
      await page.goto(`${t.url}/console/#/domains/beta/callers`);
      await page.getByRole('heading', { level: 1, name: 'Callers of beta' }).waitFor();
      await page.getByRole('cell', { name: 'readers, writers' }).waitFor();
      await page.goto(`${t.url}/console/#/domains/beta/timeline`);
      await page.getByRole('heading', { level: 1, name: 'Timeline of beta' }).waitFor();
      const kinds = await page.locator('table tbody tr td:nth-child(3)').allTextContents();
      assert.deepEqual(kinds.reverse(), ['domain create', 'role put', 'role member put', 'role put', 'role member put']);
      assert.deepEqual(await axeViolations(page), []);
      w.assertClean();
    } finally {
      await w.close();
    }
  });
});
