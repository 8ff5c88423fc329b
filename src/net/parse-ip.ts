/**
 * A parsed IP address. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, also in hex form `::ffff:c000:201`)
 * are normalised to IPv4, so one host has one representation everywhere (CIDR sets, logs, policy).
 */
export type IpAddress = Ipv4Address | Ipv6Address;

export interface Ipv4Address {
  readonly family: 4;
  /** The address as an unsigned 32-bit integer. */
  readonly value: number;
}

export interface Ipv6Address {
  readonly family: 6;
  /** The 128 bits as four unsigned 32-bit words, most significant first. */
  readonly words: readonly [number, number, number, number];
}

/**
 * Parses strict dotted-quad IPv4 (no leading zeros, no short forms) into an unsigned 32-bit integer.
 * Allocation-free; for hot paths.
 *
 * @returns the value, or -1 when `text[start, end)` is not an IPv4 address.
 */
export function parseIpv4Value(text: string, start = 0, end = text.length): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero: ambiguous (octal in some parsers)
      part = part * 10 + (c - 48);
      if (part > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses `text[start, end)` as hex groups separated by `:`; the last group may be dotted IPv4. */
function parseGroups(text: string, start: number, end: number, out: number[], allowIpv4Tail: boolean): boolean {
  if (start === end) return true;
  let groupStart = start;
  for (let i = start; i <= end; i++) {
    if (i < end && text.charCodeAt(i) !== 58 /* : */) continue;
    if (i === groupStart) return false; // empty group (":::" or a leading/trailing single ":")
    const lastGroup = i === end;
    let dotted = false;
    for (let j = groupStart; j < i; j++) {
      if (text.charCodeAt(j) === 46) {
        dotted = true;
        break;
      }
    }
    if (dotted) {
      if (!lastGroup || !allowIpv4Tail) return false;
      const v4 = parseIpv4Value(text, groupStart, i);
      if (v4 < 0) return false;
      out.push(Math.floor(v4 / 65536), v4 % 65536);
    } else {
      if (i - groupStart > 4) return false;
      let group = 0;
      for (let j = groupStart; j < i; j++) {
        const h = hexValue(text.charCodeAt(j));
        if (h < 0) return false;
        group = group * 16 + h;
      }
      out.push(group);
    }
    groupStart = i + 1;
  }
  return true;
}

/** Parses IPv6 text (no zone id, no brackets) into 8 hextets, or undefined. */
function parseIpv6Hextets(text: string): number[] | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const gap = text.indexOf('::');
  const head: number[] = [];
  if (gap < 0) {
    if (!parseGroups(text, 0, text.length, head, true) || head.length !== 8) return undefined;
    return head;
  }
  if (text.indexOf('::', gap + 1) >= 0) return undefined;
  const tail: number[] = [];
  if (!parseGroups(text, 0, gap, head, false)) return undefined;
  if (!parseGroups(text, gap + 2, text.length, tail, true)) return undefined;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return undefined;
  for (let i = 0; i < missing; i++) head.push(0);
  for (const group of tail) head.push(group);
  return head;
}

/**
 * Parses an IPv4 or IPv6 address in text form (no port, no brackets).
 *
 * Rejects zone ids (`fe80::1%eth0`): a scoped address names an interface, not a network location, and
 * matching it against CIDRs would be ambiguous. IPv4-mapped IPv6 is returned as IPv4.
 *
 * @returns the address, or undefined when `text` is not a valid address.
 */
export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4Value(text);
  if (v4 >= 0) return { family: 4, value: v4 };
  if (text.indexOf(':') < 0) return undefined;
  const h = parseIpv6Hextets(text);
  if (h === undefined) return undefined;
  const words: [number, number, number, number] = [
    (h[0] as number) * 65536 + (h[1] as number),
    (h[2] as number) * 65536 + (h[3] as number),
    (h[4] as number) * 65536 + (h[5] as number),
    (h[6] as number) * 65536 + (h[7] as number),
  ];
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return { family: 4, value: words[3] };
  return { family: 6, words };
}

/**
 * Formats an address canonically: dotted quad for IPv4, RFC 5952 for IPv6 (lower-case, no leading
 * zeros, the longest run of two or more zero groups compressed to `::`, the leftmost on a tie).
 */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) {
    const v = ip.value;
    return `${Math.floor(v / 16777216)}.${Math.floor(v / 65536) % 256}.${Math.floor(v / 256) % 256}.${v % 256}`;
  }
  const groups: number[] = [];
  for (const w of ip.words) groups.push(Math.floor(w / 65536), w % 65536);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/**
 * Parses and re-formats an address canonically (see {@link formatIp}); mapped IPv6 becomes IPv4.
 * @returns the canonical text, or undefined when `text` is not a valid address.
 */
export function normalizeIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip === undefined ? undefined : formatIp(ip);
}
