import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError, NotFoundError, StorageUnavailableError } from '../../../src/storage/errors.ts';
import type { StoreHarness } from './harness.ts';
import { admin, storeTest } from './harness.ts';

export function lifecycleAndDomains(harness: StoreHarness): void {
  describe('lifecycle and meta', () => {
    storeTest(harness, 'answers ping while the database is up', async (store) => {
      await store.ping();
    });

    storeTest(harness, 'fails ping with StorageUnavailableError once closed', async (store) => {
      await store.close();
      await assert.rejects(store.ping(), StorageUnavailableError);
    });

    storeTest(harness, 'keeps the first value initMeta stored', async (store) => {
      assert.equal(await store.initMeta('installation', 'first'), 'first');
      assert.equal(await store.initMeta('installation', 'second'), 'first');
      const raced = await Promise.all(['a', 'b', 'c', 'd'].map((value) => store.initMeta('raced', value)));
      assert.equal(new Set(raced).size, 1);
    });

    storeTest(harness, 'getMeta reads what initMeta stored, and null for a key never set', async (store) => {
      assert.equal(await store.getMeta('installation'), null);
      await store.initMeta('installation', 'first');
      assert.equal(await store.getMeta('installation'), 'first');
    });
  });

  describe('domains', () => {
    storeTest(harness, 'creates, gets and lists domains', async (store) => {
      const beta = await store.createDomain({ name: 'beta', description: 'the beta team' }, admin);
      await store.createDomain({ name: 'alpha' }, admin);
      assert.equal(beta.description, 'the beta team');
      assert.deepEqual(await store.getDomain('beta'), beta);
      assert.equal(await store.getDomain('gamma'), null);
      assert.deepEqual(
        (await store.listDomains()).map((domain) => domain.name),
        ['alpha', 'beta'],
      );
    });

    storeTest(harness, 'refuses to create a domain that exists', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await assert.rejects(store.createDomain({ name: 'alpha' }, admin), ConflictError);
    });

    storeTest(harness, 'refuses a domain whose certificate DNS label another domain has, in either order', async (store) => {
      await store.createDomain({ name: 'pay.prod' }, admin);
      await store.createDomain({ name: 'pay-qa' }, admin);
      await assert.rejects(
        store.createDomain({ name: 'pay-prod' }, admin),
        (error: Error) => error instanceof ConflictError && /with domain pay\.prod/.test(error.message),
      );
      await assert.rejects(
        store.createDomain({ name: 'pay.qa' }, admin),
        (error: Error) => error instanceof ConflictError && /with domain pay-qa/.test(error.message),
      );
      assert.deepEqual(
        (await store.listDomains()).map((domain) => domain.name),
        ['pay-qa', 'pay.prod'],
      );
    });

    storeTest(harness, 'names the domain that holds a certificate DNS label', async (store) => {
      await store.createDomain({ name: 'pay.prod.eu' }, admin);
      await store.createDomain({ name: 'alpha' }, admin);
      assert.equal(await store.dnsLabelHolder('pay-prod-eu'), 'pay.prod.eu');
      assert.equal(await store.dnsLabelHolder('alpha'), 'alpha');
      assert.equal(await store.dnsLabelHolder('pay-prod'), null);
      assert.equal(await store.dnsLabelHolder('beta'), null);
    });

    storeTest(harness, 'lets exactly one of two concurrent creations of a domain succeed', async (store) => {
      const results = await Promise.allSettled([store.createDomain({ name: 'alpha' }, admin), store.createDomain({ name: 'alpha' }, admin)]);
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
      const failure = results.find((result) => result.status === 'rejected');
      assert.ok(failure?.reason instanceof ConflictError);
    });

    storeTest(harness, 'refuses to delete a domain that still holds services or roles', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createService({ domain: 'alpha', name: 'api' }, {}, admin);
      await store.putRole('alpha', 'readers', [], admin);
      await assert.rejects(
        store.deleteDomain('alpha', admin),
        (error) => error instanceof ConflictError && error.message === 'domain alpha still holds 1 services and 1 roles; delete them first',
      );
      assert.ok(await store.getDomain('alpha'));
    });

    storeTest(harness, 'deletes an empty domain, and reports a missing one', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.deleteDomain('alpha', admin);
      assert.equal(await store.getDomain('alpha'), null);
      await assert.rejects(store.deleteDomain('alpha', admin), NotFoundError);
    });
  });
}

export function services(harness: StoreHarness): void {
  describe('services', () => {
    storeTest(harness, 'creates a service with its secret and public keys', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      const service = await store.createService(
        { domain: 'alpha', name: 'api', description: 'API', allowedIps: ['10.0.0.0/8', '2001:db8::/32'], expiresAt: 4_000_000_000_000 },
        { secret: { id: 'sec-1', hash: 'hash-1' }, publicKeys: [{ kid: 'k1', pem: 'PEM-1' }] },
        admin,
      );
      assert.equal(service.principal, 'alpha.api');
      assert.equal(service.clientId, 'alpha.api');
      assert.equal(service.status, 'ACTIVE');
      assert.deepEqual(service.allowedIps, ['10.0.0.0/8', '2001:db8::/32']);
      assert.deepEqual(await store.getService('alpha.api'), service);

      const client = await store.getClientForAuth('alpha.api', Date.now());
      assert.deepEqual(client?.service, service);
      assert.deepEqual(
        client?.secrets.map(({ id, hash, expiresAt }) => ({ id, hash, expiresAt })),
        [{ id: 'sec-1', hash: 'hash-1', expiresAt: null }],
      );
      assert.deepEqual(
        (await store.listPublicKeys('alpha.api')).map(({ kid, pem }) => ({ kid, pem })),
        [{ kid: 'k1', pem: 'PEM-1' }],
      );
    });

    storeTest(harness, 'looks a client up by its own clientId when it has one', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createService({ domain: 'alpha', name: 'worker', clientId: 'c0ffee' }, {}, admin);
      assert.equal((await store.getClientForAuth('c0ffee', Date.now()))?.service.principal, 'alpha.worker');
      assert.equal(await store.getClientForAuth('alpha.worker', Date.now()), null);
      assert.equal(await store.getClientForAuth('nobody', Date.now()), null);
    });

    storeTest(harness, 'refuses a service in a missing domain', async (store) => {
      await assert.rejects(store.createService({ domain: 'ghost', name: 'api' }, {}, admin), NotFoundError);
    });

    storeTest(harness, 'refuses a service that exists or a clientId that is taken', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createService({ domain: 'alpha', name: 'api', clientId: 'shared' }, {}, admin);
      await assert.rejects(store.createService({ domain: 'alpha', name: 'api' }, {}, admin), ConflictError);
      await assert.rejects(store.createService({ domain: 'alpha', name: 'web', clientId: 'shared' }, {}, admin), ConflictError);
    });

    storeTest(harness, "lists a domain's services by name", async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createDomain({ name: 'beta' }, admin);
      for (const name of ['web', 'api']) await store.createService({ domain: 'alpha', name }, {}, admin);
      await store.createService({ domain: 'beta', name: 'db' }, {}, admin);
      assert.deepEqual(
        (await store.listServices('alpha')).map((service) => service.principal),
        ['alpha.api', 'alpha.web'],
      );
      assert.deepEqual(await store.listServices('ghost'), []);
    });

    storeTest(harness, 'updates only the fields a patch names', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      const created = await store.createService({ domain: 'alpha', name: 'api', description: 'API', expiresAt: 4_000_000_000_000 }, {}, admin);
      const updated = await store.updateService('alpha.api', { status: 'DISABLED', description: null, allowedIps: ['127.0.0.1/32'] }, admin);
      assert.equal(updated.status, 'DISABLED');
      assert.equal(updated.description, null);
      assert.deepEqual(updated.allowedIps, ['127.0.0.1/32']);
      assert.equal(updated.expiresAt, created.expiresAt);
      assert.ok(updated.updatedAt >= created.updatedAt);
      assert.deepEqual(await store.getService('alpha.api'), updated);
      await assert.rejects(store.updateService('alpha.ghost', { status: 'ACTIVE' }, admin), NotFoundError);
    });

    storeTest(harness, 'deleting a service removes its secrets, keys and memberships in every role', async (store) => {
      await store.createDomain({ name: 'alpha' }, admin);
      await store.createDomain({ name: 'beta' }, admin);
      await store.createService({ domain: 'alpha', name: 'api' }, { secret: { id: 'sec-1', hash: 'hash-1' }, publicKeys: [{ kid: 'k1', pem: 'PEM' }] }, admin);
      await store.putRole('alpha', 'writers', [{ principal: 'alpha.api', expiresAt: null }], admin);
      await store.putRole(
        'beta',
        'readers',
        [
          { principal: 'alpha.api', expiresAt: null },
          { principal: 'beta.web', expiresAt: null },
        ],
        admin,
      );

      await store.deleteService('alpha.api', admin);

      assert.equal(await store.getService('alpha.api'), null);
      assert.equal(await store.getClientForAuth('alpha.api', Date.now()), null);
      assert.deepEqual(await store.listPublicKeys('alpha.api'), []);
      assert.deepEqual(await store.rolesHeld('alpha.api', ['alpha', 'beta'], Date.now()), []);
      assert.deepEqual((await store.getRole('beta', 'readers'))?.members, [{ principal: 'beta.web', expiresAt: null }]);
      assert.deepEqual((await store.getRole('alpha', 'writers'))?.members, []);
      await assert.rejects(store.deleteService('alpha.api', admin), NotFoundError);

      // The same name can be registered again, with none of the old credentials.
      await store.createService({ domain: 'alpha', name: 'api' }, {}, admin);
      assert.deepEqual((await store.getClientForAuth('alpha.api', Date.now()))?.secrets, []);
    });
  });
}
