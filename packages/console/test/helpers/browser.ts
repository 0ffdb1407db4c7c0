// A headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) for the console's
// tests, and a page that records what every test must check: the CSP header of each document,
// console errors and uncaught exceptions (a CSP violation is a console error), and every URL the
// page asks for (all must stay on 127.0.0.1). Without chromium the tests are skipped, unless
// TESSERA_REQUIRE_CHROMIUM=1 (CI sets it), which makes them fail.

import assert from 'node:assert/strict';
import { access, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ROOT = join(import.meta.dirname, '..', '..', '..', '..');

/** The browser, or why the tests are skipped. */
export async function findChromium(): Promise<{ path: string } | { skip: string }> {
  try {
    await access(CHROMIUM);
    return { path: CHROMIUM };
  } catch (error) {
    if (process.env['TESSERA_REQUIRE_CHROMIUM'] === '1') {
      throw new Error(`TESSERA_REQUIRE_CHROMIUM=1 but ${CHROMIUM} is missing: apt-get install chromium`, { cause: error });
    }
    return { skip: `no ${CHROMIUM} (apt-get install chromium): the console is not checked in a browser` };
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking'] });
}

/** Where screenshots and measurements go: `<TESSERA_TEST_LOG_DIR or .test-evidence>/console/`. */
export async function evidenceDir(): Promise<string> {
  const base = process.env['TESSERA_TEST_LOG_DIR'] ?? '.test-evidence';
  const dir = join(ROOT, base, 'console');
  await mkdir(dir, { recursive: true });
  return dir;
}

export interface Watched {
  context: BrowserContext;
  page: Page;
  /** Every URL the page requested. */
  requests: string[];
  /** Console errors and warnings, and uncaught exceptions, as text. */
  problems: string[];
  /** Documents loaded (URL → their Content-Security-Policy header). */
  documents: Map<string, string | undefined>;
  /** Allows the browser's line about a failed request (`Failed to load resource … 401`) for an answer the test expects. */
  expectFailedLoad(status: number, path: string): void;
  /** Asserts no problems, every request on 127.0.0.1, and the CSP on every document. */
  assertClean(): void;
  close(): Promise<void>;
}

export const EXPECTED_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export async function watchedPage(browser: Browser): Promise<Watched> {
  // The server's certificate is from its own test CA; the browser is told to accept it rather than
  // being given a CA store. Nothing else about TLS matters to these tests.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, serviceWorkers: 'block', viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  const documents = new Map<string, string | undefined>();
  const expected: Array<{ status: number; path: string }> = [];
  context.on('request', (request) => requests.push(request.url()));
  page.on('response', (response) => {
    if (response.request().resourceType() === 'document') documents.set(response.url(), response.headers()['content-security-policy']);
  });
  page.on('console', (message) => {
    if (message.type() !== 'error' && message.type() !== 'warning') return;
    const text = message.text();
    const failed = /^Failed to load resource: the server responded with a status of (\d+)/.exec(text);
    if (failed) {
      const path = new URL(message.location().url).pathname;
      if (expected.some((e) => e.status === Number(failed[1]) && e.path === path)) return;
    }
    problems.push(`console ${message.type()}: ${text} (${message.location().url})`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  return {
    context,
    page,
    requests,
    problems,
    documents,
    expectFailedLoad: (status, path) => expected.push({ status, path }),
    assertClean() {
      assert.deepEqual(problems, [], 'no console errors, CSP violations or uncaught exceptions');
      const away = requests.filter((url) => new URL(url).hostname !== '127.0.0.1');
      assert.deepEqual(away, [], 'every request stays on 127.0.0.1');
      assert.ok(requests.length > 0);
      assert.ok(documents.size > 0, 'a document was loaded');
      for (const [url, csp] of documents) assert.equal(csp, EXPECTED_CSP, `the CSP of ${url}`);
    },
    close: () => context.close(),
  };
}

const AXE_SOURCE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** Where the test serves axe-core to the page: same origin, so the page's `script-src 'self'` allows it. */
const AXE_PATH = '/__test__/axe.min.js';

/**
 * axe-core's serious and critical violations on the page as it is now. The page's CSP refuses
 * inline scripts, so addScriptTag({ path }) (which inlines the file) is refused; instead the
 * browser context answers a same-origin URL with axe's file from node_modules, and
 * addScriptTag({ url }) loads it like any of the console's own scripts, with the CSP enforced.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate("'axe' in window"))) {
    await page.context().route(`**${AXE_PATH}`, (route) => route.fulfill({ path: AXE_SOURCE, contentType: 'text/javascript; charset=utf-8' }));
    await page.addScriptTag({ url: AXE_PATH });
  }
  const results = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")) as {
    violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }>;
  };
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.impact} ${violation.id}: ${violation.help} at ${violation.nodes.map((node) => JSON.stringify(node.target)).join(', ')}`);
}

/** Fills the sign-in form (the page shows it) and submits it. */
export async function signIn(page: Page, clientId: string, secret: string, domain = ''): Promise<void> {
  await page.getByLabel('Client id').fill(clientId);
  await page.getByLabel('Client secret').fill(secret);
  if (domain) await page.getByLabel('Domain to administer (optional)').fill(domain);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Runs `body` on a new watched page, asserts the page clean (assertClean) when it returns, and closes it whatever happens. */
export async function onWatchedPage(browser: Browser, body: (w: Watched) => Promise<void>): Promise<void> {
  const w = await watchedPage(browser);
  try {
    await body(w);
    w.assertClean();
  } finally {
    await w.close();
  }
}

/**
 * Signs a domain admin in from a fresh load of the console at `hash` (the page it opens after
 * signing in). The sign-in first asks for the system admin role, which the server refuses (403 at
 * /oauth2/token) before it asks for the domain's: the watched page is told to expect that.
 */
export async function signInDomainAdmin(w: Watched, url: string, clientId: string, secret: string, hash = ''): Promise<Page> {
  w.expectFailedLoad(403, '/oauth2/token');
  await w.page.goto(`${url}/console/${hash}`);
  await signIn(w.page, clientId, secret);
  return w.page;
}

/**
 * Opens `hash` on a signed-in page and checks that the server refused the call behind it (403 at
 * `apiPath`, the page having sent its bearer token) and that the page says so under `heading`.
 */
export async function assertRefusedPage(w: Watched, url: string, hash: string, apiPath: string, heading: string): Promise<void> {
  const refused = w.page.waitForResponse((response) => new URL(response.url()).pathname === apiPath);
  w.expectFailedLoad(403, apiPath);
  await w.page.goto(`${url}/console/${hash}`);
  const answer = await refused;
  assert.equal(answer.status(), 403, `the server refuses ${apiPath}`);
  assert.equal(answer.request().headers()['authorization']?.startsWith('Bearer '), true);
  await w.page.getByRole('heading', { level: 1, name: heading }).waitFor();
  assert.match((await w.page.getByRole('alert').textContent()) ?? '', /^You may not see this: .+ \(403 forbidden\)$/);
}

/** Confirms the open dialog named `title` with its button `label` (dom.ts confirmAction). */
export async function confirmDialog(page: Page, title: string | RegExp, label: string): Promise<void> {
  const dialog = page.getByRole('dialog', { name: title });
  await dialog.waitFor();
  await dialog.getByRole('button', { name: label }).click();
}
