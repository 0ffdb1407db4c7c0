// The trust-bundle module on its own, against a loopback HTTPS server that serves a bundle and
// can switch its certificate to another CA: what is accepted as a bundle, when it is fetched,
// over which trust, and what a failure leaves in place. The source's clock is injected; the
// sockets are real.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { tesseraTrust } from '../src/http/anchors.ts';
import { sendRequest } from '../src/http/request.ts';
import { bundleRefreshSeconds, followTrustBundle, parseTrustBundle, type TrustSource } from '../src/http/trust-bundle.ts';
import { createTokenClient, createVerifier } from '../src/index.ts';
import { createTestPki, type TestPki } from '@tessera/testkit/pki';
import { sleep } from './helpers/load.ts';

const HOUR = 3600_000;

interface BundleServer {
  url: string;
  server: Server;
  /** Paths requested, in order. */
  requests: string[];
  /** TLS handshakes the client gave up on. */
  failedHandshakes: number;
  /** What GET /ca/v1/bundle answers; `hang` never answers. */
  answer: { status: number; body: string } | 'hang';
}

async function startBundleServer(pki: TestPki): Promise<BundleServer> {
  const state: BundleServer = { url: '', server: undefined as unknown as Server, requests: [], failedHandshakes: 0, answer: { status: 200, body: '' } };
  state.server = createServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
    state.requests.push(req.url ?? '');
    const { answer } = state;
    if (answer === 'hang') return;
    res.writeHead(answer.status, { 'content-type': 'application/pem-certificate-chain' });
    res.end(answer.body);
  });
  state.server.on('tlsClientError', () => state.failedHandshakes++);
  state.server.listen(0, '127.0.0.1');
  await once(state.server, 'listening');
  state.url = `https://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

describe('trust bundle', () => {
  let oldCa: TestPki;
  let newCa: TestPki;
  let tessera: BundleServer;
  const sources: TrustSource[] = [];
  let clock = Date.parse('2030-01-01T00:00:00Z');
  const follow = (options: Partial<Parameters<typeof followTrustBundle>[0]> = {}): TrustSource => {
    const source = followTrustBundle({ ca: oldCa.ca.cert, server: `${tessera.url}/oauth2/token`, refreshSeconds: 3600, now: () => clock, ...options });
    sources.push(source);
    return source;
  };
  const both = (): string => `${newCa.ca.cert}${oldCa.ca.cert}`;
  const switchTo = (pki: TestPki): void => tessera.server.setSecureContext({ cert: pki.server.cert, key: pki.server.key });

  before(async () => {
    oldCa = createTestPki();
    newCa = createTestPki();
    tessera = await startBundleServer(oldCa);
  });
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((source) => source.close()));
    tessera.requests.length = 0;
    tessera.answer = { status: 200, body: both() };
    switchTo(oldCa);
    tessera.server.closeAllConnections();
  });
  after(async () => {
    tessera.server.closeAllConnections();
    await new Promise((resolve) => tessera.server.close(resolve));
    oldCa.dispose();
    newCa.dispose();
  });

  describe('parseTrustBundle', () => {
    it('accepts PEM CA certificates and normalizes line ends', () => {
      const parsed = parseTrustBundle(`\n${newCa.ca.cert.replaceAll('\n', '\r\n')}\n${oldCa.ca.cert}\n\n`);
      assert.equal(parsed, `${newCa.ca.cert.trim()}\n${oldCa.ca.cert.trim()}\n`);
    });

    for (const [name, body] of [
      ['an empty answer', () => ''],
      ['JSON', () => '{"keys":[]}'],
      ['a certificate followed by an HTML page', () => `${oldCa.ca.cert}<html>oops</html>`],
      ['a private key next to a certificate', () => `${oldCa.ca.cert}${oldCa.ca.key}`],
      ['a PEM block that is not a certificate', () => '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
      ['a leaf certificate (not a CA)', () => oldCa.server.cert],
    ] as const) {
      it(`refuses ${name}`, () => {
        assert.throws(() => parseTrustBundle(body()), /trust bundle/);
      });
    }
  });

  /** Moves the source's clock on and lets it fetch if one is due; resolves once that fetch ended. */
  const advance = async (trust: TrustSource, ms: number): Promise<void> => {
    clock += ms;
    trust.anchors();
    await trust.settled();
  };

  it('trusts ca alone for the first interval, then ca plus the bundle fetched in the background', async () => {
    const trust = follow();
    assert.deepEqual(trust.anchors(), tesseraTrust(oldCa.ca.cert));
    await advance(trust, HOUR - 1);
    assert.equal(tessera.requests.length, 0, 'no fetch within the first interval');
    clock += 1;
    assert.deepEqual(trust.anchors(), tesseraTrust(oldCa.ca.cert), 'the request that starts a fetch does not wait for it');
    await trust.settled();
    assert.deepEqual(tessera.requests, ['/ca/v1/bundle'], 'read from the server origin');
    const anchors = trust.anchors();
    assert.deepEqual(anchors, tesseraTrust(oldCa.ca.cert, parseTrustBundle(both())));
    assert.equal(trust.anchors(), anchors, 'the same value while nothing changed');

    switchTo(newCa);
    tessera.server.closeAllConnections();
    const fresh = new Agent({ keepAlive: false });
    const answer = await sendRequest(new URL(`${tessera.url}/healthz`), { trust: trust.anchors(), agent: fresh });
    assert.equal(answer.status, 200, 'the new root verifies the switched certificate');
    await assert.rejects(sendRequest(new URL(`${tessera.url}/healthz`), { trust: tesseraTrust(oldCa.ca.cert), agent: fresh }), /certificate/);
    fresh.destroy();
  });

  it('fetches again each bundleRefresh, one request for many callers, keeping the value when the bundle is unchanged', async () => {
    const trust = follow();
    await advance(trust, HOUR);
    const first = trust.anchors();
    await advance(trust, HOUR - 1);
    assert.equal(tessera.requests.length, 1, 'not fetched again within an interval');
    tessera.answer = 'hang';
    clock += 1;
    for (let i = 0; i < 10; i++) trust.anchors();
    await waitForRequests(2);
    await sleep(50);
    assert.equal(tessera.requests.length, 2, 'single flight');
    tessera.server.closeAllConnections(); // the hung request fails; the trust stays
    await trust.settled();
    assert.equal(trust.anchors(), first);

    tessera.answer = { status: 200, body: both() };
    await advance(trust, 30_000);
    assert.equal(tessera.requests.length, 3);
    assert.equal(trust.anchors(), first, 'an unchanged bundle leaves the value, so keep-alive pools stay');
  });

  it('keeps the last good trust when the answer is not a bundle, and tries again 30 s later', async () => {
    const trust = follow();
    await advance(trust, HOUR);
    const good = trust.anchors();
    let requests = 1;
    for (const answer of [
      { status: 200, body: '{"error":"nope"}' },
      { status: 200, body: oldCa.server.cert },
      { status: 404, body: '' },
      { status: 503, body: both() },
    ]) {
      tessera.answer = answer;
      await advance(trust, requests === 1 ? HOUR : 1); // due: an interval after a success, 30 s after a failure
      assert.equal(tessera.requests.length, ++requests);
      assert.equal(trust.anchors(), good, `kept after ${answer.status} ${answer.body.slice(0, 20)}`);
      await advance(trust, 29_999);
      assert.equal(tessera.requests.length, requests, 'no new request within the cooldown');
    }
    tessera.answer = { status: 200, body: newCa.ca.cert };
    await advance(trust, 1);
    assert.equal(tessera.requests.length, requests + 1);
    assert.deepEqual(trust.anchors(), tesseraTrust(oldCa.ca.cert, parseTrustBundle(newCa.ca.cert)));
  });

  it('takes a bundle only from a server the current trust verifies', async () => {
    switchTo(newCa);
    const handshakes = tessera.failedHandshakes;
    const trust = follow();
    await advance(trust, HOUR);
    assert.equal(tessera.requests.length, 0, 'the handshake failed before any request');
    await sleep(20);
    assert.equal(tessera.failedHandshakes, handshakes + 1);
    assert.deepEqual(trust.anchors(), tesseraTrust(oldCa.ca.cert));
  });

  it('follows a rotation: the new root is learned before the switch, and later bundles come over the new chain', async () => {
    tessera.answer = { status: 200, body: oldCa.ca.cert };
    const trust = follow();
    const configured = trust.anchors();
    await advance(trust, HOUR);
    assert.equal(trust.anchors(), configured, 'a bundle that says what ca says changes nothing');
    tessera.answer = { status: 200, body: both() }; // the new root is pre-published
    await advance(trust, HOUR);
    switchTo(newCa);
    tessera.server.closeAllConnections();
    tessera.answer = { status: 200, body: newCa.ca.cert }; // the old generation has left the bundle
    await advance(trust, HOUR);
    assert.deepEqual(trust.anchors(), tesseraTrust(oldCa.ca.cert, parseTrustBundle(newCa.ca.cert)));
    assert.equal(tessera.requests.length, 3);
  });

  it('leaves ca alone without ca, for an http server, or with bundleRefresh 0', async () => {
    const cases = [follow({ ca: undefined }), follow({ server: tessera.url.replace('https:', 'http:') }), follow({ refreshSeconds: 0 })];
    clock += 10 * HOUR;
    assert.deepEqual(
      cases.map((trust) => trust.anchors()),
      [undefined, tesseraTrust(oldCa.ca.cert), tesseraTrust(oldCa.ca.cert)],
    );
    await Promise.all(cases.map((trust) => trust.settled()));
    assert.equal(tessera.requests.length, 0);
  });

  it('close() ends a fetch under way and starts no other', async () => {
    tessera.answer = 'hang';
    const trust = follow();
    clock += HOUR;
    trust.anchors();
    await waitForRequests(1);
    const sockets = (): number => process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap').length;
    const open = sockets(); // the client's and the server's end
    await trust.close();
    assert.ok(sockets() < open, 'the client socket is closed when close() resolves');
    await advance(trust, HOUR);
    assert.equal(tessera.requests.length, 1);
  });

  it('checks bundleRefresh: seconds ≥ 0, 3600 by default, on both option types', () => {
    assert.equal(bundleRefreshSeconds(undefined), 3600);
    assert.equal(bundleRefreshSeconds(0), 0);
    for (const bad of [-1, Number.NaN, Infinity, '60']) {
      assert.throws(() => bundleRefreshSeconds(bad), TypeError);
      assert.throws(
        () =>
          createTokenClient({
            tokenEndpoint: `${tessera.url}/oauth2/token`,
            credentials: { clientId: 'a.b', clientSecret: 's' },
            bundleRefresh: bad as number,
          }),
        /bundleRefresh/,
      );
      assert.throws(() => createVerifier({ issuer: tessera.url, audience: 'beta', bundleRefresh: bad as number }), /bundleRefresh/);
    }
  });

  async function waitForRequests(count: number): Promise<void> {
    for (let waited = 0; tessera.requests.length < count; waited += 10) {
      if (waited > 5000) throw new Error(`${tessera.requests.length} requests, not ${count}`);
      await sleep(10);
    }
  }
});
