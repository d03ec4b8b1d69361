/**
 * What a webhook may reach: the URL rules endpoints are checked against when they are made, the
 * addresses a request may connect to, and how many requests one receiver gets at once. Kept apart
 * from the HTTP client (webhook-request.ts), which only the request thread loads.
 */
import net from 'node:net';

/** Addresses a webhook may not reach unless private ones are allowed: loopback, private, link-local, metadata. */
const FORBIDDEN = new net.BlockList();
for (const [address, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const)
  FORBIDDEN.addSubnet(address, prefix, 'ipv4');
// IPv4-mapped addresses (::ffff:a.b.c.d) are not listed: they are checked as the IPv4 address they
// carry (a BlockList compares IPv4 addresses with IPv6 rules in that form, so a rule for them would
// match every IPv4 address).
for (const [address, prefix] of [
  ['::', 96], // unspecified, loopback, and IPv4-compatible addresses
  ['::ffff:0:0:0', 96], // IPv4-translated
  ['64:ff9b::', 96], // NAT64
  ['64:ff9b:1::', 48], // local NAT64
  ['2002::', 16], // 6to4, which carries an IPv4 address
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  FORBIDDEN.addSubnet(address, prefix, 'ipv6');

/** The IPv4 address an IPv4-mapped IPv6 address carries, in any of its written forms, else null. */
function mappedIPv4(address: string): string | null {
  // The URL parser writes an IPv6 address one way: compressed, lower-case hex.
  const canonical = new URL(`http://[${address}]/`).hostname;
  const hex = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(canonical);
  if (!hex) return null;
  const [high, low] = [parseInt(hex[1], 16), parseInt(hex[2], 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** Whether a webhook may not reach `address` (anything that is not a plain IP address counts as forbidden). */
export function isForbiddenAddress(address: string): boolean {
  const unbracketed = address.replace(/^\[|\]$/g, '');
  try {
    if (net.isIPv4(unbracketed)) return FORBIDDEN.check(unbracketed, 'ipv4');
    if (!net.isIPv6(unbracketed)) return true;
    const mapped = mappedIPv4(unbracketed);
    return mapped ? FORBIDDEN.check(mapped, 'ipv4') : FORBIDDEN.check(unbracketed, 'ipv6');
  } catch {
    return true;
  }
}

export interface Target {
  allowPrivate: boolean;
  /** Only https (production), unless private addresses are allowed: receivers inside a network often speak http. */
  httpsOnly: boolean;
}

/** Why `url` may not be a webhook endpoint, from its text alone (its address is checked when connecting). */
export function urlProblem(url: string, target: Target): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'url must be an absolute URL';
  }
  const httpsOnly = target.httpsOnly && !target.allowPrivate;
  if (parsed.protocol !== 'https:' && (httpsOnly || parsed.protocol !== 'http:'))
    return httpsOnly ? 'url must be an https URL' : 'url must be an http or https URL';
  if (parsed.username || parsed.password) return 'url must not carry a user name or password';
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (!target.allowPrivate && net.isIP(host) && isForbiddenAddress(host))
    return 'url must not point at a loopback, private, link-local or metadata address';
  return null;
}

/**
 * Requests in flight to one receiver (origin) at most, each on a connection of its own, kept open so
 * that a stream of events does not connect once per event. More wait for a place, and their timeout
 * starts when they get one: the timeout is the receiver's time to answer.
 */
export const SOCKETS_PER_RECEIVER = 64;
