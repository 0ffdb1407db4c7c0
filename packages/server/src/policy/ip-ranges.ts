// IP ranges: a service's `allowedIps`, the proxies whose X-Forwarded-For is believed, and the
// block a per-address limit counts a caller by.

import { BlockList, isIPv4, isIPv6 } from 'node:net';

export type IpMatcher = (allowedIps: readonly string[], clientIp: string) => boolean;

/** `allowedIps` are CIDR blocks or single addresses, IPv4 or IPv6; IPv4-mapped IPv6 callers match IPv4 blocks. */
export function ipAllowed(allowedIps: readonly string[], clientIp: string): boolean {
  return check(blockListOf(allowedIps), clientIp);
}

/**
 * ipAllowed with the BlockList of each distinct range list kept (bounded): building one costs
 * fifty times the check, and the token endpoint asks on every request.
 */
export function cachedIpMatcher(maxLists = 1024): IpMatcher {
  const lists = new Map<string, BlockList>();
  return (allowedIps, clientIp) => {
    const key = allowedIps.join(',');
    let list = lists.get(key);
    if (list === undefined) {
      list = blockListOf(allowedIps);
      if (lists.size >= maxLists) lists.delete(lists.keys().next().value!);
      lists.set(key, list);
    }
    return check(list, clientIp);
  };
}

function blockListOf(allowedIps: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of allowedIps) {
    const [address = '', bits] = cidr.split('/');
    const blockFamily = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, blockFamily);
    else list.addSubnet(address, Number(bits), blockFamily);
  }
  return list;
}

function check(list: BlockList, clientIp: string): boolean {
  const ip = clientIp.startsWith('::ffff:') && isIPv4(clientIp.slice(7)) ? clientIp.slice(7) : clientIp;
  const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : null;
  return family !== null && list.check(ip, family);
}

/** Validates one `allowedIps` entry; returns why it is wrong, or null. */
export function cidrProblem(cidr: string): string | null {
  const [address = '', bits, extra] = cidr.split('/');
  if (extra !== undefined) return `"${cidr}" has more than one "/"`;
  const max = isIPv4(address) ? 32 : isIPv6(address) ? 128 : 0;
  if (max === 0) return `"${cidr}" does not start with an IPv4 or IPv6 address`;
  if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max)) return `"${cidr}" needs a prefix length from 0 to ${max}`;
  return null;
}

/**
 * Whether every address the `inner` list allows, the `outer` list allows too (an empty list allows
 * every address): each block of `inner` must lie inside one block of `outer` of its own family. A
 * block covered only by several outer blocks together, or given in the other family (an
 * IPv4-mapped IPv6 block for an IPv4 one), or with a zone index, counts as not inside.
 */
export function allowedIpsWithin(inner: readonly string[], outer: readonly string[]): boolean {
  if (outer.length === 0) return true;
  if (inner.length === 0) return false;
  const outerBlocks = outer.map(blockBits);
  return inner.every((cidr) => {
    const block = blockBits(cidr);
    return block !== null && outerBlocks.some((around) => around !== null && contains(around, block));
  });
}

interface BlockBits {
  width: 32 | 128;
  prefix: number;
  address: bigint;
}

function contains(outer: BlockBits, inner: BlockBits): boolean {
  if (outer.width !== inner.width || outer.prefix > inner.prefix) return false;
  const shift = BigInt(outer.width - outer.prefix);
  return outer.address >> shift === inner.address >> shift;
}

/** An allowedIps entry as its family's width, prefix length and address; null for one cidrProblem refuses or with a zone index. */
function blockBits(cidr: string): BlockBits | null {
  if (cidrProblem(cidr) !== null || cidr.includes('%')) return null;
  const [address = '', bits] = cidr.split('/');
  const v4 = isIPv4(address);
  const parts = v4 ? address.split('.').map(Number) : ipv6Groups(address);
  if (parts === null) return null;
  const width = v4 ? 32 : 128;
  const partBits = BigInt(v4 ? 8 : 16);
  return { width, prefix: bits === undefined ? width : Number(bits), address: parts.reduce((sum, part) => (sum << partBits) | BigInt(part), 0n) };
}

/**
 * The key every per-address limit counts a caller by (the rate limit, the connection cap, the
 * failed-authentication alerts): an IPv4 address as it is, an IPv4-mapped IPv6 address as its
 * IPv4 address (and so one translated by NAT64, or written IPv4-compatible), any other IPv6
 * address by its /64. One host is commonly given a whole /64
 * (RFC 4291 §2.5.4, RFC 8273), so keyed by the full address a single caller could rotate through
 * 2^64 addresses and never meet a limit. Anything that is not an address is its own key.
 */
export function addressKey(address: string): string {
  if (isIPv4(address)) return address;
  const groups = ipv6Groups(address);
  if (groups === null) return address;
  if (carriesIpv4(groups)) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/**
 * Whether an IPv6 address stands for an IPv4 host held in its last 32 bits, so that hosts behind
 * one prefix are not counted as one caller: IPv4-mapped (::ffff:0:0/96), NAT64's well-known
 * prefix (64:ff9b::/96, RFC 6052 §2.1: every IPv4 client of a NAT64 gateway comes from it), and the
 * deprecated IPv4-compatible form (::/96, RFC 4291 §2.5.5.1) but for ::/112, where ::1 and :: are.
 */
function carriesIpv4(groups: readonly number[]): boolean {
  const [a, b, c, d, e, f, g] = groups;
  if (c !== 0 || d !== 0 || e !== 0) return false;
  if (a === 0 && b === 0) return f === 0xffff || (f === 0 && g !== 0);
  return a === 0x64 && b === 0xff9b && f === 0;
}

/** The eight 16-bit groups of an IPv6 address (a zone index dropped, an IPv4 tail read), or null. */
function ipv6Groups(address: string): number[] | null {
  let text = address.split('%', 1)[0] ?? '';
  if (!isIPv6(text)) return null;
  const ipv4Tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (ipv4Tail) {
    const [a, b, c, d] = ipv4Tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, ipv4Tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const [head = '', tail] = text.split('::');
  if (tail === undefined) return parse(head);
  const [before, after] = [parse(head), parse(tail)];
  return [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
}
