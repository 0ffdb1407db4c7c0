// Property-based fuzzing of what the CSR parser reads only after the signature has verified
// (subject, extension request, names): the CertificationRequestInfo of a valid CSR is mutated and
// signed again with the key it carries, so every mutation passes the proof of possession and
// reaches the DER reader's inner paths. Each is accepted or refused with
// InvalidCertificateRequestError, never any other exception.

import assert from 'node:assert/strict';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { parseCsr } from '../../src/ca/csr.ts';
import { InvalidCertificateRequestError } from '../../src/ca/errors.ts';
import { csrFor, serviceKey } from '../helpers/ca-client.ts';
import { fuzzRuns, HEAP_BOUND_BYTES, heapUsed, tally } from './support.ts';

function tlv(tag: number, value: Uint8Array): Buffer {
  if (value.length < 0x80) return Buffer.concat([Buffer.of(tag, value.length), value]);
  const octets: number[] = [];
  for (let rest = value.length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Buffer.concat([Buffer.of(tag, 0x80 | octets.length, ...octets), value]);
}

/** The value of the DER element at `offset` and where the element ends (lengths of up to 2 octets, as in these CSRs). */
function element(der: Uint8Array, offset: number): { start: number; end: number } {
  const first = der[offset + 1]!;
  if (first < 0x80) return { start: offset + 2, end: offset + 2 + first };
  const octets = first & 0x7f;
  let length = 0;
  for (let i = 0; i < octets; i += 1) length = length * 256 + der[offset + 2 + i]!;
  return { start: offset + 2 + octets, end: offset + 2 + octets + length };
}

describe('fuzz: signed but mutated CSRs are refused only with InvalidCertificateRequestError', () => {
  const runs = fuzzRuns();
  let info: Buffer;
  let key: KeyObject;
  // ECDSA with SHA-256 and the ASN.1 of the request's own signature algorithm.
  const algorithm = Buffer.from('300a06082a8648ce3d040302', 'hex');

  before(async () => {
    const owner = await serviceKey('ec');
    key = createPrivateKey(owner.privatePem);
    const pem = await csrFor(owner, { dnsNames: ['api.alpha.svc.tessera.test'], uris: ['spiffe://tessera.test/alpha/api'] });
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    const outer = element(der, 0);
    info = der.subarray(outer.start, element(der, outer.start).end);
  });

  it('a re-signed CertificationRequestInfo with bit flips, truncation or splices', () => {
    const counter = tally('parseCsr signed mutations');
    const heapBefore = heapUsed();
    const mutation = fc.record({
      flips: fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
      cut: fc.option(fc.nat()),
      splice: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 16 }))),
    });
    fc.assert(
      fc.property(mutation, (m) => {
        counter.count();
        const bytes = Buffer.from(info);
        // Past the outer header: the mutations land inside the structure, where the signature no longer guards it.
        for (const [at, value] of m.flips) bytes[4 + (at % (bytes.length - 4))] = value;
        let out: Buffer = m.cut === null ? bytes : bytes.subarray(0, m.cut % (bytes.length + 1));
        if (m.splice !== null) {
          const at = m.splice[0] % (out.length + 1);
          out = Buffer.concat([out.subarray(0, at), Buffer.from(m.splice[1]), out.subarray(at)]);
        }
        const signature = sign('sha256', out, { key, dsaEncoding: 'der' });
        const csr = tlv(0x30, Buffer.concat([out, algorithm, tlv(0x03, Buffer.concat([Buffer.of(0), signature]))]));
        try {
          parseCsr(csr);
        } catch (error) {
          assert.ok(error instanceof InvalidCertificateRequestError, `unexpected ${String(error)} for ${csr.toString('base64')}`);
        }
      }),
      { numRuns: runs },
    );
    assert.ok(heapUsed() - heapBefore < HEAP_BOUND_BYTES);
    counter.done();
  });
});
