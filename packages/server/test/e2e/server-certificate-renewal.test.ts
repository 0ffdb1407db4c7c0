// Tessera's own HTTPS certificate is renewed in place, without a restart: at 2/3 of its life,
// and when a CA rotation hands signing to a new generation; the client-certificate trust bundle
// of the listener follows the CA's. Connections opened before a renewal keep working.
//
// The server's clock starts 25 days in the past, so every certificate issued along the way is
// also valid at the real time and real TLS clients verify them as they would in production.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Agent, request } from 'node:https';
import { connect, type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@tessera/testkit/server';

const DAY = 86_400_000;
const LIFETIME = 30 * DAY;

/** The certificate the server presents to a new connection, verified against `ca`. */
function presented(url: string, ca: string): Promise<DetailedPeerCertificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca }, () => {
      const certificate = socket.getPeerCertificate(true);
      socket.end();
      resolve(certificate);
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

/** GET over `agent`: the status, whether the request reused an open connection, and the serial that connection saw. */
function get(url: string, agent: Agent): Promise<{ status: number; reused: boolean; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/healthz`, { agent, timeout: 10_000 }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, serial }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** How many CA names the server lists in its client-certificate request: one per certificate of the bundle it trusts. */
async function acceptableCaNames(url: string): Promise<number> {
  const { host } = new URL(url);
  const run = promisify(execFile)('openssl', ['s_client', '-connect', host], { timeout: 10_000 });
  run.child.stdin?.end(); // s_client ends the session at end of input
  const { stdout } = await run.catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  const lines = stdout.split('\n');
  const start = lines.indexOf('Acceptable client certificate CA names');
  assert.ok(start >= 0, `openssl s_client listed no acceptable CA names:\n${stdout}`);
  // Each name is a DN line (`O = Tessera, CN = Tessera Root CA`); the next section is not.
  const end = lines.findIndex((line, i) => i > start && !/^[A-Za-z]+ = /.test(line));
  return end - start - 1;
}

function pems(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
}

describe('server certificate renewal', () => {
  let t: TestServer;
  let clock = Date.now() - 25 * DAY;
  const startedAt = clock;
  let agent: Agent;
  /** The bundle at start: t.ca follows rotations. */
  let startup: string;

  before(async () => {
    t = await startTestServer({ now: () => clock });
    startup = t.ca;
    agent = new Agent({ keepAlive: true, maxSockets: 1, ca: startup });
  });
  after(async () => {
    agent.destroy();
    await t.stop();
  });

  it('renews the certificate in place at 2/3 of its life, and connections opened before keep working', async () => {
    const first = await presented(t.url, startup);
    assert.ok(Math.abs(Date.parse(first.valid_to) - (startedAt + LIFETIME)) <= 1000, `notAfter ${first.valid_to}`);
    const kept = await get(t.url, agent);
    assert.deepEqual(kept, { status: 200, reused: false, serial: first.serialNumber });

    clock = startedAt + 19 * DAY;
    await t.server.ca.refresh();
    assert.equal((await presented(t.url, startup)).serialNumber, first.serialNumber, 'not renewed before 2/3 of its life');

    clock = startedAt + 21 * DAY;
    await t.server.ca.refresh();
    const second = await presented(t.url, startup);
    assert.notEqual(second.serialNumber, first.serialNumber);
    assert.ok(Math.abs(Date.parse(second.valid_to) - (clock + LIFETIME)) <= 1000, `notAfter ${second.valid_to}`);
    assert.equal(second.issuer.CN, first.issuer.CN);
    assert.equal(second.issuerCertificate.fingerprint256, first.issuerCertificate.fingerprint256, 'same CA generation');

    // The keep-alive connection still has the handshake, and so the certificate, it began with.
    assert.deepEqual(await get(t.url, agent), { status: 200, reused: true, serial: first.serialNumber });
  });

  it('after a CA rotation, presents a certificate of the new generation and trusts its root for client certificates', async () => {
    assert.equal(await acceptableCaNames(t.url), 2, 'the issuing CA and its root');
    const before = await presented(t.url, startup);

    const rotate = await t.admin$('POST', '/ca/rotate');
    assert.equal(rotate.status, 202, rotate.text);
    const bundle = await t.send('/ca/v1/bundle');
    assert.equal(bundle.status, 200);
    const newGeneration = pems(bundle.text).filter((pem) => !pems(startup).includes(pem));
    assert.equal(newGeneration.length, 2, 'the bundle holds the new issuing CA and root next to the old ones');
    const newRoot = newGeneration.join('\n');

    // In the listener's trust bundle at once; the old generation still signs until activation.
    assert.equal(await acceptableCaNames(t.url), 4);
    assert.equal((await presented(t.url, startup)).serialNumber, before.serialNumber);

    clock = Date.parse(rotate.json.activatesAt);
    await t.server.ca.refresh();
    const after = await presented(t.url, newRoot);
    assert.notEqual(after.serialNumber, before.serialNumber);
    assert.ok(Math.abs(Date.parse(after.valid_to) - (clock + LIFETIME)) <= 1000, `notAfter ${after.valid_to}`);
    assert.notEqual(after.issuerCertificate.fingerprint256, before.issuerCertificate.fingerprint256, 'issued by the new intermediate');
    await assert.rejects(presented(t.url, startup), /certificate/i, 'the startup bundle does not verify the new chain');
    assert.equal((await presented(t.url, bundle.text)).serialNumber, after.serialNumber);
    assert.equal(await acceptableCaNames(t.url), 4);
    // A client that re-reads the published bundle (t.ca, as ca.pem) goes on talking to the server.
    assert.equal(t.ca, bundle.text);
    assert.equal((await t.admin$('GET', '/ca/generations')).status, 200);
  });
});
