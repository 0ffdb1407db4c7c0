// DER built by hand, for tests that send the CA requests no library would write (BER where DER is
// required, odd keys, forged parts): tag-length-value with short and long definite lengths.

/** DER tag-length-value (short and long definite lengths). */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const value = Buffer.concat(parts);
  if (value.length < 0x80) return Buffer.concat([Buffer.of(tag, value.length), value]);
  const octets: number[] = [];
  for (let rest = value.length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Buffer.concat([Buffer.of(tag, 0x80 | octets.length, ...octets), value]);
}

/** Bytes from hex, spaces ignored. */
export const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
