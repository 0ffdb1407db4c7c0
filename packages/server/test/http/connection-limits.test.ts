// The per-address connection cap on made-up sockets: which connections count as one address
// (an IPv6 /64, an IPv4-mapped address and its IPv4 form), the exemption of trusted proxies, and
// that a closed connection gives its place back. The listener itself is tested end to end in
// test/e2e/connection-limits.test.ts (loopback has one IPv6 address, so no /64 to rotate in).

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Server, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { DEFAULTS } from '../../src/config/config.ts';
import { createConnectionGuard } from '../../src/http/connection-limits.ts';

interface FakeSocket extends EventEmitter {
  remoteAddress: string;
  destroyed: boolean;
  destroy(): void;
}

function fakeSocket(remoteAddress: string): FakeSocket {
  const socket = new EventEmitter() as FakeSocket;
  socket.remoteAddress = remoteAddress;
  socket.destroyed = false;
  socket.destroy = () => {
    socket.destroyed = true;
  };
  return socket;
}

function listener(maxPerAddress: number, exempt: (address: string) => boolean = () => false) {
  const warnings: object[] = [];
  const guard = createConnectionGuard({
    limits: { ...DEFAULTS.connections, maxPerAddress },
    exempt,
    log: { warn: (details) => void warnings.push(details) },
    metrics: new Registry(),
  });
  const server = new EventEmitter();
  guard.watch(server as unknown as Server);
  const connect = (address: string): FakeSocket => {
    const socket = fakeSocket(address);
    server.emit('connection', socket as unknown as Socket);
    return socket;
  };
  return { guard, connect, warnings };
}

describe('the per-address connection cap', () => {
  it('holds one IPv4 address to its share and lets another address in', () => {
    const { connect } = listener(2);
    assert.equal(connect('192.0.2.1').destroyed, false);
    assert.equal(connect('192.0.2.1').destroyed, false);
    assert.equal(connect('192.0.2.1').destroyed, true);
    assert.equal(connect('192.0.2.2').destroyed, false);
  });

  it('counts a whole IPv6 /64 as one address, so a caller rotating through it meets the cap', () => {
    const { connect, warnings } = listener(2);
    assert.equal(connect('2001:db8:1:2::1').destroyed, false);
    assert.equal(connect('2001:db8:1:2:aaaa::2').destroyed, false);
    assert.equal(connect('2001:db8:1:2:ffff:ffff:ffff:3').destroyed, true);
    assert.equal(connect('2001:db8:1:3::1').destroyed, false, 'the next /64 has its own share');
    assert.deepEqual(
      warnings.map((details) => (details as { reason: string; address: string }).address),
      ['2001:db8:1:2:ffff:ffff:ffff:3'],
      'the log names the address that was refused',
    );
  });

  it('counts an IPv4-mapped IPv6 connection as its IPv4 address', () => {
    const { connect } = listener(1);
    assert.equal(connect('::ffff:192.0.2.9').destroyed, false);
    assert.equal(connect('192.0.2.9').destroyed, true);
  });

  it('gives the place back when a connection closes', () => {
    const { guard, connect } = listener(1);
    const first = connect('2001:db8:1:2::1');
    assert.equal(connect('2001:db8:1:2::2').destroyed, true);
    first.emit('close');
    assert.equal(guard.open, 0);
    assert.equal(connect('2001:db8:1:2::2').destroyed, false);
  });

  it('exempts trusted proxies by their own address', () => {
    const seen: string[] = [];
    const { connect } = listener(1, (address) => (seen.push(address), address === '2001:db8:1:2::10'));
    connect('2001:db8:1:2::10');
    assert.equal(connect('2001:db8:1:2::10').destroyed, false);
    assert.equal(connect('2001:db8:1:2::11').destroyed, true, 'a neighbour of the proxy is not exempt');
    assert.ok(seen.includes('2001:db8:1:2::11'), 'the exemption is asked about the address, not its /64');
  });
});
