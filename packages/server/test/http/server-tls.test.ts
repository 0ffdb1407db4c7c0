// The listener's certificate when a renewal fails: the error is logged, the certificate in use
// stays in use, and the next check tries again. (The renewals themselves, end to end, are in
// e2e/server-certificate-renewal.test.ts.)

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SecureContextOptions } from 'node:tls';
import { serverTls, type ServerTlsDeps } from '../../src/http/server-tls.ts';
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
      listen: new URL('https://127.0.0.1:8443'),
      lifetimeSeconds: 30 * 86_400,
      now: () => clock,
    };
    const tls = await serverTls(deps);
    const contexts: SecureContextOptions[] = [];
    const errors: string[] = [];
    tls.keepFresh({ setSecureContext: (options) => void contexts.push(options) }, { info: () => undefined, error: (_details, message) => void errors.push(message) });
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
