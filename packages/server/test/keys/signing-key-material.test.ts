import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSealer, generateMasterKey } from '../../src/keys/master-key.ts';
import { generateSigningKey, openSigningKey, SigningKeyIntegrityError } from '../../src/keys/signing-key-material.ts';
import type { SigningAlg } from '../../src/storage/records.ts';

const sealer = createSealer(generateMasterKey());
const times = { state: 'active', createdAt: 0, activatesAt: 0 } as const;

void describe('openSigningKey', () => {
  void it("encodes each key's two protected headers once, with its alg and kid", async () => {
    const record = await generateSigningKey('EdDSA', sealer, times);
    const key = openSigningKey(record, sealer);
    const decode = (header: string): unknown => JSON.parse(Buffer.from(header, 'base64url').toString());
    assert.deepEqual(decode(key.headers['at+jwt']), { alg: 'EdDSA', kid: record.kid, typ: 'at+jwt' });
    assert.deepEqual(decode(key.headers.JWT), { alg: 'EdDSA', kid: record.kid, typ: 'JWT' });
    assert.equal(key.signer.algorithm.name, 'Ed25519');
    assert.equal(key.signer.extractable, false);
  });

  for (const [sealedAs, claimed] of [
    ['EdDSA', 'ES256'],
    ['ES256', 'RS256'],
    ['RS256', 'EdDSA'],
  ] as const satisfies ReadonlyArray<readonly [SigningAlg, SigningAlg]>) {
    void it(`refuses a sealed ${sealedAs} key stored as ${claimed}`, async () => {
      const record = await generateSigningKey(sealedAs, sealer, times);
      assert.throws(
        () => openSigningKey({ ...record, alg: claimed }, sealer),
        (error: unknown) => {
          assert.ok(error instanceof SigningKeyIntegrityError);
          assert.equal(error.message, `signing key ${record.kid}: the sealed private key is not a ${claimed} key`);
          return true;
        },
      );
    });
  }

  void it('refuses a sealed blob that is not a PKCS #8 key', async () => {
    const record = await generateSigningKey('ES256', sealer, times);
    const garbage = { ...record, sealedPrivateKey: sealer.seal(Buffer.from('not a key'), `signing-key:${record.kid}`) };
    assert.throws(() => openSigningKey(garbage, sealer), {
      code: 'SIGNING_KEY_INVALID',
      message: `signing key ${record.kid}: the sealed private key is not a PKCS #8 key`,
    });
  });
});
