// An outside review of the console as a browser-side attacker (review 10): what the page builds
// from data it did not choose (key ids, reasons, principals, the hash, the OpenID return), where
// the session token can go, and what the server's headers let a browser keep or frame. A failing
// test here is a hole; a passing one is a check that held.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { csrFor, serviceKey } from '../../server/test/helpers/ca-client.ts';
import { confirmDialog, findChromium, launchChromium, onWatchedPage, signIn, signInDomainAdmin } from './helpers/browser.ts';

const found = await findChromium();
const skip = 'skip' in found ? found.skip : false;

describe('review 10: the console under attack', { skip, timeout: 240_000 }, () => {
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
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it("removing a key whose id is '..' removes that key (its DELETE is not resolved as a dot segment)", async () => {
    // Key ids may be any of [A-Za-z0-9._-]{1,128}, so '..' and '.' are ids. The console builds
    // DELETE /admin/v1/domains/alpha/services/victim/keys/.. and the browser resolves the dot
    // segment (encodeURIComponent leaves dots, and %2E%2E is a dot segment too): what leaves is
    // DELETE /admin/v1/domains/alpha/services/victim/ — another resource than the key. Today that
    // is a 404 (the router keeps trailing slashes apart), so a key planted as '..' cannot be
    // removed from the console; with a router that ignored trailing slashes, the service would go.
    const key = await serviceKey('ec');
    const made = await t.admin$('POST', '/domains/alpha/services', { name: 'victim', publicKeys: [{ kid: '..', pem: key.publicPem }] });
    // A server that refuses dot-segment key ids closes the hole: nothing to remove then.
    if (made.status === 400) {
      assert.match(made.json.message as string, /the key id "\.\." is refused/);
      return;
    }
    assert.equal(made.status, 201, JSON.stringify(made.json));
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      const sent: string[] = [];
      page.on('request', (request) => {
        if (request.method() === 'DELETE') sent.push(new URL(request.url()).pathname);
      });
      await page.goto(`${t.url}/console/#/domains/alpha/services/victim`);
      await page.getByRole('heading', { level: 1, name: 'Service alpha.victim' }).waitFor();
      await page.getByRole('button', { name: 'Remove key ..' }).click();
      await confirmDialog(page, 'Remove key .. of alpha.victim?', 'Remove ..');
      await page.waitForTimeout(1000);
      w.problems.length = 0;
      const service = await t.admin$('GET', '/domains/alpha/services/victim');
      assert.equal(service.status, 200, `the service is still there (DELETE sent to ${sent.join(', ')})`);
      const keys = (await t.admin$('GET', '/domains/alpha/services/victim/keys')).json.keys as Array<{ kid: string }>;
      assert.deepEqual(sent, ['/admin/v1/domains/alpha/services/victim/keys/..'], 'the DELETE that left the page names the key');
      assert.deepEqual(
        keys.map((k) => k.kid),
        [],
        'the key is removed',
      );
    });
  });

  it('sign-out says the token was revoked only when the server revoked it', async () => {
    // The revocation's answer is not read (session.ts revoke(): no response.ok check, and
    // endSession swallows a failure): a 5xx, a 429 or a dropped connection leaves the token valid
    // while the page tells the person it was revoked.
    await onWatchedPage(browser, async (w) => {
      // Listening before signing in: the page's first API call may come before signInDomainAdmin returns.
      const firstCall = w.page.waitForRequest((request) => new URL(request.url()).pathname.startsWith('/admin/v1/domains'));
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      const bearer = (await firstCall).headers()['authorization'] ?? '';
      const token = bearer.replace(/^Bearer /, '');
      assert.ok(token.length > 20);
      await page.route('**/admin/v1/session', (route) =>
        route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"unavailable","message":"try later"}' }),
      );
      w.expectFailedLoad(503, '/admin/v1/session');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('Client id').waitFor();
      const said = (await page.locator('#main').textContent()) ?? '';
      const stillValid = (await t.admin$('GET', '/domains/alpha', undefined, token)).status === 200;
      assert.equal(stillValid, true, 'the revocation failed: the token still works');
      assert.doesNotMatch(said, /the session token was revoked/, 'the page does not claim a revocation that did not happen');
    });
  });

  it('holds: markup in descriptions, reasons and error texts stays text, and no script runs', async () => {
    const payload = '<img src=x onerror="document.title=`pwned`"><svg onload="document.title=`pwned`"></svg><a href="javascript:alert(1)">x</a>';
    assert.equal((await t.admin$('PATCH', '/domains/alpha/services/ops', { description: payload })).status, 200);
    const reasonRole = await t.admin$('PUT', '/domains/alpha/roles/gated', {});
    assert.ok([200, 201].includes(reasonRole.status));
    assert.equal((await t.admin$('PATCH', '/domains/alpha', { approvalRequiredRoles: ['gated'], reason: payload })).status, 200);
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      for (const hash of ['#/domains/alpha', '#/domains/alpha/services/ops', '#/domains/alpha/timeline']) {
        await page.goto(`${t.url}/console/${hash}`);
        await page.locator('h1').first().waitFor();
        await page.waitForTimeout(300);
        assert.equal(await page.locator('#main img, #main svg a, #main a[href^="javascript"], #main script').count(), 0, `no markup from data on ${hash}`);
      }
      assert.ok(((await page.locator('#main').textContent()) ?? '').includes('<img src=x'), 'the reason shows as text');
      // The hash, decoded, is shown as text on the not-found page.
      await page.goto(`${t.url}/console/#/${encodeURIComponent('<img src=x onerror=alert(1)>')}`);
      await page.getByRole('heading', { level: 1, name: 'Not found' }).waitFor();
      assert.equal(await page.locator('#main img').count(), 0);
      assert.doesNotMatch(await page.title(), /pwned/);
    });
  });

  it("holds: a domain admin's pages for another domain show the server's refusal and nothing of it", async () => {
    assert.equal((await t.admin$('POST', '/domains/beta/services', { name: 'secretive', description: 'beta-only text' })).status, 201);
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      const pages: Array<[string, string]> = [
        ['#/domains/beta/timeline', '/admin/v1/domains/beta/audit'],
        ['#/domains/beta/approvals', '/admin/v1/domains/beta/approvals'],
        ['#/domains/beta/callers', '/admin/v1/domains/beta/callers/series'],
        ['#/domains/beta/services/secretive', '/admin/v1/domains/beta/services/secretive'],
        ['#/domains/beta/roles/admin', '/admin/v1/domains/beta/roles/admin'],
      ];
      for (const [hash, apiPath] of pages) {
        w.expectFailedLoad(403, apiPath);
        const refused = page.waitForResponse((response) => new URL(response.url()).pathname === apiPath);
        await page.goto(`${t.url}/console/${hash}`);
        assert.equal((await refused).status(), 403, `the server refuses ${apiPath}`);
        await page.getByRole('alert').first().waitFor();
        assert.doesNotMatch((await page.locator('#main').textContent()) ?? '', /beta-only text/, `nothing of beta on ${hash}`);
      }
    });
  });

  it('holds: the token stays in memory (no storage, cookie, URL) and a crafted ?code=&state= signs nobody in', async () => {
    await onWatchedPage(browser, async (w) => {
      // Listening before signing in: the page's first API call may come before signInDomainAdmin returns.
      const firstCall = w.page.waitForRequest((request) => new URL(request.url()).pathname.startsWith('/admin/v1/'));
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret);
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      const token = ((await firstCall).headers()['authorization'] ?? '').replace(/^Bearer /, '');
      const kept = (await page.evaluate(
        '[JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.cookie, location.href, document.referrer]',
      )) as string[];
      for (const place of kept) assert.ok(!place.includes(token), 'the token is in no storage, cookie or URL');
      assert.ok(!w.requests.some((url) => url.includes(token)), 'no request URL carries the token');

      const served = await t.send('/console/');
      assert.equal(served.headers['x-frame-options'], 'DENY');
      assert.equal(served.headers['x-content-type-options'], 'nosniff');
      assert.equal(served.headers['referrer-policy'], 'no-referrer');
    });
    await onWatchedPage(browser, async (w) => {
      const posted: string[] = [];
      w.page.on('request', (request) => {
        if (request.method() === 'POST') posted.push(new URL(request.url()).pathname);
      });
      await w.page.goto(`${t.url}/console/?code=attackers-code&state=attackers-state#/domains`);
      await w.page.getByRole('alert').waitFor();
      assert.match((await w.page.getByRole('alert').textContent()) ?? '', /not started from this tab/);
      assert.deepEqual(posted, [], 'the code is not sent anywhere');
      assert.equal(new URL(w.page.url()).search, '', 'the code leaves the address bar');
    });
  });

  it("a hash naming the domain '..' or '.' keeps the page's API calls inside /admin/v1/domains/", async () => {
    // parseRoute() takes any decoded segment as a domain, and encodeURIComponent leaves dots: a
    // link to #/domains/../timeline makes the page GET /admin/v1/domains/../audit, which the
    // browser resolves to /admin/v1/audit (every domain's audit, for a system admin) and shows it
    // as "Timeline of ..". The server still authorizes; the page asked for something else.
    await onWatchedPage(browser, async (w) => {
      await w.page.goto(`${t.url}/console/`);
      await signIn(w.page, t.admin.clientId, t.admin.clientSecret);
      await w.page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      const asked: string[] = [];
      w.page.on('request', (request) => {
        const path = new URL(request.url()).pathname;
        if (path.startsWith('/admin/v1/')) asked.push(path);
      });
      for (const hash of ['#/domains/../timeline', '#/domains/../approvals', '#/domains/./timeline']) {
        await w.page.goto(`${t.url}/console/${hash}`);
        await w.page.locator('h1').first().waitFor();
        await w.page.waitForTimeout(300);
      }
      w.problems.length = 0;
      const outside = asked.filter((path) => !path.startsWith('/admin/v1/domains/'));
      assert.deepEqual(outside, [], 'no call leaves the named domain');
    });
  });

  it('sign-out takes the signed-in page and a secret shown once off the screen at once, even when the revocation is slow', async () => {
    // endSession() awaits the revocation (a fetch with no timeout) before it replaces <main>: while
    // DELETE /admin/v1/session hangs (a slow or unreachable server), the page signed out of keeps
    // showing every row it had, and a client secret shown once, with live buttons, for as long as
    // the request takes: on a shared screen, the person walked away believing it gone.
    await onWatchedPage(browser, async (w) => {
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret, '#/domains/alpha');
      await page.getByRole('heading', { level: 1, name: 'Domain alpha' }).waitFor();
      await page.getByLabel('Service name').fill('shown-once');
      await page.getByRole('button', { name: 'Create service' }).click();
      const secret = page.getByLabel('Client secret of alpha.shown-once');
      await secret.waitFor();
      const value = await secret.inputValue();
      assert.ok(value.length > 20);
      await page.route('**/admin/v1/session', () => undefined); // never answered
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForTimeout(2000);
      const html = await page.content();
      w.problems.length = 0;
      assert.ok(!html.includes(value), 'the client secret shown once is gone from the page two seconds after sign-out');
      assert.equal(await page.getByRole('heading', { level: 1, name: 'Domain alpha' }).count(), 0, 'the domain page is gone');
    });
  });

  it("holds: the calls the console makes with ids from data are refused for another domain's objects", async () => {
    // What a domain admin could send by editing what the page sends (the reviews inbox's items, an
    // approval id, a certificate serial, a join token's principal): the server must refuse.
    const soon = new Date(Date.now() + 86_400_000).toISOString();
    assert.equal((await t.admin$('POST', '/domains/beta/services', { name: 'b1' })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'beta.b1', reviewBy: soon }] })).status, 201);
    assert.ok([200, 201].includes((await t.admin$('PUT', '/domains/beta/roles/held', {})).status));
    assert.equal((await t.admin$('PATCH', '/domains/beta', { approvalRequiredRoles: ['held'] })).status, 200);
    const pending = await t.admin$('PUT', '/domains/beta/roles/held/members/beta.b1', {});
    assert.equal(pending.status, 202, pending.text);
    const joinToken = await t.admin$('POST', '/join-tokens', { principal: 'beta.b1' });
    const enroll = await t.send('/ca/v1/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: await csrFor(await serviceKey('ec')), proof: { type: 'join-token', value: joinToken.json.token } }),
    });
    assert.equal(enroll.status, 201, enroll.text);
    const serial = ((await t.admin$('GET', '/domains/beta/services/b1/certificates')).json.certificates[0] as { serial: string }).serial;

    const granted = await t.token('alpha.ops', opsSecret, { grant_type: 'client_credentials', scope: 'alpha:role.admin' });
    const token = granted.json.access_token as string;
    const as = (method: string, path: string, body?: unknown) => t.admin$(method, path, body, token);
    const due = (await as('GET', '/reviews?within=2592000')).json.memberships as Array<{ domain: string }>;
    assert.deepEqual(
      due.filter((m) => m.domain !== 'alpha'),
      [],
      "the inbox lists no other domain's memberships",
    );
    const bulk = await as('POST', '/reviews', { items: [{ domain: 'beta', role: 'readers', principal: 'beta.b1' }], action: 'remove' });
    assert.ok([403, 404].includes(bulk.status), `bulk refused: ${bulk.status} ${bulk.text}`);
    const approve = await as('POST', `/approvals/${pending.json.id as string}/approve`, {});
    assert.ok([403, 404].includes(approve.status), `approve refused: ${approve.status} ${approve.text}`);
    const reject = await as('POST', `/approvals/${pending.json.id as string}/reject`, {});
    assert.ok([403, 404].includes(reject.status), `reject refused: ${reject.status} ${reject.text}`);
    const revoke = await as('POST', `/certificates/${serial}/revoke`, { reason: 'keyCompromise' });
    assert.ok([403, 404].includes(revoke.status), `revoke refused: ${revoke.status} ${revoke.text}`);
    const join = await as('POST', '/join-tokens', { principal: 'beta.b1', ttlSeconds: 600 });
    assert.ok([403, 404].includes(join.status), `join refused: ${join.status} ${join.text}`);
    const joins = await as('GET', '/join-tokens?principal=beta.b1');
    assert.ok([403, 404].includes(joins.status), `joins refused: ${joins.status} ${joins.text}`);
    const members = (await t.admin$('GET', '/domains/beta/roles/readers/members')).json.members as unknown[];
    assert.equal(members.length, 1, 'beta.b1 is still a member');
  });

  it('holds: a secret shown once leaves the document when the person navigates away, and the token when they sign out', async () => {
    await onWatchedPage(browser, async (w) => {
      const firstCall = w.page.waitForRequest((request) => new URL(request.url()).pathname.startsWith('/admin/v1/'));
      const page = await signInDomainAdmin(w, t.url, 'alpha.ops', opsSecret, '#/domains/alpha');
      await page.getByRole('heading', { level: 1, name: 'Domain alpha' }).waitFor();
      const token = ((await firstCall).headers()['authorization'] ?? '').replace(/^Bearer /, '');
      await page.getByLabel('Service name').fill('navigated');
      await page.getByRole('button', { name: 'Create service' }).click();
      const secret = page.getByLabel('Client secret of alpha.navigated');
      await secret.waitFor();
      const value = await secret.inputValue();
      await page.getByRole('link', { name: 'Domains', exact: true }).first().click();
      await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
      assert.ok(!(await page.content()).includes(value), 'the secret is not in the document after navigation');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('Client id').waitFor();
      assert.equal((await t.admin$('GET', '/domains/alpha', undefined, token)).status, 401, 'the token is refused after sign-out');
      // (The polite live region #announcer keeps its last message, "Service alpha.navigated created.", after sign-out: no secret.)
      const shown = await page.locator('#main, #session-bar, #breadcrumbs, #site-nav').allTextContents();
      assert.doesNotMatch(shown.join(' '), /alpha\.ops|alpha\.navigated/, 'nothing of the session is left on screen');
    });
  });

  it('the admin API answers that carry a secret shown once say cache-control: no-store', async () => {
    // The console's own fetches use cache: 'no-store', but the answers themselves do not forbid
    // storing (no cache-control at all, unlike /oauth2/token's no-store): any other client, or a
    // caching proxy in front of the server, may keep a client secret, an API key or a join token.
    const service = await t.admin$('POST', '/domains/alpha/services', { name: 'cached' });
    // An API key toward beta needs a role there.
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/cache-readers', { members: [{ principal: 'alpha.cached' }] })).status, 201);
    const rotated = await t.admin$('POST', '/domains/alpha/services/cached/secrets', { graceSeconds: 0 });
    const apiKey = await t.admin$('POST', '/domains/alpha/services/cached/api-keys', { audience: 'beta' });
    const join = await t.admin$('POST', '/join-tokens', { principal: 'alpha.cached', ttlSeconds: 600 });
    const answers: Array<[string, { status: number; headers: Record<string, string | string[] | undefined> }]> = [
      ['POST /domains/alpha/services', service],
      ['POST /domains/alpha/services/cached/secrets', rotated],
      ['POST /domains/alpha/services/cached/api-keys', apiKey],
      ['POST /join-tokens', join],
    ];
    for (const [what, answer] of answers) {
      assert.ok(answer.status >= 200 && answer.status < 300, `${what}: ${answer.status}`);
      assert.match(String(answer.headers['cache-control'] ?? ''), /no-store/, `${what} is no-store`);
    }
  });
});
