import { isIPv4, isIPv6 } from 'node:net';

/** A parsed CIDR block: an address family, the address text and the prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly address: string;
  readonly prefixLength: number;
}

/**
 * Parses `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128 block).
 *
 * @returns the block, or a string describing why the text is not a valid CIDR.
 */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
  if (family === 0) return `invalid CIDR ${JSON.stringify(text)}: not an IPv4 or IPv6 address`;
  const max = family === 4 ? 32 : 128;
  if (slash === -1) return { family, address, prefixLength: max };
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) {
    return `invalid CIDR ${JSON.stringify(text)}: prefix length must be 0..${max}`;
  }
  return { family, address, prefixLength: Number(bits) };
}
