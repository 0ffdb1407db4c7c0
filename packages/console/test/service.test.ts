// A service's page in a real browser against a real server, as a domain admin: its standing
// (edit, disable with confirmation, enable), a secret rotation shown once, a public key added and
// removed, an API key made (shown once) and revoked, a join token made and deleted, and a
// certificate issued through the CA API then revoked from the page; each change is then found
// through the admin API. Checked like every console page (CSP, console errors, requests leaving
// 127.0.0.1, axe-core) and photographed.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { csrFor, serviceKey } from '../../server/test/helpers/ca-client.ts';
import {
  assertRefusedPage,
  axeViolations,
  confirmDialog,
  evidenceDir,
  findChromium,
  launchChromium,
  onWatchedPage,
  signInDomainAdmin,
} from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

describe("the console: a service's page", { skip, timeout: 180_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  let opsSecret: string;

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
    for (const name of ['alpha', 'beta']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    const ops = await t.admin$('POST', '/domains/alpha/services', { name: 'ops' });
    opsSecret = ops.json.clientSecret as string;
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'api' })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.ops' }] })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'alpha.api' }] })).status, 201);
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('edits, disables and enables the service, and rotates its secret', async () => {
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await page.getByRole('link', { name: 'alpha' }).click();
      await page.getByRole('link', { name: 'alpha.api' }).click();
      await page.getByRole('heading', { level: 1, name: 'Service alpha.api' }).waitFor();
      assert.deepEqual(await axeViolations(page), []);
      await page.screenshot({ path: join(await evidenceDir(), 'service.png'), fullPage: true });

      await page.getByLabel('Description', { exact: true }).fill('the API');
      await page.getByLabel('Allowed addresses (optional)').fill('10.0.0.0/8, 127.0.0.1/32');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByText('alpha.api is saved.').first().waitFor();
      let service = (await t.admin$('GET', '/domains/alpha/services/api')).json;
      assert.equal(service.description, 'the API');
      assert.deepEqual(service.allowedIps, ['10.0.0.0/8', '127.0.0.1/32']);

      await page.getByLabel('Allowed addresses (optional)').fill('not-an-address');
      w.expectFailedLoad(400, '/admin/v1/domains/alpha/services/api');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByRole('form', { name: 'Change the service' }).getByRole('alert').waitFor();
      assert.deepEqual((await t.admin$('GET', '/domains/alpha/services/api')).json.allowedIps, ['10.0.0.0/8', '127.0.0.1/32'], 'nothing changed');

      await page.getByRole('button', { name: 'Disable' }).click();
      await confirmDialog(page, 'Disable alpha.api?', 'Disable alpha.api');
      await page.getByText('alpha.api is disabled.').first().waitFor();
      service = (await t.admin$('GET', '/domains/alpha/services/api')).json;
      assert.equal(service.status, 'DISABLED');
      await page.getByRole('button', { name: 'Enable' }).click();
      await page.getByText('alpha.api is enabled.').first().waitFor();
      assert.equal((await t.admin$('GET', '/domains/alpha/services/api')).json.status, 'ACTIVE');

      await page.getByLabel('Older secrets stop working').selectOption('0');
      await page.getByRole('button', { name: 'Make a new secret' }).click();
      await confirmDialog(page, "End alpha.api's current secrets now?", 'Make a new secret and end the old ones');
      const secret = await page.getByLabel('New client secret of alpha.api').inputValue();
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
      const token = await t.token('alpha.api', secret, { grant_type: 'client_credentials', scope: 'beta:role.readers' });
      assert.equal(token.status, 200, 'the secret shown works');
    });
  });

  it('adds and removes a public key, makes and revokes an API key, and makes and deletes a join token', async () => {
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      await page.goto(`${t.url}/console/#/domains/alpha/services/api`);
      await page.getByRole('heading', { level: 1, name: 'Service alpha.api' }).waitFor();

      const key = await serviceKey('ec');
      await page.getByLabel('Key id').fill('k1');
      await page.getByLabel('Public key or certificate (PEM)').fill(key.publicPem);
      await page.getByRole('button', { name: 'Register key' }).click();
      await page.getByText('Key k1 is registered on alpha.api.').first().waitFor();
      assert.deepEqual(
        (await t.admin$('GET', '/domains/alpha/services/api/keys')).json.keys.map((k: { kid: string }) => k.kid),
        ['k1'],
      );
      await page.getByRole('button', { name: 'Remove key k1' }).click();
      await confirmDialog(page, 'Remove key k1 of alpha.api?', 'Remove k1');
      await page.getByText('Key k1 was removed from alpha.api.').first().waitFor();
      assert.deepEqual((await t.admin$('GET', '/domains/alpha/services/api/keys')).json.keys, []);

      await page.getByLabel('For domain').fill('beta');
      await page.getByRole('button', { name: 'Create API key' }).click();
      const apiKeyField = page.getByLabel(/^API key /);
      await apiKeyField.waitFor();
      const apiKey = await apiKeyField.inputValue();
      assert.match(apiKey, /^tsk_[0-9a-f]{16}_/);
      const keys = (await t.admin$('GET', '/domains/alpha/services/api/api-keys')).json.apiKeys;
      assert.equal(keys.length, 1);
      await page.getByRole('button', { name: `Revoke API key ${keys[0].id}` }).click();
      await confirmDialog(page, `Revoke API key ${keys[0].id}?`, `Revoke ${keys[0].id}`);
      await page.getByText(`API key ${keys[0].id} is revoked.`).first().waitFor();
      assert.notEqual((await t.admin$('GET', '/domains/alpha/services/api/api-keys')).json.apiKeys[0].revokedAt, null);

      await page.getByRole('button', { name: 'Create join token' }).click();
      const joinField = page.getByLabel(/^Join token /);
      await joinField.waitFor();
      assert.match(await joinField.inputValue(), /^tsj_/);
      const tokens = (await t.admin$('GET', '/join-tokens?principal=alpha.api')).json.joinTokens;
      assert.equal(tokens.length, 1);
      await page.getByRole('button', { name: `Delete join token ${tokens[0].id}` }).click();
      await confirmDialog(page, `Delete join token ${tokens[0].id}?`, `Delete ${tokens[0].id}`);
      await page.getByText(`Join token ${tokens[0].id} is deleted.`).first().waitFor();
      assert.deepEqual((await t.admin$('GET', '/join-tokens?principal=alpha.api')).json.joinTokens, []);
      assert.deepEqual(await axeViolations(page), []);
    });
  });

  it('lists the certificates issued to the service and revokes one, with a reason', async () => {
    const joinToken = await t.admin$('POST', '/join-tokens', { principal: 'alpha.api' });
    const enroll = await t.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(await serviceKey('ec')), proof: { type: 'join-token', value: joinToken.json.token } }),
    });
    assert.equal(enroll.status, 201, enroll.text);
    const serial = ((await t.admin$('GET', '/domains/alpha/services/api/certificates')).json.certificates[0] as { serial: string }).serial;
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      await page.goto(`${t.url}/console/#/domains/alpha/services/api`);
      await page.getByRole('cell', { name: serial, exact: true }).waitFor();
      await page.getByLabel('Reason for revoking').selectOption('keyCompromise');
      await page.getByRole('button', { name: `Revoke certificate ${serial}` }).click();
      await confirmDialog(page, /^Revoke certificate /, 'Revoke certificate');
      await page.getByText(`Certificate ${serial} is revoked.`).first().waitFor();
      const record = (await t.admin$('GET', `/certificates/${serial}`)).json;
      assert.equal(record.revocationReason, 'keyCompromise');
      await page.getByLabel('Show').selectOption('revoked');
      await page.getByRole('cell', { name: 'revoked (keyCompromise)' }).waitFor();
      assert.deepEqual(await axeViolations(page), []);
      await page.screenshot({ path: join(await evidenceDir(), 'service-credentials.png'), fullPage: true });
    });
  });

  it("refuses another domain's service: the server says no", async () => {
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      await assertRefusedPage(w, t.url, '#/domains/beta/services/web', '/admin/v1/domains/beta/services/web', 'Service beta.web');
    });
  });
});
