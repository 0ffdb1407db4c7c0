// node:crypto returns an ECDSA signature DER-encoded (RFC 3279 §2.2.3: a SEQUENCE of the two
// INTEGERs r and s); a JWS carries r and s as fixed-size big-endian integers, concatenated
// (RFC 7518 §3.4). Asking node:crypto for that form (dsaEncoding 'ieee-p1363', or WebCrypto)
// costs as much again as the signature's own arithmetic in OpenSSL 3 (it exports the key's
// parameters to learn the size of r), so the token endpoint asks for DER and rewrites it here.

/** Rewrites a DER ECDSA signature as r || s, each `size` bytes (32 for P-256); throws on anything else. */
export function joseEcdsaSignature(der: Uint8Array, size: number): Buffer {
  const fail = (why: string): never => {
    throw new Error(`not a DER ECDSA signature for ${size}-byte integers: ${why}`);
  };
  // SEQUENCE with a one-byte length: enough for integers of up to 60 bytes (P-256 and P-384).
  if (size > 60) fail('sizes above 60 bytes take a long-form length, not read here');
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) fail('no SEQUENCE spanning the signature');
  // From Buffer's shared pool (a slice of one 8 KB ArrayBuffer), not an ArrayBuffer per token; zeroed for the padding.
  const out = Buffer.allocUnsafe(2 * size).fill(0);
  let offset = 2;
  for (let part = 0; part < 2; part += 1) {
    if (der[offset] !== 0x02) fail('an INTEGER is missing');
    const length = der[offset + 1]!;
    let start = offset + 2;
    const end = start + length;
    if (length === 0) fail('an INTEGER has no bytes');
    if (end > der.length) fail('an INTEGER overruns the signature');
    // DER prefixes a zero byte when the top bit is set; a value shorter than `size` is padded with zeros.
    while (end - start > size && der[start] === 0) start += 1;
    if (end - start > size) fail(`an INTEGER is longer than ${size} bytes`);
    out.set(der.subarray(start, end), part * size + size - (end - start));
    offset = end;
  }
  if (offset !== der.length) fail('bytes follow the two INTEGERs');
  return out;
}
