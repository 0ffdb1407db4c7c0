// After a client has proved who it is: may it get a token at all, from where it is calling?
// These answers come only after authentication, so they reveal nothing to a stranger.

import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Service } from '../storage/records.ts';
import { OAuthError } from './errors.ts';

export function checkClientStanding(service: Service, clientIp: string, now: number): void {
  if (service.status !== 'ACTIVE') {
    throw new OAuthError(401, 'invalid_client', `service ${service.principal} is disabled`, { errorCode: 'AUTH_103' });
  }
  if (service.expiresAt !== null && service.expiresAt <= now) {
    throw new OAuthError(401, 'invalid_client', `service ${service.principal} expired at ${new Date(service.expiresAt).toISOString()}`, {
      errorCode: 'AUTH_103',
    });
  }
  if (service.allowedIps.length > 0 && !ipAllowed(service.allowedIps, clientIp)) {
    throw new OAuthError(403, 'access_denied', `calls from ${clientIp} are not in the allowed IP ranges of ${service.principal}`, {
      errorCode: 'AUTH_104',
    });
  }
}

/** `allowedIps` are CIDR blocks or single addresses, IPv4 or IPv6; IPv4-mapped IPv6 callers match IPv4 blocks. */
export function ipAllowed(allowedIps: readonly string[], clientIp: string): boolean {
  const ip = clientIp.startsWith('::ffff:') && isIPv4(clientIp.slice(7)) ? clientIp.slice(7) : clientIp;
  const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : null;
  if (!family) return false;
  const list = new BlockList();
  for (const cidr of allowedIps) {
    const [address = '', bits] = cidr.split('/');
    const blockFamily = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, blockFamily);
    else list.addSubnet(address, Number(bits), blockFamily);
  }
  return list.check(ip, family);
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
