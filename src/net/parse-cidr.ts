import { isIPv4, isIPv6 } from 'node:net';
import { formatIp, parseIp, type IpAddress } from './parse-ip.js';

/**
 * A CIDR that cannot be used. `code` is always `cidr_invalid`; the message names the input and what is
 * wrong with it (bad address, bad prefix, host bits set, zone id).
 */
export class CidrError extends Error {
  override readonly name = 'CidrError';
  readonly code = 'cidr_invalid' as const;
  /** The offending text, as given. */
  readonly input: string;
  /** What is wrong, without the input (for callers that build their own message). */
  readonly reason: string;

  constructor(input: string, reason: string) {
    super(`invalid CIDR ${JSON.stringify(input)}: ${reason}`);
    this.input = input;
    this.reason = reason;
  }
}

/**
 * One parsed network. Family semantics: an IPv4 network matches only IPv4 addresses (including
 * IPv4-mapped IPv6 addresses, which are normalised to IPv4); an IPv6 network matches only genuine IPv6
 * addresses. So `::/0` does not cover IPv4 clients: list `0.0.0.0/0` as well for "everything".
 */
export interface CidrMatcher {
  readonly family: 4 | 6;
  /** Prefix length in the matcher's own family (an `::ffff:a.b.c.d/104` input becomes IPv4 `/8`). */
  readonly prefix: number;
  /** Canonical text, e.g. `10.0.0.0/8`, `2001:db8::/32`. */
  readonly text: string;
  /** True when `address` (text form, no port) is a valid address inside this network. */
  contains(address: string): boolean;
  /** As {@link contains}, for an already parsed address. */
  containsIp(address: IpAddress): boolean;
}

/** The network part of `ip`'s family word `index` under `prefix` bits, as an int32 mask. */
function wordMask(prefix: number, index: number): number {
  const bits = Math.min(32, Math.max(0, prefix - index * 32));
  return bits === 0 ? 0 : (-1 << (32 - bits)) | 0;
}

/** Parsed network in the compact form CIDR sets compare against (int32 words). */
export interface CompiledNetwork {
  readonly family: 4 | 6;
  readonly prefix: number;
  /** IPv4: one word; IPv6: four. Network bits, int32. */
  readonly net: readonly number[];
  /** Same length as `net`: int32 masks. */
  readonly mask: readonly number[];
  readonly text: string;
}

/** Options of {@link compileCidr}. */
export interface CompileCidrOptions {
  /**
   * The configuration's spelling rules, checked before anything else: no surrounding spaces, an address
   * `node:net` accepts, and a prefix of at most three digits within the family's width (`prefix length must
   * be 0..32`). Configuration validation uses it; the request path compiles validated text without it.
   */
  readonly exact?: boolean;
}

/**
 * Parses a CIDR into its compiled form; see {@link parseCidr} for the accepted syntax.
 * @throws CidrError for anything else.
 */
export function compileCidr(input: string, options: CompileCidrOptions = {}): CompiledNetwork {
  if (options.exact === true) checkSpelling(input);
  const text = input.trim();
  if (text.includes('%')) throw new CidrError(input, 'zone ids are not allowed');
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = parseIp(addressText);
  if (address === undefined) throw new CidrError(input, 'not an IPv4 or IPv6 address');
  const mapped = address.family === 4 && addressText.includes(':');
  const fullBits = address.family === 4 && !mapped ? 32 : 128;

  let prefix = fullBits;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) throw new CidrError(input, 'prefix length must be a number');
    prefix = Number(prefixText);
    if (prefix > fullBits) throw new CidrError(input, `prefix length exceeds ${fullBits}`);
  }
  if (mapped) {
    // ::ffff:0:0/96 is the whole mapped space, i.e. IPv4 /0; shorter prefixes reach outside it.
    if (prefix < 96) throw new CidrError(input, 'host bits set (an IPv4-mapped network needs a prefix of at least 96)');
    prefix -= 96;
  }

  const words = address.family === 4 ? [address.value | 0] : address.words.map((w) => w | 0);
  const mask = words.map((_, i) => wordMask(prefix, i));
  const net = words.map((w, i) => w & (mask[i] as number));
  if (net.some((w, i) => w !== words[i])) {
    const base = formatIp(
      address.family === 4
        ? { family: 4, value: (net[0] as number) >>> 0 }
        : {
            family: 6,
            words: [(net[0] as number) >>> 0, (net[1] as number) >>> 0, (net[2] as number) >>> 0, (net[3] as number) >>> 0],
          },
    );
    throw new CidrError(input, `host bits set; did you mean ${base}/${prefix}?`);
  }
  return { family: address.family, prefix, net, mask, text: `${formatIp(address)}/${prefix}` };
}

/** The {@link CompileCidrOptions.exact} rules. */
function checkSpelling(text: string): void {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const max = isIPv4(address) ? 32 : isIPv6(address) ? 128 : 0;
  if (max === 0) throw new CidrError(text, 'not an IPv4 or IPv6 address');
  if (slash === -1) return;
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) throw new CidrError(text, `prefix length must be 0..${max}`);
}

/** True when parsed `ip` is inside compiled `network`. */
export function networkContains(network: CompiledNetwork, ip: IpAddress): boolean {
  if (ip.family !== network.family) return false;
  if (ip.family === 4) return (ip.value & (network.mask[0] as number)) === network.net[0];
  for (let i = 0; i < 4; i++) {
    if ((ip.words[i as 0 | 1 | 2 | 3] & (network.mask[i] as number)) !== network.net[i]) return false;
  }
  return true;
}

/**
 * Parses a network in CIDR notation: `10.0.0.0/8`, `2001:db8::/32`, `::ffff:10.0.0.0/104` (treated as
 * IPv4 `10.0.0.0/8`), or a bare address meaning a single host (`/32`, `/128`). Host bits must be zero,
 * so a typo such as `10.0.0.1/8` is reported rather than silently widened. Zone ids are rejected.
 *
 * @throws CidrError (`cidr_invalid`) naming the input and the problem.
 */
export function parseCidr(text: string): CidrMatcher {
  const network = compileCidr(text);
  return {
    family: network.family,
    prefix: network.prefix,
    text: network.text,
    contains(address: string): boolean {
      const ip = parseIp(address);
      return ip !== undefined && networkContains(network, ip);
    },
    containsIp(address: IpAddress): boolean {
      return networkContains(network, address);
    },
  };
}
