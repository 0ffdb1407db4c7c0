// The listener's certificate when a renewal fails: the error is logged, the certificate in use
// stays in use, and the next check tries again; with the operator's files, the CA issues nothing. (The renewals themselves, end to end, are in
// e2e/server-certificate-renewal.test.ts.)

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SecureContextOptions } from 'node:tls';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverCertificateNames, serverTls, type ServerTlsDeps } from '../../src/http/server-tls.ts';
import { x509 } from '../../src/ca/x509.ts';
import { makeCa, makeLeaf } from '../e2e/mtls-support.ts';
import { newAuthority } from '../ca/helpers.ts';

const DAY = 86_400_000;

describe('server TLS renewal failures', () => {
  it('keeps the current certificate and logs when the CA cannot issue, and renews at the next check', async () => {
    let clock = Date.now();
    const { ca } = await newAuthority({ now: () => clock });
    const refreshListeners: (() => void | Promise<void>)[] = [];
    let failing = false;
    const deps: ServerTlsDeps = {
      ca: {
        get id() {
          return ca.id;
        },
        get bundlePem() {
          return ca.bundlePem;
        },
        issueServerCertificate: (request) => (failing ? Promise.reject(new Error('CA key unavailable')) : ca.issueServerCertificate(request)),
        onBundleChange: () => () => undefined,
        onRefresh: (listener) => {
          refreshListeners.push(listener);
          return () => undefined;
        },
      },
      names: serverCertificateNames(new URL('https://127.0.0.1:8443'), 'https://127.0.0.1:8443', []),
      files: null,
      issuerHost: '127.0.0.1',
      lifetimeSeconds: 30 * 86_400,
      now: () => clock,
    };
    const tls = await serverTls(deps);
    const contexts: SecureContextOptions[] = [];
    const errors: string[] = [];
    tls.keepFresh(
      { setSecureContext: (options) => void contexts.push(options) },
      { info: () => undefined, warn: () => undefined, error: (_details, message) => void errors.push(message) },
    );
    const refresh = async (): Promise<void> => {
      for (const listener of refreshListeners) await listener();
    };

    clock += 21 * DAY; // past 2/3 of 30 days
    failing = true;
    await refresh();
    assert.equal(contexts.length, 0, 'nothing replaces the certificate in use');
    assert.deepEqual(errors, ['server certificate renewal failed; the listener keeps its current certificate']);

    failing = false;
    await refresh();
    assert.equal(contexts.length, 1, 'the next check renews');
    assert.notEqual(contexts[0]!.cert, tls.options.cert);
  });
});

describe('server TLS with the operator’s files', () => {
  it('never asks the CA for a certificate, at start or when a self-issued one would be renewed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-tls-unit-'));
    try {
      const issuing = await makeCa('Operator Issuing');
      const leaf = await makeLeaf(issuing, { dns: ['byo.example.internal'], eku: [x509.ExtendedKeyUsage.serverAuth] });
      const files = { certFile: join(dir, 'c.pem'), keyFile: join(dir, 'k.pem') };
      await writeFile(files.certFile, leaf.certPem);
      await writeFile(files.keyFile, leaf.keyPem);
      let clock = Date.now();
      const refreshListeners: (() => void | Promise<void>)[] = [];
      let issued = 0;
      const tls = await serverTls({
        ca: {
          id: 'generation-1',
          bundlePem: 'bundle',
          issueServerCertificate: () => {
            issued += 1;
            return Promise.reject(new Error('not to be called'));
          },
          onBundleChange: () => () => undefined,
          onRefresh: (listener) => {
            refreshListeners.push(listener);
            return () => undefined;
          },
        },
        names: serverCertificateNames(new URL('https://127.0.0.1:8443'), 'https://byo.example.internal', []),
        files,
        issuerHost: 'byo.example.internal',
        lifetimeSeconds: 30 * 86_400,
        now: () => clock,
      });
      const contexts: SecureContextOptions[] = [];
      const logged: string[] = [];
      const log = (_details: object, message: string) => void logged.push(message);
      const watch = tls.keepFresh({ setSecureContext: (options) => void contexts.push(options) }, { info: log, warn: log, error: log });
      clock += 21 * DAY;
      for (const listener of refreshListeners) await listener();
      watch.stop();
      assert.equal(issued, 0);
      assert.equal(contexts.length, 0, 'the certificate from the files stays');
      assert.deepEqual(logged, ['serving the server certificate from files']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('serverCertificateNames', () => {
  it('covers loopback, the listen host and the issuer host, DNS name or IP address, and the extra names', () => {
    assert.deepEqual(serverCertificateNames(new URL('https://10.0.0.5:8443'), 'https://Auth.Example.Internal:8443', ['a.example', '10.1.1.1']), {
      dnsNames: ['localhost', 'auth.example.internal', 'a.example'],
      ipAddresses: ['127.0.0.1', '::1', '10.0.0.5', '10.1.1.1'],
    });
    assert.deepEqual(serverCertificateNames(new URL('https://[::]:8446'), 'https://[2001:db8::7]:8446', []), {
      dnsNames: ['localhost', hostname().toLowerCase()],
      ipAddresses: ['127.0.0.1', '::1', '2001:db8::7'],
    });
    assert.deepEqual(serverCertificateNames(new URL('https://0.0.0.0:8446'), 'https://auth.example.internal:8446', []).dnsNames, [
      'localhost',
      hostname().toLowerCase(),
      'auth.example.internal',
    ]);
  });
});
