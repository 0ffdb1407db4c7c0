// Rotation under load (issue 6 item 5): a real Tessera rotates its signing key, and then its CA,
// while loops request tokens and SDK verifiers check every one, and while services holding
// certificates from the SDK's refresher keep making mutual-TLS connections. Verifiers and
// services are set up before the rotation, so what they hold (a cached JWKS, a trust bundle)
// predates it: the pre-publication windows are what must carry them across. The windows are
// shortened to seconds so that whole rotations happen within the run; the clock is real.

import assert from 'node:assert/strict';
import { X509Certificate, createHash, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { Agent, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { basic, startTestServer, type TestServer } from '@tessera/testkit/server';
import { createCertificateRefresher, createVerifier, InvalidTokenError, type CertificateRefresher, type Verifier } from '../src/index.ts';
import { Tally, errorCode, httpsCall, poll, runUntil, sleep, sleepUntil } from './helpers/load.ts';

const TOKEN_LOOPS = 4;
const VERIFIERS = 3;
const LOAD_MS = 10_000;
const CA_LOAD_MS = 8_000;
/** Well inside the CA's pre-publication window, so every service holds the new root before it signs. */
const RENEW_EVERY_MS = 700;

/** Windows of seconds, within what the configuration accepts (prePublication ≥ jwksMaxAge + checkInterval). */
const SHORT_WINDOWS = {
  TESSERA_SIGNING_PRE_PUBLICATION: '2',
  TESSERA_JWKS_MAX_AGE: '1',
  TESSERA_SIGNING_CHECK_INTERVAL: '1',
  TESSERA_SIGNING_ROTATION_INTERVAL: '1h',
  TESSERA_CA_PRE_PUBLICATION: '2',
  // The load comes from one client and one address; the limits are not what is measured here.
  TESSERA_RATE_LIMIT_CLIENT: '1000000',
  TESSERA_RATE_LIMIT_CLIENT_BURST: '1000000',
  TESSERA_RATE_LIMIT_IP: '1000000',
  TESSERA_RATE_LIMIT_IP_BURST: '1000000',
};

/** Verifies `token`, counting the outcome (`ok`, or the error's code and reason) instead of throwing. */
function verifyCounted(verifier: Verifier, token: string, tally: Tally): Promise<void> {
  return verifier.verify(token).then(
    () => tally.add('ok'),
    (error: unknown) => tally.add(error instanceof InvalidTokenError ? `${error.code} ${error.reason}` : errorCode(error)),
  );
}

describe('rotation under load', () => {
  let t: TestServer;
  let secret: string;

  before(async () => {
    t = await startTestServer({ env: SHORT_WINDOWS });
    assert.equal((await t.admin$('POST', '/domains', { name: 'beta' })).status, 201);
    const created = await t.admin$('POST', '/domains/beta/services', { name: 'api' });
    assert.equal(created.status, 201, created.text);
    secret = created.json.clientSecret as string;
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'beta.api' }] })).status, 201);
  });
  after(() => t.stop());

  it('signing-key rotation: every token issued while keys rotate verifies with verifiers made before the rotation', async () => {
    const agent = new Agent({ keepAlive: true, ca: t.ca });
    const issue = async (): Promise<{ status: number; token: string | null; text: string }> => {
      const res = await httpsCall(`${t.url}/oauth2/token`, agent, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('beta.api', secret) },
        body: 'grant_type=client_credentials&scope=beta%3Adomain',
      });
      return { status: res.status, token: res.status === 200 ? (JSON.parse(res.body).access_token as string) : null, text: res.body };
    };

    // Verifiers as a resource server makes them, once at its start: default cacheMaxAge (600 s)
    // and unknown-kid cooldown (30 s), both longer than the run. Only the JWKS's max-age (1 s)
    // brings them the new keys in time; the cooldown alone would refuse every token they sign.
    // No token cache, so verifying a token again at the end checks its signature again.
    const verifiers: Verifier[] = Array.from({ length: VERIFIERS }, () => createVerifier({ issuer: t.url, audience: 'beta', ca: t.ca, cacheSize: 0 }));
    const first = await issue();
    assert.equal(first.status, 200, first.text);
    for (const verifier of verifiers) await verifier.verify(first.token!);
    const firstKid = decodeProtectedHeader(first.token!).kid!;

    const tokenResults = new Tally();
    const verifications = new Tally();
    const kids = new Map<string, number>();
    const beforeRotation: string[] = [];
    const rotations: { kid: string; activatesAt: number }[] = [];
    const started = Date.now();
    const until = started + LOAD_MS;

    const rotate = async (at: number): Promise<void> => {
      await sleepUntil(at);
      const res = await t.admin$('POST', '/signing-keys/rotate');
      assert.equal(res.status, 202, res.text);
      assert.equal(res.json.created, true, 'a new key, not one already pending');
      rotations.push({ kid: res.json.kid as string, activatesAt: Date.parse(res.json.activatesAt as string) });
    };

    await Promise.all([
      runUntil(until, TOKEN_LOOPS, async () => {
        const issuedAt = Date.now();
        let answer: Awaited<ReturnType<typeof issue>>;
        try {
          answer = await issue();
        } catch (error) {
          tokenResults.add(errorCode(error));
          return;
        }
        if (answer.token === null) {
          tokenResults.add(`status ${answer.status}`);
          return;
        }
        tokenResults.add('ok');
        const kid = decodeProtectedHeader(answer.token).kid!;
        kids.set(kid, (kids.get(kid) ?? 0) + 1);
        if (rotations.length === 0 && issuedAt > started) beforeRotation.push(answer.token);
        await Promise.all(verifiers.map((verifier) => verifyCounted(verifier, answer.token!, verifications)));
      }),
      // Two rotations: the second new key meets verifiers that fetched the JWKS only seconds before.
      rotate(started + 1500).then(() => rotate(started + 5500)),
    ]);
    agent.destroy();
    const duration = Date.now() - started;

    // Tokens issued before the first rotation still verify once two newer keys sign.
    const again = new Tally();
    for (const token of beforeRotation) {
      await Promise.all(verifiers.map((verifier) => verifyCounted(verifier, token, again)));
    }
    // The last promotion is applied by the server's next check, up to a check interval after activation.
    const rotated = [firstKid, ...rotations.map((rotation) => rotation.kid)];
    const keys = await poll(
      async () => (await t.admin$('GET', '/signing-keys')).json.keys as { kid: string; state: string }[],
      (listed) =>
        listed
          .filter((key) => rotated.includes(key.kid))
          .map((key) => key.state)
          .sort()
          .join() === 'active,retired,retired',
      5000,
    );

    console.log(`# signing-key rotation under load: ${duration} ms, ${TOKEN_LOOPS} token loops, ${VERIFIERS} verifiers`);
    console.log(`# tokens issued: ${tokenResults.get('ok')}; token request failures: ${JSON.stringify(tokenResults.failures())}`);
    console.log(`# verifications: ${verifications.get('ok')} ok; failures: ${JSON.stringify(verifications.failures())}`);
    console.log(`# kids seen (tokens each): ${[...kids].map(([kid, count]) => `${kid}=${count}`).join(', ')}`);
    console.log(`# key states after: ${keys.map((key) => `${key.kid}=${key.state}`).join(', ')}`);
    console.log(
      `# pre-rotation tokens verified again: ${again.get('ok')} ok of ${beforeRotation.length * VERIFIERS}; failures: ${JSON.stringify(again.failures())}`,
    );

    assert.deepEqual(tokenResults.failures(), {}, 'every token request answered 200');
    assert.deepEqual(verifications.failures(), {}, 'no verification failed');
    assert.equal(verifications.get('ok'), tokenResults.get('ok') * VERIFIERS);
    assert.deepEqual([...kids.keys()], rotated, 'both new keys signed under load, in turn');
    assert.ok(beforeRotation.length > 0);
    assert.equal(again.get('ok'), beforeRotation.length * VERIFIERS, JSON.stringify(again.failures()));
    const states = Object.fromEntries(keys.map((key) => [key.kid, key.state]));
    assert.deepEqual(
      rotated.map((kid) => states[kid]),
      ['retired', 'retired', 'active'],
      'published, activated and retired within the run',
    );
  });

  it('CA rotation: mutual-TLS handshakes between services and to the token endpoint never fail while the CA rotates', async () => {
    const names = ['api', 'web'];
    const refreshers = new Map<string, CertificateRefresher>();
    const issuing = new IssuingCas();
    const renewals = new Tally();
    const cleanups: (() => Promise<unknown> | void)[] = [];
    try {
      assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
      for (const name of names) {
        const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const pem = key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
        assert.equal((await t.admin$('POST', '/domains/alpha/services', { name, publicKeys: [{ kid: 'k1', pem }] })).status, 201);
        const refresher = await createCertificateRefresher({
          server: t.url,
          ca: t.ca,
          principal: `alpha.${name}`,
          bootstrap: { privateKey: key.privateKey, kid: 'k1' },
        });
        cleanups.push(() => refresher.close());
        // Learnt before anything can use the certificate: `renewed` is emitted as it is installed.
        issuing.learn(refresher.current().cert);
        refresher.on('renewed', () => issuing.learn(refresher.current().cert));
        refresher.on('failed', ({ error }) => renewals.add(`failed ${error.code}`));
        refreshers.set(name, refresher);
      }
      const members = names.map((name) => ({ principal: `alpha.${name}` }));
      assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'beta.api' }, ...members] })).status, 200);

      // Each service serves mutual TLS with its refresher's certificate and trust bundle, and
      // answers with the CA generation of the client certificate it was shown.
      const handshakes = new Tally();
      const urls = new Map<string, string>();
      for (const [name, refresher] of refreshers) {
        const server = createHttpsServer({ ...refresher.tlsOptions(), requestCert: true, rejectUnauthorized: true }, (req, res) => {
          res.end(issuing.of((req.socket as TLSSocket).getPeerX509Certificate()));
        });
        refresher.attach(server);
        server.on('tlsClientError', (error) => handshakes.add(`server alpha.${name}: ${errorCode(error)}`));
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        cleanups.push(() => {
          server.closeAllConnections();
          server.close();
        });
        urls.set(name, `https://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      }

      /** CA generation (by issuing certificate) → certificates of it seen in completed handshakes, per role. */
      const seen = { serviceClient: new Tally(), serviceServer: new Tally(), tokenClient: new Tally() };
      const started = Date.now();
      const until = started + CA_LOAD_MS;
      let rotation: { id: string; activatesAt: number } | undefined;

      const loops: Promise<void>[] = [];
      for (const [name, refresher] of refreshers) {
        // keepAlive off: every request is a new connection, so a new handshake with the current certificate.
        for (const peer of names.filter((other) => other !== name)) {
          const agent = refresher.createAgent({
            keepAlive: false,
            // Service certificates name services, not hosts: the peer is checked by its SPIFFE ID.
            checkServerIdentity: (_host, certificate) =>
              certificate.subjectaltname?.split(', ').includes(`URI:spiffe://tessera.local/alpha/${peer}`) ? undefined : new Error(`not alpha.${peer}`),
          });
          loops.push(
            runUntil(until, 1, async () => {
              try {
                const answer = await httpsCall(urls.get(peer)!, agent);
                if (answer.status !== 200) return handshakes.add(`alpha.${name} → alpha.${peer}: status ${answer.status}`);
                handshakes.add('ok');
                seen.serviceClient.add(answer.body);
                seen.serviceServer.add(issuing.of(answer.socket.getPeerX509Certificate()));
              } catch (error) {
                handshakes.add(`alpha.${name} → alpha.${peer}: ${errorCode(error)}`);
              }
            }),
          );
        }
        const tokenAgent = refresher.createAgent({ keepAlive: false });
        loops.push(
          runUntil(until, 1, async () => {
            try {
              const answer = await httpsCall(`${t.url}/oauth2/token`, tokenAgent, {
                method: 'POST',
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
                body: `grant_type=client_credentials&scope=beta%3Adomain&client_id=alpha.${name}`,
              });
              if (answer.status !== 200) return handshakes.add(`alpha.${name} → token endpoint: status ${answer.status} ${answer.body.slice(0, 200)}`);
              const leaf = answer.socket.getX509Certificate();
              const cnf = decodeJwt(JSON.parse(answer.body).access_token as string)['cnf'] as Record<string, string> | undefined;
              if (leaf === undefined || cnf?.['x5t#S256'] !== createHash('sha256').update(leaf.raw).digest('base64url')) {
                return handshakes.add(`alpha.${name} → token endpoint: token not bound to the certificate presented`);
              }
              handshakes.add('ok');
              seen.tokenClient.add(issuing.of(leaf));
            } catch (error) {
              handshakes.add(`alpha.${name} → token endpoint: ${errorCode(error)}`);
            }
          }),
        );
        // Renewals much more often than the CA's pre-publication window, staggered between services.
        loops.push(
          runUntil(until, 1, async () => {
            await sleep(RENEW_EVERY_MS * (0.75 + 0.5 * Math.random()));
            await refresher.renew().then(
              () => renewals.add('ok'),
              (error: unknown) => renewals.add(errorCode(error)),
            );
          }),
        );
      }
      loops.push(
        (async () => {
          await sleepUntil(started + 1500);
          const res = await t.admin$('POST', '/ca/rotate');
          assert.equal(res.status, 202, res.text);
          assert.equal(res.json.created, true);
          rotation = { id: res.json.id as string, activatesAt: Date.parse(res.json.activatesAt as string) };
        })(),
      );
      await Promise.all(loops);
      const duration = Date.now() - started;

      const generations = await poll(
        async () => (await t.admin$('GET', '/ca/generations')).json.generations as { id: string; state: string; notAfter: string }[],
        (listed) => listed.map((generation) => generation.state).join() === 'active,old',
        5000,
      );
      // The old CA stays trusted until everything it signed has expired: its root is still in the bundle.
      const bundle = await t.send('/ca/v1/bundle');
      const bundleCertificates = (bundle.text.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;
      const generationOf = (label: string): string => generations.find((generation) => Date.parse(generation.notAfter) === Date.parse(label))?.id ?? label;
      const named = (tally: Tally): Record<string, number> => Object.fromEntries([...tally.counts].map(([label, count]) => [generationOf(label), count]));

      const activatedIn = rotation ? `${rotation.activatesAt - started} ms` : '?';
      console.log(`# CA rotation under load: ${duration} ms, ${names.length} services, new CA ${rotation?.id} signing from ${activatedIn} in`);
      console.log(`# mTLS handshakes: ${handshakes.get('ok')} ok; failures: ${JSON.stringify(handshakes.failures())}`);
      console.log(`# renewals: ${renewals.get('ok')} ok; failures: ${JSON.stringify(renewals.failures())}`);
      console.log(
        `# CA generations: ${generations.map((generation) => `${generation.id}=${generation.state}`).join(', ')}; certificates in /ca/v1/bundle: ${bundleCertificates}`,
      );
      console.log(`# generations seen: service client certificates ${JSON.stringify(named(seen.serviceClient))}`);
      console.log(`# generations seen: service server certificates ${JSON.stringify(named(seen.serviceServer))}`);
      console.log(`# generations seen: token-endpoint client certificates ${JSON.stringify(named(seen.tokenClient))}`);

      assert.deepEqual(handshakes.failures(), {}, 'no handshake or mTLS authentication failed');
      assert.deepEqual(renewals.failures(), {}, 'no renewal failed');
      assert.ok(rotation !== undefined);
      assert.deepEqual(
        generations.map((generation) => [generation.id === rotation!.id, generation.state]),
        [
          [true, 'active'],
          [false, 'old'],
        ],
        'the rotation was prepared, activated, and the first CA is old (still trusted)',
      );
      assert.equal(bundle.status, 200);
      assert.equal(bundleCertificates, 4, 'both generations (issuing CA and root) are in the trust bundle');
      const ids = generations.map((generation) => generation.id).sort();
      for (const [role, tally] of Object.entries(seen)) {
        assert.deepEqual(Object.keys(named(tally)).sort(), ids, `${role}: certificates of both CA generations completed handshakes`);
      }
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup();
    }
  });
});

/**
 * Which CA generation issued a certificate, told by its issuing (intermediate) certificate:
 * every generation has the same names, so only the key tells them apart. Labelled by the
 * issuing certificate's notAfter, which the admin API lists per generation.
 */
class IssuingCas {
  readonly #known: X509Certificate[] = [];
  readonly #labels = new Map<string, string>();

  /** Learns the intermediates of a PEM chain (leaf first). */
  learn(chainPem: string): void {
    const [, ...intermediates] = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    for (const pem of intermediates) {
      const certificate = new X509Certificate(pem);
      if (!this.#known.some((known) => known.fingerprint256 === certificate.fingerprint256)) this.#known.push(certificate);
    }
  }

  of(leaf: X509Certificate | undefined): string {
    if (leaf === undefined) return 'no certificate';
    let label = this.#labels.get(leaf.fingerprint256);
    if (label === undefined) {
      const issuer = this.#known.find((known) => leaf.checkIssued(known) && leaf.verify(known.publicKey));
      label = issuer === undefined ? 'unknown issuer' : new Date(issuer.validTo).toISOString();
      this.#labels.set(leaf.fingerprint256, label);
    }
    return label;
  }
}
