// The system page in a real browser against a real server: a system admin opens it from the
// header, sees the signing keys and CA generations with their next rotation, that storage answers,
// and the token rates (a chart of tokens issued and requests refused per hour or day, the
// refusals by code) after some token traffic; rotates the signing key and the CA after confirming
// (and changes nothing when it cancels; a second CA rotation while one is pending adds none); a
// domain admin has no link, no rotation button, and is refused by the server (the page and the
// CA rotation alike).
// Checked like every console page: CSP, console errors, requests leaving 127.0.0.1, axe-core;
// photographed.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { axeViolations, confirmDialog, evidenceDir, findChromium, launchChromium, signIn, watchedPage } from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

describe('the console: the system page', { skip, timeout: 120_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  const secrets = new Map<string, string>();
  const generationStates = async (): Promise<string[]> => {
    const res = await t.admin$('GET', '/ca/generations');
    return (res.json.generations as { state: string }[]).map((g) => g.state).sort();
  };
  const keyStates = async (): Promise<string[]> => {
    const res = await t.admin$('GET', '/signing-keys');
    return (res.json.keys as { state: string }[]).map((k) => k.state).sort();
  };

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
    for (const name of ['api', 'ops']) {
      const res = await t.admin$('POST', '/domains/alpha/services', { name });
      assert.equal(res.status, 201, res.text);
      secrets.set(`alpha.${name}`, res.json.clientSecret as string);
    }
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/readers', { members: [{ principal: 'alpha.api' }] })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.ops' }] })).status, 201);
    // Token traffic: tokens issued, a wrong secret twice (refused before authentication), a role not held (after it).
    for (let i = 0; i < 3; i++) {
      const res = await t.token('alpha.api', secrets.get('alpha.api')!, { grant_type: 'client_credentials', scope: 'alpha:role.readers' });
      assert.equal(res.status, 200, res.text);
    }
    for (let i = 0; i < 2; i++) assert.equal((await t.token('alpha.api', 'wrong', { grant_type: 'client_credentials' })).status, 401);
    const refused = await t.token('alpha.api', secrets.get('alpha.api')!, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    assert.equal(refused.status, 403, refused.text);
    await t.server.flushAudit();
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('shows keys, generations, storage and token rates to a system admin, and rotates the signing key and the CA after confirming', async () => {
    const w = await watchedPage(browser);
    const page = w.page;
    try {
      await page.goto(`${t.url}/console/`);
      await signIn(page, t.admin.clientId, t.admin.clientSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'System' }).click();
      await page.getByRole('heading', { level: 1, name: 'System' }).waitFor();
      assert.equal(await page.getByRole('navigation', { name: 'Sections' }).locator('[aria-current="page"]').textContent(), 'System');

      const rows = (caption: string) =>
        page
          .locator('table')
          .filter({ has: page.locator('caption', { hasText: caption }) })
          .locator('tbody tr')
          .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
      const keys = await rows('Token-signing keys');
      assert.equal(keys.length, 1);
      assert.match(keys[0]!.slice(1, 3).join(' | '), /^ES256 \| active \(signs\)$/);
      const keySection = page.locator('section', { has: page.getByRole('heading', { name: 'Signing keys' }) });
      assert.match((await keySection.locator('p').first().textContent()) ?? '', /^Next rotation: \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in \d+ days\)\.$/);
      const generations = await rows('CA generations');
      assert.equal(generations.length, 1);
      assert.equal(generations[0]![1], 'active (signs)');
      const caSection = page.locator('section', { has: page.getByRole('heading', { name: 'CA generations' }) });
      assert.match((await caSection.locator('p').first().textContent()) ?? '', /^Next rotation: /);
      const storage = page.locator('section', { has: page.getByRole('heading', { name: 'Storage' }) });
      assert.match((await storage.textContent()) ?? '', /BackendSQLite.*Healthy: answered in [\d.]+ ms.*Ready \(\/readyz\)Yes/);

      // The bootstrap admin's own tokens count too: at least the 3 above, and exactly the 3 refusals.
      const summary = (await page.locator('#token-rates ~ p').first().textContent()) ?? '';
      const issued = Number(/^(\d+) tokens issued and 3 requests refused since /.exec(summary)?.[1]);
      assert.ok(issued >= 3, summary);
      await page
        .getByRole('img', {
          name: new RegExp(`^Tokens issued and requests refused per hour: issued, the most, ${issued}, from .+; refused, the most, 3, from `),
        })
        .waitFor();
      assert.equal(await page.locator('svg.chart rect.bar.issued').count(), 25);
      assert.equal(await page.locator('svg.chart rect.bar.refused').count(), 25);
      const refusals = await rows('Refused requests by error code');
      assert.deepEqual(
        refusals.find((row) => row[0] === 'AUTH_101'),
        ['AUTH_101', '2'],
      );
      assert.equal(
        refusals.reduce((sum, row) => sum + Number(row[1]), 0),
        3,
      );
      assert.deepEqual(await axeViolations(page), []);
      await page.screenshot({ path: join(await evidenceDir(), 'system.png'), fullPage: true });

      // Cancel changes nothing; the keyboard alone confirms.
      const rotate = page.getByRole('button', { name: 'Rotate signing key now' });
      await rotate.click();
      const dialog = page.getByRole('dialog', { name: 'Rotate the signing key now?' });
      await dialog.waitFor();
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      assert.deepEqual(await keyStates(), ['active']);
      await rotate.focus();
      await page.keyboard.press('Enter');
      await dialog.waitFor();
      assert.deepEqual(await axeViolations(page), []);
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await page
        .getByRole('status')
        .filter({ hasText: /^Key .+ was published; it signs from / })
        .waitFor();
      assert.deepEqual(await keyStates(), ['active', 'next']);
      assert.equal((await rows('Token-signing keys'))[0]![2], 'next (published, not signing yet)');

      // The CA: Cancel changes nothing; confirmed, a new generation is prepared and shown, and a second rotation adds none.
      const rotateCa = page.getByRole('button', { name: 'Rotate CA now' });
      await rotateCa.click();
      const caDialog = page.getByRole('dialog', { name: 'Rotate the CA now?' });
      await caDialog.waitFor();
      const caText = (await caDialog.textContent()) ?? '';
      assert.match(caText, /new root and intermediate enter the trust bundle now/);
      assert.match(caText, /Certificates issued by the current CA stay valid until they expire/);
      assert.match(caText, /nothing is revoked/);
      assert.deepEqual(await axeViolations(page), []);
      await page.screenshot({ path: join(await evidenceDir(), 'system-ca-rotate-confirm.png'), fullPage: true });
      await caDialog.getByRole('button', { name: 'Cancel' }).click();
      await caDialog.waitFor({ state: 'detached' });
      assert.deepEqual(await generationStates(), ['active'], 'cancel changes nothing');
      await rotateCa.click();
      await confirmDialog(page, 'Rotate the CA now?', 'Rotate CA now');
      const caStatus = caSection.getByRole('status').filter({ hasText: /^CA generation .+ was created: it is in the trust bundle now and signs from / });
      await caStatus.waitFor();
      assert.deepEqual(await generationStates(), ['active', 'prepared']);
      const listed = await t.admin$('GET', '/ca/generations');
      const prepared = (listed.json.generations as { id: string; state: string; activatesAt: string }[]).find((g) => g.state === 'prepared')!;
      assert.match((await caStatus.textContent()) ?? '', new RegExp(`^CA generation ${prepared.id} was created`));
      const afterRotation = await rows('CA generations');
      assert.equal(afterRotation.length, 2);
      assert.deepEqual([afterRotation[0]![0], afterRotation[0]![1]], [prepared.id, 'prepared (in the bundle, not signing yet)']);
      assert.match((await caSection.locator('p').first().textContent()) ?? '', /^Next rotation: /);
      assert.deepEqual(await axeViolations(page), []);
      await page.screenshot({ path: join(await evidenceDir(), 'system-ca-rotated.png'), fullPage: true });
      await rotateCa.click();
      await confirmDialog(page, 'Rotate the CA now?', 'Rotate CA now');
      await caSection
        .getByRole('status')
        .filter({ hasText: `A rotation was already pending: generation ${prepared.id} signs from ` })
        .waitFor();
      assert.deepEqual(await generationStates(), ['active', 'prepared'], 'a pending rotation is not repeated');

      await page.getByRole('link', { name: 'Last 7 days' }).click();
      await page.getByRole('img', { name: /^Tokens issued and requests refused per day: / }).waitFor();
      assert.equal(await page.locator('svg.chart rect.bar.issued').count(), 8);
      assert.deepEqual(await axeViolations(page), []);
      w.assertClean();
    } finally {
      await w.close();
    }
  });

  it('gives a domain admin no link, and the server refuses it the page', async () => {
    const w = await watchedPage(browser);
    const page = w.page;
    try {
      w.expectFailedLoad(403, '/oauth2/token');
      await page.goto(`${t.url}/console/`);
      await signIn(page, 'alpha.ops', secrets.get('alpha.ops')!);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      assert.equal(await page.getByRole('link', { name: 'System' }).count(), 0);
      for (const path of ['/admin/v1/signing-keys', '/admin/v1/ca/generations', '/admin/v1/system/storage', '/admin/v1/system/token-rates']) {
        w.expectFailedLoad(403, path);
      }
      const refused = page.waitForResponse((response) => new URL(response.url()).pathname === '/admin/v1/system/storage');
      await page.goto(`${t.url}/console/#/system`);
      assert.equal((await refused).status(), 403);
      await page.getByRole('heading', { level: 1, name: 'System' }).waitFor();
      assert.match((await page.getByRole('alert').textContent()) ?? '', /^You may not see this: .+ \(403 forbidden\)$/);
      assert.equal(await page.locator('svg.chart').count(), 0);
      assert.equal(await page.getByRole('button', { name: 'Rotate CA now' }).count(), 0, 'no CA rotation for a domain admin');
      assert.equal(await page.getByRole('button', { name: 'Rotate signing key now' }).count(), 0);
      assert.deepEqual(await axeViolations(page), []);
      w.assertClean();
    } finally {
      await w.close();
    }
    // Nor can it rotate the CA through the API the page would call, with its own token.
    const token = await t.token('alpha.ops', secrets.get('alpha.ops')!, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    assert.equal(token.status, 200, token.text);
    const before = await generationStates();
    const refused = await t.admin$('POST', '/ca/rotate', undefined, token.json.access_token as string);
    assert.equal(refused.status, 403, refused.text);
    assert.deepEqual(await generationStates(), before);
  });
});
