// Review 4 (outside attacker): a listener on every interface needs an explicit issuer (else its
// tokens and certificate name a host clients elsewhere cannot use). The refusal must hold for every
// spelling of "every interface". A case FAILS while that spelling slips through.

import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

const SPELLINGS = [
  'https://0.0.0.0:8443',
  'https://0:8443',
  'https://[::]:8443',
  'https://[::0]:8443',
  'https://[0:0:0:0:0:0:0:0]:8443',
  'https://[::ffff:0.0.0.0]:8443',
  'https://[::ffff:0:0]:8443',
];

describe('review4: a listener on every interface without --issuer', () => {
  for (const listen of SPELLINGS) {
    it(`is refused when spelt ${listen}`, () => {
      assert.throws(
        () => loadConfig({ flags: { dataDir: '/tmp/review4-unused', listen }, env: {}, cwd: '/tmp' }),
        ConfigError,
        `${listen} was accepted without an issuer`,
      );
    });
  }

  it('::ffff:0.0.0.0 does listen on every interface (why it belongs in the list)', async (t) => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i?.family === 'IPv4' && !i.internal)?.address;
    if (external === undefined) return t.skip('no non-loopback IPv4 address on this machine');
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '::ffff:0.0.0.0', resolve));
    const port = (server.address() as { port: number }).port;
    const reached = await new Promise<boolean>((resolve) => {
      const socket = connect(port, external, () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    server.close();
    assert.equal(reached, true);
  });

  it('a --tls-name with an IPv6 zone id is a configuration problem, not a crash', () => {
    const load = (): unknown =>
      loadConfig({ flags: { dataDir: '/tmp/review4-unused', listen: 'https://127.0.0.1:8443' }, env: { TESSERA_TLS_NAMES: 'fe80::1%eth0' }, cwd: '/tmp' });
    assert.throws(load, (error: unknown) => error instanceof ConfigError, 'loadConfig threw something other than a ConfigError (TypeError: Invalid URL)');
  });
});
