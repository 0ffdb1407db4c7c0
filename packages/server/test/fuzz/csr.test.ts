// Property-based fuzzing of the CSR parser: random bytes and mutated valid CSRs are either
// accepted or refused with InvalidCertificateRequestError, never any other exception.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { parseCsr } from '../../src/ca/csr.ts';
import { InvalidCertificateRequestError } from '../../src/ca/errors.ts';
import { csrFor, serviceKey } from '../helpers/ca-client.ts';
import { fuzzRuns, HEAP_BOUND_BYTES, heapUsed, tally } from './support.ts';

function parsesOrRefuses(input: string | Uint8Array): void {
  try {
    parseCsr(input);
  } catch (error) {
    assert.ok(error instanceof InvalidCertificateRequestError, `unexpected ${String(error)} for ${Buffer.from(input).toString('base64').slice(0, 4000)}`);
    assert.ok(error.message.length > 0);
  }
}

describe('fuzz: parseCsr refuses bad input only with InvalidCertificateRequestError', () => {
  const runs = fuzzRuns();
  const valid: Buffer[] = [];
  const validPem: string[] = [];

  before(async () => {
    for (const kind of ['ec', 'p384', 'ed25519', 'rsa'] as const) {
      const pem = await csrFor(await serviceKey(kind));
      validPem.push(pem);
      valid.push(Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
    }
  });

  it('random bytes and random text never throw anything but InvalidCertificateRequestError', () => {
    const counter = tally('parseCsr random');
    const heapBefore = heapUsed();
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.string({ unit: 'binary', maxLength: 512 }), fc.base64String({ maxLength: 1024 })),
        (input) => {
          counter.count();
          parsesOrRefuses(input);
        },
      ),
      { numRuns: runs },
    );
    assert.ok(heapUsed() - heapBefore < HEAP_BOUND_BYTES);
    counter.done();
  });

  it('mutated valid CSRs (bit flips, truncation, splices, PEM edits) never throw anything but InvalidCertificateRequestError', () => {
    const counter = tally('parseCsr mutated');
    const heapBefore = heapUsed();
    const mutation = fc.record({
      which: fc.nat(3),
      flips: fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
      cut: fc.option(fc.nat()),
      splice: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 16 }))),
      asPem: fc.boolean(),
    });
    fc.assert(
      fc.property(mutation, (m) => {
        counter.count();
        const bytes = Buffer.from(valid[m.which]!);
        for (const [at, value] of m.flips) bytes[at % bytes.length] = value;
        let out: Buffer = m.cut === null ? bytes : bytes.subarray(0, m.cut % (bytes.length + 1));
        if (m.splice !== null) {
          const at = m.splice[0] % (out.length + 1);
          out = Buffer.concat([out.subarray(0, at), Buffer.from(m.splice[1]), out.subarray(at)]);
        }
        parsesOrRefuses(m.asPem ? `-----BEGIN CERTIFICATE REQUEST-----\n${out.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n` : out);
      }),
      { numRuns: runs },
    );
    assert.ok(heapUsed() - heapBefore < HEAP_BOUND_BYTES);
    assert.ok(validPem.length === 4);
    counter.done();
  });
});
