const MAX_HOST_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const IPV6_LITERAL = /^\[[0-9a-f:.]*:[0-9a-f:.]*\]$/;

/**
 * Host (lower-case, no port, one trailing dot dropped) and port of an authority, or an error when it is not
 * valid authority syntax for an HTTP request: empty; userinfo (`x@admin.example.com`); percent-encoding
 * (`admin.example.com%2e`); backslashes, spaces, controls or other characters outside letters, digits,
 * `-`, `_` and `.`; empty labels (`a..b`, `.a`); a label over 63 or a name over 253 characters; an IPv6
 * address without brackets; a port that is not 1–65535. Routes match hosts exactly, so a host the matchers
 * do not recognise must not fall through to a later (catch-all) route while the upstream reads it as
 * another host.
 */
export function parseAuthority(authority: string): { host: string; port?: number } | { error: string } {
  const lower = lowerCased(authority);
  let host: string;
  let portText: string | undefined;
  if (lower.startsWith('[')) {
    const close = lower.indexOf(']');
    if (close < 0) return { error: 'invalid host: unclosed IPv6 literal' };
    host = lower.slice(0, close + 1);
    const rest = lower.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return { error: 'invalid host: characters after the IPv6 literal' };
      portText = rest.slice(1);
    }
    if (!IPV6_LITERAL.test(host)) return { error: 'invalid host: malformed IPv6 literal' };
  } else {
    const colon = lower.indexOf(':');
    if (colon >= 0) {
      if (lower.indexOf(':', colon + 1) >= 0) return { error: 'invalid host: an IPv6 address must be in brackets' };
      portText = lower.slice(colon + 1);
      host = lower.slice(0, colon);
    } else {
      host = lower;
    }
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (host === '') return { error: 'missing host' };
    if (host.length > MAX_HOST_LENGTH) return { error: 'invalid host: longer than 253 characters' };
    if (!isHostName(host)) return { error: 'invalid host: not a host name or IP address' };
  }
  // RFC 3986 §3.2.3 allows an empty port ("host:"): it means the default.
  if (portText === undefined || portText === '') return { host };
  if (!/^[0-9]{1,5}$/.test(portText)) return { error: 'invalid host: bad port' };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { error: 'invalid host: port out of range' };
  return { host, port };
}

/**
 * Whether every `.`-separated label of `host` is 1–63 of `a-z`, `0-9`, `_`, `-` — what
 * `host.split('.').every((label) => /^[a-z0-9_-]{1,63}$/.test(label))` answers, read in place: no array
 * and no label strings per request (~300 bytes for a three-label host).
 */
function isHostName(host: string): boolean {
  let label = 0;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c === 0x2e) {
      if (label === 0) return false;
      label = 0;
      continue;
    }
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d)) return false;
    if (++label > MAX_LABEL_LENGTH) return false;
  }
  return label > 0;
}

/** `s.toLowerCase()`, but `s` itself when that changes nothing (no ASCII upper-case letter, nothing beyond ASCII). */
function lowerCased(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c >= 0x80) return s.toLowerCase();
  }
  return s;
}
