import type { CidrSet } from './create-cidr-set.js';
import { formatIp, parseIp, parseIpv4Value, type IpAddress } from './parse-ip.js';

/** Input of {@link resolveClientAddress}. */
export interface ResolveClientAddressInput {
  /** The immediate peer's address (what the proxy/socket reports); a port suffix is tolerated. */
  readonly peer: string;
  /**
   * The `x-forwarded-for` value(s). Several header lines may be passed as an array or already joined
   * with `,` (as Envoy does); both read as one list, oldest hop first.
   */
  readonly xForwardedFor?: string | readonly string[];
  /** Proxies whose forwarded headers are believed. Empty set = trust none. */
  readonly trustedProxies: CidrSet;
  /** Most XFF entries examined before giving up (default 32); bounds the work on a huge header. */
  readonly maxHops?: number;
}

function isPortText(text: string): boolean {
  if (text.length === 0 || text.length > 5) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return Number(text) <= 65535;
}

/**
 * Parses one hop: `1.2.3.4`, `1.2.3.4:port`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:port`,
 * surrounded by optional spaces/tabs. Anything else (`unknown`, obfuscated ids, zone ids) is undefined.
 */
export function parseForwardedHop(raw: string): IpAddress | undefined {
  const text = raw.trim();
  if (text.length === 0 || text.length > 64) return undefined;
  if (text.charCodeAt(0) === 91 /* [ */) {
    const close = text.indexOf(']');
    if (close < 0) return undefined;
    const rest = text.slice(close + 1);
    if (rest.length > 0 && !(rest.charCodeAt(0) === 58 && isPortText(rest.slice(1)))) return undefined;
    const inner = text.slice(1, close);
    if (!inner.includes(':')) return undefined; // brackets are for IPv6 only
    return parseIp(inner);
  }
  const colon = text.indexOf(':');
  if (colon >= 0 && text.indexOf(':', colon + 1) < 0) {
    // Exactly one colon: IPv4 with a port (a bare IPv6 address always has at least two).
    if (!isPortText(text.slice(colon + 1))) return undefined;
    const ip = parseIp(text.slice(0, colon));
    return ip !== undefined && ip.family === 4 ? ip : undefined;
  }
  return parseIp(text);
}

/**
 * Determines the client's IP address, believing forwarded headers only from trusted proxies.
 *
 * Rule (read right to left, the only direction a client cannot forge):
 * 1. no trusted proxies configured, or the peer is not trusted → the peer;
 * 2. otherwise walk `x-forwarded-for` from the rightmost entry, skipping trusted hops; the first
 *    untrusted address is the client (anything a client prepended lies further left and is never read);
 * 3. a malformed entry stops the walk: the result is its right neighbour — the last trusted hop already
 *    passed (or the peer) — because a garbled value is never believed, and the hop that relayed it is
 *    the nearest address we can vouch for;
 * 4. when every entry is trusted (or `maxHops` is reached) the leftmost trusted hop examined is returned.
 * Empty list elements (e.g. from an empty header line) are skipped.
 *
 * @returns the canonical address text (IPv4-mapped IPv6 as IPv4; RFC 5952 IPv6), or `''` when the peer
 *   itself is not a valid address (unknown source: network conditions then fail closed).
 */
export function resolveClientAddress(input: ResolveClientAddressInput): string {
  const { trustedProxies } = input;
  // Common case (no proxies, plain dotted quad): strict parsing means the text is already canonical.
  if (trustedProxies.size === 0 && parseIpv4Value(input.peer) >= 0) return input.peer;
  const peer = parseForwardedHop(input.peer);
  if (peer === undefined) return '';
  if (trustedProxies.size === 0 || !trustedProxies.containsIp(peer)) return formatIp(peer);

  const xff = input.xForwardedFor;
  const list = typeof xff === 'string' ? xff : xff === undefined ? '' : xff.join(',');
  const maxHops = input.maxHops ?? 32;
  let lastTrusted = peer;
  let examined = 0;
  let end = list.length;
  while (end > 0 && examined < maxHops) {
    const comma = list.lastIndexOf(',', end - 1);
    const entry = list.slice(comma + 1, end);
    end = comma < 0 ? 0 : comma;
    if (entry.trim().length === 0) continue;
    examined++;
    const hop = parseForwardedHop(entry);
    if (hop === undefined) break;
    if (!trustedProxies.containsIp(hop)) return formatIp(hop);
    lastTrusted = hop;
  }
  return formatIp(lastTrusted);
}
