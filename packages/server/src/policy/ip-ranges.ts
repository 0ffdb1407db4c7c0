// IP ranges: a service's `allowedIps`, and the proxies whose X-Forwarded-For is believed.

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
