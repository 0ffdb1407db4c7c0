// A stolen certificate and key can be renewed over mutual TLS, each renewal a new serial: the
// renewals are recorded as the stolen serial's lineage, and revoking it revokes them all. A
// domain admin can list a service's certificates (a page at a time) and revoke them all at once.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResponse } from '@tessera/testkit/https';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { assertRejected, csr, newKeys, postForm, renewOverMtls, sendMtls, tesseraCertificate, type ClientCertificate } from './mtls-support.ts';

const TOKEN = { grant_type: 'client_credentials', scope: 'beta:domain' };

interface ListedCertificate {
  serial: string;
  principal: string;
  thumbprint: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  revokedAt: string | null;
  revocationReason: string | null;
  renewedFrom: string | null;
}

function assertAdminError(res: TestResponse, status: number, error: string, message: RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error, res.text);
  assert.match(res.json.message, message);
}

describe("certificate lineage and a service's certificates", () => {
  let t: TestServer;
  let alphaAdminToken: string;
  let gammaAdminToken: string;

  before(async () => {
    t = await startTestServer();
    for (const name of ['alpha', 'beta', 'gamma']) assert.equal((await t.admin$('POST', '/domains', { name })).status, 201);
    for (const name of ['api', 'est', 'lister', 'incident']) assert.equal((await t.admin$('POST', '/domains/alpha/services', { name })).status, 201);
    const members = ['alpha.api', 'alpha.incident'].map((principal) => ({ principal }));
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members })).status, 201);
    const alphaOps = await t.admin$('POST', '/domains/alpha/services', { name: 'ops', secret: true });
    const gammaOps = await t.admin$('POST', '/domains/gamma/services', { name: 'ops', secret: true });
    assert.equal((await t.admin$('PUT', '/domains/alpha/roles/admin', { members: [{ principal: 'alpha.ops' }] })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/gamma/roles/admin', { members: [{ principal: 'gamma.ops' }] })).status, 201);
    const token = async (principal: string, secret: string, scope: string): Promise<string> =>
      (await t.token(principal, secret, { grant_type: 'client_credentials', scope })).json.access_token as string;
    alphaAdminToken = await token('alpha.ops', alphaOps.json.clientSecret, 'alpha:role.admin');
    gammaAdminToken = await token('gamma.ops', gammaOps.json.clientSecret, 'gamma:role.admin');
    assert.ok(alphaAdminToken && gammaAdminToken);
  });
  after(() => t.stop());

  const renewed = async (held: ClientCertificate, principal: string): Promise<ClientCertificate> => {
    const { res, renewed: next } = await renewOverMtls(t, held, principal);
    assert.equal(res.status, 201, res.text);
    return next!;
  };
  const list = (service: string, query = '', token?: string): Promise<TestResponse> =>
    t.admin$('GET', `/domains/alpha/services/${service}/certificates${query}`, undefined, token);

  it('revokes both renewals of a stolen certificate with it: refused at the token endpoint and for renewal', async () => {
    const stolen = await tesseraCertificate(t, 'alpha.api');
    const first = await renewed(stolen, 'alpha.api');
    const second = await renewed(first, 'alpha.api');
    assert.equal((await postForm(t, TOKEN, { client: second })).status, 200);

    const res = await t.admin$('POST', `/certificates/${stolen.serial}/revoke`, { reason: 'keyCompromise' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.descendantsRevoked, 2);

    for (const renewal of [first, second]) {
      const record = await t.admin$('GET', `/certificates/${renewal.serial}`);
      assert.equal(record.json.revocationReason, 'keyCompromise', record.text);
      assert.equal(record.json.revokedAt, res.json.revokedAt);
      assertRejected(await postForm(t, TOKEN, { client: renewal }), new RegExp(`\\(serial ${renewal.serial}\\) was revoked`));
      const again = (await renewOverMtls(t, renewal, 'alpha.api')).res;
      assertAdminError(again, 401, 'invalid_proof', new RegExp(`serial ${renewal.serial}\\) was revoked at .*bootstrap a new one`));
    }
    assert.equal((await t.admin$('GET', `/certificates/${second.serial}`)).json.renewedFrom, first.serial);

    const audit = await t.admin$('GET', '/audit?type=certificate.revoke&limit=10');
    const event = (audit.json.events as { after: { serial: string; descendantsRevoked: number } }[]).find((e) => e.after.serial === stolen.serial);
    assert.equal(event?.after.descendantsRevoked, 2, audit.text);
  });

  it('records an EST re-enrollment as a renewal, and revokes it with the certificate it renewed', async () => {
    const keys = await newKeys();
    const held = await tesseraCertificate(t, 'alpha.est');
    const body = (await csr(keys, 'alpha.est')).replace(/-----[A-Z ]+-----|\s/g, '');
    const est = await sendMtls(t, '/.well-known/est/simplereenroll', {
      method: 'POST',
      client: held,
      headers: { 'content-type': 'application/pkcs10' },
      body,
    });
    assert.equal(est.status, 200, est.text);
    const listed = (await list('est')).json.certificates as ListedCertificate[];
    const renewal = listed.find((c) => c.renewedFrom === held.serial);
    assert.ok(renewal, JSON.stringify(listed));
    assert.equal((await t.admin$('POST', `/certificates/${held.serial}/revoke`, {})).json.descendantsRevoked, 1);
    assert.equal((await t.admin$('GET', `/certificates/${renewal.serial}`)).json.revocationReason, 'unspecified');
  });

  it("lists a service's certificates newest first, following cursors with no duplicates and no gaps", async () => {
    const issued: ClientCertificate[] = [];
    for (let i = 0; i < 5; i++) issued.push(await tesseraCertificate(t, 'alpha.lister'));
    issued.push(await renewed(issued[4]!, 'alpha.lister'), await renewed(issued[0]!, 'alpha.lister'));

    const seen: ListedCertificate[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: TestResponse = await list('lister', `?limit=3${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.certificates.length <= 3);
      seen.push(...(res.json.certificates as ListedCertificate[]));
      cursor = res.json.nextCursor as string | null;
      pages++;
    } while (cursor !== null);
    assert.equal(pages, 3);
    assert.deepEqual(seen.map((c) => c.serial).sort(), issued.map((c) => c.serial).sort(), 'every certificate once');
    const order = [...seen].sort((a, b) => Date.parse(b.issuedAt) - Date.parse(a.issuedAt) || (a.serial < b.serial ? 1 : -1));
    assert.deepEqual(seen, order, 'newest first');

    const item = seen.find((c) => c.serial === issued[6]!.serial)!;
    assert.deepEqual(Object.keys(item).sort(), [
      'caId',
      'issuedAt',
      'notAfter',
      'notBefore',
      'principal',
      'provedByKey',
      'renewedFrom',
      'revocationReason',
      'revokedAt',
      'serial',
      'thumbprint',
    ]);
    assert.equal(item.principal, 'alpha.lister');
    assert.equal(item.thumbprint, issued[6]!.thumbprint);
    assert.equal(item.renewedFrom, issued[0]!.serial);
    assert.equal(new Date(item.notAfter).toISOString(), item.notAfter);
    assert.equal(item.revokedAt, null);

    // All on one page by default; by status.
    assert.equal((await list('lister')).json.certificates.length, 7);
    assert.equal((await list('lister')).json.nextCursor, null);
    assert.equal((await t.admin$('POST', `/certificates/${issued[1]!.serial}/revoke`, {})).status, 200);
    assert.deepEqual(
      (await list('lister', '?status=revoked')).json.certificates.map((c: ListedCertificate) => c.serial),
      [issued[1]!.serial],
    );
    assert.equal((await list('lister', '?status=active')).json.certificates.length, 6);
    assert.deepEqual((await list('lister', '?status=expired')).json.certificates, []);
  });

  it("lets the service's domain admin list and revoke its certificates, and not another domain's admin (403)", async () => {
    assert.equal((await list('lister', '', alphaAdminToken)).status, 200);
    const forbidden = /gamma.ops may not do this: the token needs sys.auth:role.admin or alpha:role.admin/;
    assertAdminError(await list('lister', '', gammaAdminToken), 403, 'forbidden', forbidden);
    const revokeAll = await t.admin$('POST', '/domains/alpha/services/lister/certificates/revoke', {}, gammaAdminToken);
    assertAdminError(revokeAll, 403, 'forbidden', forbidden);
    assert.equal((await list('lister', '?status=revoked')).json.certificates.length, 1, 'nothing was revoked');
  });

  it('revokes every live certificate of a service in one call, audited, and the service can bootstrap again', async () => {
    const held = [await tesseraCertificate(t, 'alpha.incident'), await tesseraCertificate(t, 'alpha.incident')];
    held.push(await renewed(held[0]!, 'alpha.incident'));
    const res = await t.admin$('POST', '/domains/alpha/services/incident/certificates/revoke', { reason: 'keyCompromise' }, alphaAdminToken);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { revoked: 3 });
    for (const certificate of held) assertRejected(await postForm(t, TOKEN, { client: certificate }), /was revoked/);
    const audit = await t.admin$('GET', '/audit?type=certificate.revoke-all&limit=10');
    const [event] = audit.json.events as { actor: string; target: string; after: { revoked: number; revocationReason: string } }[];
    assert.deepEqual([event?.actor, event?.target, event?.after.revoked, event?.after.revocationReason], ['alpha.ops', 'alpha.incident', 3, 'keyCompromise']);

    const fresh = await tesseraCertificate(t, 'alpha.incident');
    assert.equal((await postForm(t, TOKEN, { client: fresh })).status, 200);
    assert.deepEqual((await t.admin$('POST', '/domains/alpha/services/incident/certificates/revoke')).json, { revoked: 1 });
  });

  it('answers 400 for a limit out of range, a cursor it did not give out, or an unknown status', async () => {
    for (const limit of ['0', '1001', 'ten', '-1', '2.5']) {
      assertAdminError(await list('lister', `?limit=${limit}`), 400, 'invalid_request', /limit must be a whole number from 1 to 1000, not "/);
    }
    assert.equal((await list('lister', '?limit=1000')).status, 200);
    for (const cursor of ['not-a-cursor', Buffer.from('12.zz').toString('base64url'), '%2B%2F']) {
      const res = await list('lister', `?cursor=${cursor}`);
      assertAdminError(res, 400, 'invalid_request', /cursor is not one this list gave out; pass the nextCursor of the previous page unchanged/);
    }
    assertAdminError(await list('lister', '?status=live'), 400, 'invalid_request', /querystring.status must be one of active, revoked, expired/);
    assertAdminError(await list('lister', '?page=2'), 400, 'invalid_request', /unknown field "page"/);
  });

  it('answers 404 for an unknown service or domain, and 400 for a bad reason', async () => {
    assertAdminError(await list('nobody'), 404, 'not_found', /service "alpha.nobody" does not exist/);
    assertAdminError(await t.admin$('GET', '/domains/omega/services/api/certificates'), 404, 'not_found', /service "omega.api" does not exist/);
    const revokeAll = (service: string, body: unknown): Promise<TestResponse> =>
      t.admin$('POST', `/domains/alpha/services/${service}/certificates/revoke`, body);
    assertAdminError(await revokeAll('nobody', {}), 404, 'not_found', /service "alpha.nobody" does not exist/);
    assertAdminError(await revokeAll('lister', { reason: 'certificateHold' }), 400, 'invalid_request', /reason "certificateHold" is not one Tessera records/);
  });

  it('describes both routes in /openapi.json', async () => {
    const paths = (await t.send('/openapi.json')).json.paths;
    const listing = paths['/admin/v1/domains/{domain}/services/{service}/certificates']?.get;
    assert.ok(listing, Object.keys(paths).join('\n'));
    assert.deepEqual(
      listing.parameters
        .filter((p: { in: string }) => p.in === 'query')
        .map((p: { name: string }) => p.name)
        .sort(),
      ['cursor', 'limit', 'status'],
    );
    const page = listing.responses['200'].content['application/json'].schema;
    assert.ok(page.properties.nextCursor && page.properties.certificates.items.properties.renewedFrom);
    assert.ok(paths['/admin/v1/domains/{domain}/services/{service}/certificates/revoke']?.post);
  });
});
