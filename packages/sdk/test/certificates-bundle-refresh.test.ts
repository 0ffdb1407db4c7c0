// The certificate refresher fetches Tessera's trust bundle between renewals (`bundleRefresh`), so
// a service whose certificate outlives the CA's pre-publication window still learns a new root
// before the new generation signs: its mutual-TLS servers accept, and its agents trust, peers
// holding certificates of the new generation. A refresher that fetches the bundle only on renewal
// (`bundleRefresh: 0`) refuses them, which shows the test can fail.
//
// The server's clock starts a day and an hour in the past and moves to the activation of the
// rotation (24 h of pre-publication), so certificates of both generations are valid at the real
// time that TLS checks them against; certificates live 3 days, so none is renewed on its own.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request, type Agent, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { httpsCaClient } from '../src/certificates/ca-client.ts';
import { startRefresher } from '../src/certificates/refresher.ts';
import { createCertificateRefresher, type BundleEvent, type CertificateRefresher, type CertificateRefresherOptions } from '../src/index.ts';

const HOUR = 3_600_000;
const BUNDLE_REFRESH = 0.2;

function certificatesIn(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN (?:TRUSTED )?CERTIFICATE-----[\s\S]+?-----END (?:TRUSTED )?CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block),
  );
}

/** The issuing CAs of a bundle (Tessera's CAs are root → issuing CA): what the refresher's TLS anchors on. */
function issuingIn(pem: string): string[] {
  return certificatesIn(pem)
    .filter((certificate) => !certificate.checkIssued(certificate))
    .map((certificate) => certificate.fingerprint256)
    .sort();
}

function fingerprints(pem: string): string[] {
  return certificatesIn(pem)
    .map((certificate) => certificate.fingerprint256)
    .sort();
}

/** The `bundle` event, or a rejection after `ms`. */
function nextBundle(refresher: CertificateRefresher, ms = 5000): Promise<BundleEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no bundle event within ${ms} ms`)), ms);
    refresher.once('bundle', (event) => {
      clearTimeout(timer);
      resolve(event);
    });
  });
}

/** An agent of `refresher` for a server of `service` (identified by SPIFFE ID, not by address). */
function agentFor(refresher: CertificateRefresher, service: string): Agent {
  const spiffeId = `URI:spiffe://tessera.local/alpha/${service}`;
  return refresher.createAgent({
    keepAlive: false,
    checkServerIdentity: (_host, certificate) => (certificate.subjectaltname?.split(', ').includes(spiffeId) ? undefined : new Error(`not alpha.${service}`)),
  });
}

/** GET over `agent`: the status and body, or the client's error. */
function call(url: string, agent: Agent): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end();
  });
}

describe('certificate refresher trust bundle between renewals', () => {
  let t: TestServer;
  let clock = Date.now() - 25 * HOUR;
  const cleanups: (() => Promise<unknown> | void)[] = [];

  // Join tokens, not key assertions: an assertion is dated by the refresher's real clock, which
  // is a day ahead of the server's here, and the CA refuses an assertion issued in the future.
  const joinToken = async (name: string): Promise<{ joinToken: string }> => {
    const res = await t.admin$('POST', '/join-tokens', { principal: `alpha.${name}` });
    assert.equal(res.status, 201, res.text);
    return { joinToken: res.json.token as string };
  };

  const start = async (name: string, options: Partial<CertificateRefresherOptions> = {}): Promise<CertificateRefresher> => {
    const bootstrap = await joinToken(name);
    const refresher = await createCertificateRefresher({ server: t.url, ca: t.ca, principal: `alpha.${name}`, bootstrap, ...options });
    cleanups.push(() => refresher.close());
    return refresher;
  };

  /**
   * A mutual-TLS server with the refresher's certificate and trust. It completes handshakes with
   * any client certificate and says why it refuses one (a 403 with the verification error), so
   * a refusal is told apart from a connection that failed for another reason.
   */
  const serve = async (refresher: CertificateRefresher): Promise<string> => {
    const server: Server = createServer({ ...refresher.tlsOptions(), requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const socket = req.socket as TLSSocket;
      if (!socket.authorized) res.statusCode = 403;
      res.end(socket.authorized ? socket.getPeerX509Certificate()!.fingerprint256 : String(socket.authorizationError));
    });
    refresher.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    });
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  };

  before(async () => {
    // 3 days: renewal at about 2/3 comes well after the real time the test runs at.
    t = await startTestServer({ now: () => clock, env: { TESSERA_CA_CERT_LIFETIME: '3d' } });
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
    for (const name of ['following', 'static', 'newcomer', 'probe']) {
      assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    }
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await t.stop();
  });

  it('learns a new root as soon as a CA rotation is prepared, without renewing, and serves peers of the new generation once it signs', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'tessera-bundle-refresh-'));
    cleanups.push(() => rm(outDir, { recursive: true, force: true }));
    const following = await start('following', { bundleRefresh: BUNDLE_REFRESH, outDir });
    const still = await start('static', { bundleRefresh: 0 });
    const first = following.info();
    const held = following.current();
    const oldBundle = fingerprints(t.ca);
    const oldIssuing = issuingIn(t.ca);
    assert.equal(oldBundle.length, 2, 'the bundle holds the issuing CA and its root');
    assert.equal(oldIssuing.length, 1);
    assert.deepEqual(fingerprints(following.tlsOptions().ca), oldIssuing, 'TLS anchors on the issuing CA alone');
    assert.ok(first.renewAt.getTime() > Date.now() + 12 * HOUR, `no renewal planned during the test (${first.renewAt.toISOString()})`);
    const renewals: unknown[] = [];
    following.on('renewed', (event) => renewals.push(event));
    const followingUrl = await serve(following);
    const staticUrl = await serve(still);

    const learnt = nextBundle(following);
    const rotate = await t.admin$('POST', '/ca/rotate');
    assert.equal(rotate.status, 202, rotate.text);
    const published = fingerprints(t.ca);
    assert.equal(published.length, 4, 'the new generation is published next to the old one');

    const event = await learnt;
    assert.deepEqual(fingerprints(event.ca), published);
    assert.deepEqual(fingerprints(event.previous), oldBundle);
    assert.deepEqual(fingerprints(following.tlsOptions().ca), issuingIn(t.ca), 'tlsOptions().ca holds both issuing CAs');
    assert.equal(following.tlsOptions().cert, held.cert, 'the same certificate…');
    assert.equal(following.current(), held, '…not renewed');
    assert.deepEqual(following.info(), first);
    assert.deepEqual(renewals, []);
    // The bundle event is emitted before ca.pem is written; the write follows at once.
    const caPem = async (): Promise<string[]> => fingerprints(await readFile(join(outDir, 'ca.pem'), 'utf8'));
    for (let i = 0; i < 250 && (await caPem()).length < 4; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await caPem(), published, 'ca.pem holds both generations, roots included');
    assert.deepEqual(fingerprints(still.tlsOptions().ca), oldIssuing, 'with bundleRefresh 0 nothing is fetched between renewals');

    // The new generation signs: a service started now gets a certificate of it.
    clock = Date.parse(rotate.json.activatesAt as string);
    await t.server.ca.refresh();
    const newcomer = await start('newcomer');
    // Both generations' intermediates have the same name: they are told apart by fingerprint.
    const issuerOf = (refresher: CertificateRefresher): string => certificatesIn(refresher.current().cert)[1]!.fingerprint256;
    const leafOf = (refresher: CertificateRefresher): string => certificatesIn(refresher.current().cert)[0]!.fingerprint256;
    assert.notEqual(issuerOf(newcomer), issuerOf(following), 'the newcomer holds a certificate of the new generation');

    const accepted = await call(followingUrl, agentFor(newcomer, 'following'));
    assert.deepEqual(accepted, { status: 200, body: leafOf(newcomer) }, 'the refresher that followed the bundle accepts the new generation');
    const refused = await call(staticUrl, agentFor(newcomer, 'static'));
    assert.deepEqual(refused, { status: 403, body: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }, 'the refresher that fetches the bundle only on renewal refuses it');

    // The other way round: its agent trusts a server of the new generation.
    const newcomerUrl = await serve(newcomer);
    assert.deepEqual(await call(newcomerUrl, agentFor(following, 'newcomer')), { status: 200, body: leafOf(following) });
    assert.deepEqual(await call(newcomerUrl, agentFor(still, 'newcomer')), { error: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' });

    // Tessera's own certificate is of the new generation now; the held bundle verifies it.
    const renewed = await following.renew();
    assert.notEqual(renewed.serial, first.serial);
    assert.equal(issuerOf(following), issuerOf(newcomer));
  });

  it('keeps the bundle it holds when a fetch fails, tries again, and stops fetching on close()', async () => {
    let failing = true;
    let fetches = 0;
    const refresher = await startRefresher(
      { server: t.url, ca: t.ca, principal: 'alpha.probe', bootstrap: await joinToken('probe'), bundleRefresh: BUNDLE_REFRESH },
      {
        caClient: (settings, signal, trust) => {
          const real = httpsCaClient({ server: settings.server, trust, timeoutMs: settings.requestTimeoutMs, signal });
          return {
            ...real,
            bundle: async () => {
              fetches++;
              // The first fetch is the one of the bootstrap; later ones are the periodic refetches.
              if (fetches > 1 && failing) throw new Error('the bundle cannot be had');
              return real.bundle();
            },
          };
        },
        random: Math.random,
      },
    );
    cleanups.push(() => refresher.close());
    // Held before this test's rotation: one issuing CA fewer than the bundle will list.
    const before = refresher.tlsOptions();
    const rotate = await t.admin$('POST', '/ca/rotate');
    assert.equal(rotate.status, 202, rotate.text);
    while (fetches < 3) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(refresher.tlsOptions(), before, 'failed fetches change nothing');

    const learnt = nextBundle(refresher);
    failing = false;
    const event = await learnt;
    assert.deepEqual(fingerprints(event.ca), fingerprints(t.ca));
    assert.equal(fingerprints(refresher.tlsOptions().ca).length, fingerprints(before.ca).length + 1);

    await refresher.close();
    const after = fetches;
    await new Promise((resolve) => setTimeout(resolve, 5 * BUNDLE_REFRESH * 1000));
    assert.equal(fetches, after, 'no fetch after close()');
  });
});
