// A small DER (X.690 §10) reader and the one writer helper the CA's hand-built encodings need.
//
// The reader is strict: single-octet tags, definite lengths in their shortest form, every element
// inside its parent. It reads only the structures the CA walks itself (a CSR's outline, its
// names and extension request); @peculiar's schemas stay for everything else.

/** A DER element: its tag and where its value lies in the buffer read. */
export interface DerElement {
  tag: number;
  /** Offset of the element's first (tag) octet. */
  offset: number;
  /** Offset of the value's first octet. */
  start: number;
  /** Offset just past the value, and so past the element. */
  end: number;
}

/** Why the reader stopped; the caller turns it into a message about its own input. */
export class DerError extends Error {
  readonly truncated: boolean;

  constructor(message: string, truncated = false) {
    super(message);
    this.truncated = truncated;
  }
}

/** Lengths above this are never read (no CSR or extension comes near it). */
const MAX_LENGTH_OCTETS = 3;

export const DER = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** The element at `offset`, which must end by `limit` (the parent's end). */
export function readElement(der: Uint8Array, offset: number, limit: number = der.length): DerElement {
  if (offset + 2 > limit) throw new DerError('an element is cut short', true);
  const tag = der[offset]!;
  // High tag numbers (0x1f) never occur in what the CA reads.
  if ((tag & 0x1f) === 0x1f) throw new DerError(`tag 0x${tag.toString(16)} uses the high-tag-number form`);
  const first = der[offset + 1]!;
  let start = offset + 2;
  let length = first;
  if (first & 0x80) {
    const octets = first & 0x7f;
    // 0x80 is BER's indefinite length; DER has none, nor lengths over MAX_LENGTH_OCTETS octets.
    if (octets === 0 || octets > MAX_LENGTH_OCTETS) throw new DerError('a length is indefinite or too large');
    if (start + octets > limit) throw new DerError('a length is cut short', true);
    length = 0;
    for (let i = 0; i < octets; i += 1) length = length * 256 + der[start + i]!;
    start += octets;
    // DER's shortest form: a long form only from 128, and no leading zero octet.
    if (length < 0x80 || der[offset + 2] === 0) throw new DerError('a length is not in its shortest form');
  }
  if (start + length > limit) throw new DerError('an element runs past its end', true);
  return { tag, offset, start, end: start + length };
}

/** The element at `offset`, which must have `tag`. */
export function expectElement(der: Uint8Array, offset: number, tag: number, limit: number = der.length): DerElement {
  const element = readElement(der, offset, limit);
  if (element.tag !== tag) throw new DerError(`expected tag 0x${tag.toString(16)}, found 0x${element.tag.toString(16)}`);
  return element;
}

/** The elements inside a constructed element, which must fill it exactly. */
export function childrenOf(der: Uint8Array, parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  for (let offset = parent.start; offset < parent.end;) {
    const child = readElement(der, offset, parent.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

/** The bytes of an element, tag and length included. */
export function elementBytes(der: Uint8Array, element: DerElement): Uint8Array {
  return der.subarray(element.offset, element.end);
}

/** The value bytes of an element. */
export function valueOf(der: Uint8Array, element: DerElement): Uint8Array {
  return der.subarray(element.start, element.end);
}

/** An OBJECT IDENTIFIER's value in dotted form (X.690 §8.19). */
export function readOid(der: Uint8Array, element: DerElement): string {
  if (element.tag !== DER.OID) throw new DerError(`expected an OBJECT IDENTIFIER, found tag 0x${element.tag.toString(16)}`);
  if (element.start === element.end) throw new DerError('an OBJECT IDENTIFIER is empty');
  const arcs: number[] = [];
  let value = 0;
  for (let i = element.start; i < element.end; i += 1) {
    const octet = der[i]!;
    // A leading 0x80 would be a non-minimal arc; arcs past 2^31 are refused rather than rounded.
    if (value === 0 && octet === 0x80) throw new DerError('an OBJECT IDENTIFIER arc is not in its shortest form');
    value = value * 128 + (octet & 0x7f);
    if (value > 0x7fffffff) throw new DerError('an OBJECT IDENTIFIER arc is too large');
    if ((octet & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    }
  }
  if (der[element.end - 1]! & 0x80) throw new DerError('an OBJECT IDENTIFIER ends inside an arc');
  const first = arcs[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

/** A BIT STRING's bits, which must be whole octets (as keys and signatures are). */
export function readBitString(der: Uint8Array, element: DerElement): Uint8Array {
  if (element.tag !== DER.BIT_STRING) throw new DerError(`expected a BIT STRING, found tag 0x${element.tag.toString(16)}`);
  if (element.start === element.end || der[element.start] !== 0) throw new DerError('a BIT STRING does not hold whole octets');
  return der.subarray(element.start + 1, element.end);
}

/** A DER tag and definite length (X.690 §8.1.3). */
export function derHeader(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.of(tag, length);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Buffer.of(tag, 0x80 | octets.length, ...octets);
}

/** A whole element: tag, length and the concatenated parts as its value. */
export function derElement(tag: number, ...parts: Uint8Array[]): Buffer {
  const value = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return Buffer.concat([derHeader(tag, value.length), value]);
}
