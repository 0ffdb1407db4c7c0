// Changes that need a second admin, in a real browser against a real server: a domain lists a
// role in approvalRequiredRoles; admin A adds a member in the console and is told the change waits
// (not applied, with its id and a link); A sees "Withdraw", not "Approve", and the server refuses
// A approving it; admin B signs in and approves (applied), rejects another (not applied); removing
// the role from the list is itself held; a bulk review of a held role answers a pending part.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { axeViolations, evidenceDir, findChromium, launchChromium, signInDomainAdmin, watchedPage, type Watched } from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

describe('the console: changes approved by a second admin', { skip, timeout: 240_000 }, () => {
  let t: TestServer;
  let browser: Browser;
  const secrets: Record<string, string> = {};

  const members = async (role: string): Promise<string[]> =>
    ((await t.admin$('GET', `/domains/pay/roles/${role}`)).json.members as Array<{ principal: string }>).map((m) => m.principal);
  const pending = async (): Promise<Array<{ id: string; kind: string; requestedBy: string }>> =>
    (await t.admin$('GET', '/domains/pay/approvals')).json.approvals;
  const signInAs = (w: Watched, who: string, hash: string): Promise<Page> => signInDomainAdmin(w, t.url, who, secrets[who]!, hash);
  const checked = async (page: Page): Promise<void> => {
    assert.deepEqual(await axeViolations(page), []);
  };

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
    assert.equal((await t.admin$('POST', '/domains', { name: 'pay' })).status, 201);
    for (const name of ['a1', 'a2', 'ci', 'batch'])
      secrets[`pay.${name}`] = (await t.admin$('POST', '/domains/pay/services', { name })).json.clientSecret as string;
    assert.equal((await t.admin$('PUT', '/domains/pay/roles/admin', { members: [{ principal: 'pay.a1' }, { principal: 'pay.a2' }] })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/pay/roles/writers', {})).status, 201);
    const patched = await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['writers'] });
    assert.equal(patched.status, 200, patched.text);
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it("holds A's change until B approves it; A may only withdraw, and the server refuses A approving", async () => {
    const w = await watchedPage(browser);
    try {
      const page = await signInAs(w, 'pay.a1', '#/domains/pay/roles/writers');
      await page.getByRole('heading', { level: 1, name: 'Role pay:role.writers' }).waitFor();
      await page.getByText('pay requires a second admin for this role').waitFor();
      await page.getByLabel('Principal', { exact: true }).fill('pay.ci');
      await page.getByRole('button', { name: 'Add member' }).click();
      const notice = page.getByRole('status').filter({ hasText: 'Waiting for a second admin’s approval' });
      await notice.waitFor();
      const text = (await notice.textContent()) ?? '';
      assert.match(text, /Adding pay\.ci to pay:role\.writers is not done yet\./);
      const id = /chg_[0-9a-f]{16}/.exec(text)?.[0];
      assert.ok(id, `the change's id is shown: ${text}`);
      assert.equal(await page.getByText('pay.ci is now a member').count(), 0, 'not reported as done');
      assert.equal(await page.getByRole('cell', { name: 'pay.ci', exact: true }).count(), 0, 'not listed as a member');
      assert.deepEqual(await members('writers'), [], 'not applied');
      assert.deepEqual(
        (await pending()).map((c) => [c.id, c.kind, c.requestedBy]),
        [[id, 'member.put', 'pay.a1']],
      );
      await checked(page);
      await page.screenshot({ path: join(await evidenceDir(), 'role-pending.png'), fullPage: true });

      // The domain page counts it and links to the approvals page, where A may only withdraw it.
      await page.getByRole('link', { name: 'pay', exact: true }).click();
      await page.getByRole('link', { name: 'Changes waiting for approval (1)' }).click();
      await page.getByRole('heading', { level: 1, name: 'Changes waiting for approval in pay' }).waitFor();
      const row = page.getByRole('row').filter({ hasText: id });
      await row.getByText('Add pay.ci to pay:role.writers (or set its dates): no expiry, no review date').waitFor();
      await row.getByText('pay.a1 (you)').waitFor();
      assert.equal(await row.getByRole('button', { name: `Withdraw change ${id}` }).count(), 1);
      assert.equal(await row.getByRole('button', { name: /^Approve/ }).count(), 0, 'the requester is not offered Approve');
      await checked(page);
      // The server refuses it anyway: a second admin must approve.
      const a1Token = (await t.token('pay.a1', secrets['pay.a1']!, { grant_type: 'client_credentials', scope: 'pay:role.admin' })).json.access_token as string;
      const self = await t.admin$('POST', `/approvals/${id}/approve`, {}, a1Token);
      assert.equal(self.status, 403);
      assert.match(self.json.message as string, /a second admin of pay must approve it/);
      w.assertClean();
    } finally {
      await w.close();
    }

    const b = await watchedPage(browser);
    try {
      const page = await signInAs(b, 'pay.a2', '#/domains/pay/approvals');
      await page.getByRole('heading', { level: 1, name: 'Changes waiting for approval in pay' }).waitFor();
      const id = (await pending())[0]!.id;
      await page.screenshot({ path: join(await evidenceDir(), 'approvals.png'), fullPage: true });
      await checked(page);
      await page.getByRole('button', { name: `Approve change ${id}` }).click();
      const dialog = page.getByRole('dialog', { name: `Approve change ${id}?` });
      await dialog.getByLabel('Reason (optional)').fill('checked with the team');
      await dialog.getByRole('button', { name: 'Approve' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Change ${id} was approved and applied` })
        .waitFor();
      await page.getByText('No change of pay waits for an approval.').waitFor();
      assert.deepEqual(await members('writers'), ['pay.ci'], 'applied once approved');
      const audit = (await t.admin$('GET', `/domains/pay/audit?target=${encodeURIComponent('pay:role.writers')}`)).json.events as Array<{
        type: string;
        actor: string;
        after: { approval?: { requestedBy: string; approvedBy: string } };
      }>;
      const put = audit.find((event) => event.type === 'role-member.put');
      assert.deepEqual([put?.actor, put?.after.approval?.requestedBy, put?.after.approval?.approvedBy], ['pay.a2', 'pay.a1', 'pay.a2']);
      b.assertClean();
    } finally {
      await b.close();
    }
  });

  it('rejects a change (not applied), and A withdraws its own', async () => {
    const w = await watchedPage(browser);
    try {
      const page = await signInAs(w, 'pay.a1', '#/domains/pay/roles/writers');
      await page.getByRole('heading', { level: 1, name: 'Role pay:role.writers' }).waitFor();
      await page.getByRole('button', { name: 'Remove pay.ci' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Remove pay.ci' }).click();
      await page.getByRole('status').filter({ hasText: 'Removing pay.ci from pay:role.writers is not done yet.' }).waitFor();
      assert.deepEqual(await members('writers'), ['pay.ci']);
      // An actor change of a held role waits too.
      await page.getByLabel('Actor principal').fill('gw.edge');
      await page.getByRole('button', { name: 'Add actor' }).click();
      await page.getByRole('status').filter({ hasText: 'Making gw.edge an actor of pay:role.writers is not done yet.' }).waitFor();
      assert.equal(await page.getByRole('listitem').filter({ hasText: 'gw.edge' }).count(), 0);
      assert.deepEqual((await t.admin$('GET', '/domains/pay/roles/writers')).json.actors, []);
      await page.getByRole('link', { name: 'Changes waiting in pay' }).last().click();
      await page.getByRole('heading', { level: 1, name: 'Changes waiting for approval in pay' }).waitFor();
      const actorChange = (await pending()).find((c) => c.kind === 'role.put')!;
      await page.getByText('Change pay:role.writers: actors become gw.edge').waitFor();
      await page.getByRole('button', { name: `Withdraw change ${actorChange.id}` }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Withdraw' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Change ${actorChange.id} was withdrawn; nothing was changed.` })
        .waitFor();
      assert.deepEqual(
        (await pending()).map((c) => c.kind),
        ['member.delete'],
      );
      w.assertClean();
    } finally {
      await w.close();
    }

    const b = await watchedPage(browser);
    try {
      const page = await signInAs(b, 'pay.a2', '#/domains/pay/approvals');
      const id = (await pending())[0]!.id;
      await page.getByRole('button', { name: `Reject change ${id}` }).click();
      const dialog = page.getByRole('dialog', { name: `Reject change ${id}?` });
      await dialog.getByLabel('Reason (optional)').fill('pay.ci still deploys');
      await dialog.getByRole('button', { name: 'Reject' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Change ${id} was rejected; nothing was changed.` })
        .waitFor();
      assert.deepEqual(await members('writers'), ['pay.ci'], 'a rejected removal is not applied');
      assert.deepEqual(await pending(), []);
      b.assertClean();
    } finally {
      await b.close();
    }
  });

  it('edits approvalRequiredRoles: adding applies at once, removing is held; a review of a held role answers a pending part', async () => {
    const w = await watchedPage(browser);
    try {
      const page = await signInAs(w, 'pay.a1', '#/domains/pay');
      await page.getByRole('heading', { level: 1, name: 'Domain pay' }).waitFor();
      const section = page.getByRole('region', { name: 'Roles needing a second admin' });
      await section.getByRole('listitem').filter({ hasText: 'writers' }).waitFor();
      await page.getByLabel('Role needing approval').fill('admin');
      await page.getByRole('button', { name: 'Require approval' }).click();
      await page.getByRole('status').filter({ hasText: 'Changes of pay:role.admin now need a second admin.' }).waitFor();
      assert.deepEqual((await t.admin$('GET', '/domains/pay')).json.approvalRequiredRoles, ['admin', 'writers']);
      await page.getByRole('button', { name: 'Remove writers from the roles needing approval' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Ask to remove writers' }).click();
      await page.getByRole('status').filter({ hasText: 'Removing writers from the roles needing a second admin is not done yet.' }).waitFor();
      assert.deepEqual((await t.admin$('GET', '/domains/pay')).json.approvalRequiredRoles, ['admin', 'writers'], 'held');
      assert.deepEqual(
        (await pending()).map((c) => c.kind),
        ['domain.update'],
      );
      await page.getByRole('link', { name: 'Changes waiting for approval (1)' }).waitFor();
      // Deleting a held role waits too.
      await page.getByRole('button', { name: 'Delete role pay:role.writers' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete pay:role.writers' }).click();
      await page.getByRole('status').filter({ hasText: 'Deleting the role pay:role.writers is not done yet.' }).waitFor();
      await page.getByRole('link', { name: 'Changes waiting for approval (2)' }).waitFor();
      assert.equal((await t.admin$('GET', '/domains/pay/roles/writers')).status, 200, 'the role is still there');
      await page.getByRole('link', { name: 'writers', exact: true }).waitFor();
      await checked(page);
      await page.screenshot({ path: join(await evidenceDir(), 'domain-approvals.png'), fullPage: true });

      // A review of a membership of a held role: the answer's pending part is shown, nothing applied.
      const reviewBy = new Date(Date.now() + 2 * 86_400_000).toISOString();
      assert.equal((await t.admin$('PUT', '/domains/pay/roles/readers', { members: [{ principal: 'pay.batch', reviewBy }] })).status, 201);
      assert.equal((await t.admin$('PATCH', '/domains/pay', { approvalRequiredRoles: ['writers', 'admin', 'readers'] })).status, 200);
      await page.getByRole('link', { name: 'Membership reviews' }).click();
      await page.getByRole('heading', { level: 1, name: 'Membership reviews' }).waitFor();
      await page.getByRole('checkbox', { name: 'Select pay.batch in pay:role.readers' }).check();
      await page.getByRole('button', { name: 'Extend selected' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Extend' }).click();
      await page.getByRole('status').filter({ hasText: 'Extending 1 membership of pay is not done yet.' }).waitFor();
      const member = (await t.admin$('GET', '/domains/pay/roles/readers')).json.members[0];
      assert.equal(member.reviewBy, reviewBy, 'held: the review date is unchanged');
      await page.getByRole('link', { name: 'pay', exact: true }).first().click();
      await page.getByRole('link', { name: 'Changes waiting for approval (3)' }).click();
      await page.getByText('Extend 1 membership to review by').waitFor();
      await page.getByText('Delete the role pay:role.writers with its members').waitFor();
      await page.getByText('Stop requiring a second admin for writers in pay').waitFor();
      w.assertClean();
    } finally {
      await w.close();
    }
  });
});
