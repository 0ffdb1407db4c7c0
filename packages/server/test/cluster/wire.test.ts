// What the primary sends its workers: the whole Config over JSON IPC, and each address to one worker.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { slotOf } from '../../src/cluster/primary.ts';
import { configFromWire, configToWire } from '../../src/cluster/messages.ts';
import { addressKey } from '../../src/policy/ip-ranges.ts';
import { configFile, load } from '../config/helpers.ts';

void describe('cluster messages', () => {
  void it('carries a Config to a worker unchanged through JSON', () => {
    const file = configFile({
      workers: 3,
      trustedProxies: ['10.0.0.0/8'],
      oidcProofs: [{ issuer: 'https://k8s.example', jwksUri: 'https://k8s.example/jwks', audience: 'tessera', claim: 'sub', principals: { a: 'alpha.api' } }],
      audit: { retention: { tokenEvents: '7d' } },
    });
    const config = load({
      flags: { config: file, listen: 'https://[::1]:9443', database: 'postgres://u:p@db/tessera' },
      env: { TESSERA_MASTER_KEY: Buffer.alloc(32, 3).toString('base64') },
    });
    const received = configFromWire(JSON.parse(JSON.stringify(configToWire(config))) as ReturnType<typeof configToWire>);
    assert.deepEqual(received, config);
    assert.ok(received.listen instanceof URL);
  });

  void it('sends one address always to one worker, and addresses to every worker', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 300; i += 1) {
      const key = addressKey(`10.0.${i >> 8}.${i & 255}`);
      const slot = slotOf(key, 3);
      assert.equal(slotOf(key, 3), slot);
      counts[slot]! += 1;
    }
    for (const count of counts) assert.ok(count > 50, `a fair share each: ${counts.join(', ')}`);
    // An IPv6 caller is one key for its whole /64, so one worker.
    assert.equal(slotOf(addressKey('2001:db8:1:2::1'), 7), slotOf(addressKey('2001:db8:1:2:ffff::9'), 7));
  });
});
