// A minimal DER encoder (ITU-T X.690 §10): just the types a PKCS#10 certificate request is made
// of. The SDK depends on `jose` and Node built-ins only, and node:crypto signs but builds no
// ASN.1, so the few structures the refresher sends are written here by hand. Encoding only:
// nothing here parses what a server sends (node:crypto's X509Certificate does that).

/** Universal tags used below (X.680 §8.6). */
const TAG = {
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  sequence: 0x30,
  set: 0x31,
} as const;

/** One tag-length-value element; the length in the short form below 128, else the long form (X.690 §8.1.3). */
export function element(tag: number, content: Uint8Array): Buffer {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xfe || (tag & 0x1f) === 0x1f) throw new RangeError(`DER tag ${tag} is not a one-byte tag`);
  const length = content.length;
  let header: number[];
  if (length < 0x80) {
    header = [tag, length];
  } else {
    const octets: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
    header = [tag, 0x80 | octets.length, ...octets];
  }
  return Buffer.concat([Buffer.from(header), content]);
}

export function sequence(...items: Uint8Array[]): Buffer {
  return element(TAG.sequence, Buffer.concat(items));
}

/** SET OF: DER orders the elements by their encodings (X.690 §11.6). */
export function set(...items: Uint8Array[]): Buffer {
  return element(TAG.set, Buffer.concat([...items].sort(Buffer.compare)));
}

/**
 * A non-negative INTEGER, from a safe integer or from unsigned big-endian bytes: the minimal
 * two's-complement form, so a leading 0x00 only where the high bit would make it negative.
 */
export function integer(value: number | Uint8Array): Buffer {
  let bytes: Buffer;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`DER INTEGER ${value} is not a non-negative safe integer`);
    const digits: number[] = [];
    for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) digits.unshift(rest % 256);
    bytes = Buffer.from(digits);
  } else {
    bytes = Buffer.from(value);
  }
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  bytes = bytes.subarray(start);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if ((bytes[0]! & 0x80) !== 0) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return element(TAG.integer, bytes);
}

/** An OBJECT IDENTIFIER from dotted form: the first two arcs as 40 × a + b, then base-128 arcs (X.690 §8.19). */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => (/^\d+$/.test(arc) ? Number(arc) : NaN));
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || arcs.some((arc) => !Number.isSafeInteger(arc)) || first > 2 || (first < 2 && second > 39)) {
    throw new RangeError(`"${dotted}" is not an object identifier`);
  }
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const groups: number[] = [arc % 128];
    for (let high = Math.floor(arc / 128); high > 0; high = Math.floor(high / 128)) groups.unshift((high % 128) | 0x80);
    bytes.push(...groups);
  }
  return element(TAG.oid, Buffer.from(bytes));
}

export function utf8String(text: string): Buffer {
  return element(TAG.utf8String, Buffer.from(text, 'utf8'));
}

/** A BIT STRING of whole bytes (no unused bits), as signatures and keys are. */
export function bitString(bytes: Uint8Array): Buffer {
  return element(TAG.bitString, Buffer.concat([Buffer.from([0]), bytes]));
}

export function octetString(bytes: Uint8Array): Buffer {
  return element(TAG.octetString, bytes);
}

export function nullValue(): Buffer {
  return element(TAG.null, Buffer.alloc(0));
}

/** A context-specific tag `[number]`: constructed (holding elements, or EXPLICIT) unless told otherwise. */
export function contextSpecific(number: number, content: Uint8Array, constructed = true): Buffer {
  if (!Number.isInteger(number) || number < 0 || number > 30) throw new RangeError(`context-specific tag [${number}] is out of range`);
  return element(0x80 | (constructed ? 0x20 : 0) | number, content);
}

/** RFC 7468 text encoding: base64 in lines of 64 characters between BEGIN and END lines. */
export function pem(label: string, der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
