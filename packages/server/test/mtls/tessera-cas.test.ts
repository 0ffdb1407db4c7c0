// tesseraCaSource: Tessera's trust anchors for client certificates are its generations' issuing
// certificates (never the roots), and follow the generations as they come and go.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tesseraCaSource } from '../../src/mtls/tessera-cas.ts';
import type { CaRecord } from '../../src/storage/records.ts';
import { makeCa } from '../e2e/mtls-support.ts';

async function record(id: string, rootPem: string): Promise<CaRecord> {
  const issuing = await makeCa(`Issuing ${id}`);
  return { id, state: 'active', chainPem: issuing.certPem + rootPem, rootPem, sealedPrivateKey: '', createdAt: 0 };
}

describe("Tessera's CA generations as trust anchors", () => {
  it('takes the issuing certificate of each generation, and reloads when a generation joins under the same root', async () => {
    const root = (await makeCa('Operator Root')).certPem;
    const records = [await record('ca_1', root)];
    const listeners: (() => Promise<void> | void)[] = [];
    const ca = {
      onRefresh: (listener: () => Promise<void> | void) => {
        listeners.push(listener);
        return () => undefined;
      },
      generations: () => records.map((known) => ({ id: known.id })) as never,
    };
    const anchors = await tesseraCaSource(ca, { listCas: async () => [...records] });
    assert.deepEqual(
      anchors().map((anchor) => [anchor.caId, anchor.certificate.subject]),
      [['ca_1', 'CN=Issuing ca_1\nO=Test CAs']],
    );

    const before = anchors();
    for (const listener of listeners) await listener();
    assert.equal(anchors(), before, 'unchanged generations: the same array, so nothing is parsed again');

    records.push(await record('ca_2', root));
    for (const listener of listeners) await listener();
    assert.deepEqual(
      anchors().map((anchor) => anchor.caId),
      ['ca_1', 'ca_2'],
      'the bundle of roots did not change, the anchors did',
    );
  });
});
