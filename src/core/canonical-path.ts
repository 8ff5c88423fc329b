/**
 * The result of {@link canonicalizePath}: the canonical path and the raw query, or why the target was
 * rejected (the engine denies such a request with `path_invalid`).
 */
export type CanonicalPathResult =
  | {
      readonly ok: true;
      readonly path: string;
      readonly query: string;
      /**
       * Present when the path carried `;` path parameters: `raw` — `path` has them stripped from each
       * segment (`/a;x=1/b` → `/a/b`); `encoded` — a percent-encoded `;` (`%3B`, any case) is in the path
       * (kept escaped in `path`). The policy rejects both unless it opted into raw parameters.
       */
      readonly pathParameters?: PathParameters;
    }
  | { readonly ok: false; readonly reason: string };

/** See {@link CanonicalPathResult}: `encoded` wins when a path has both kinds. */
export type PathParameters = 'raw' | 'encoded';

const HEX = '0123456789ABCDEF';

/** 1 = unreserved (ALPHA / DIGIT / `-._~`), 2 = other character allowed raw in a path, 0 = must be escaped. */
const ASCII_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(128);
  for (let c = 0x21; c < 0x7f; c++) table[c] = 2;
  for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') {
    table[ch.charCodeAt(0)] = 1;
  }
  // Not allowed raw in a path by RFC 3986 and not reserved: normalised to their escaped form.
  for (const ch of '"<>\\^`{|}') table[ch.charCodeAt(0)] = 0;
  return table;
})();

/**
 * Turns a raw HTTP request target (Envoy's `:path`, which includes the query) into the one canonical path
 * every matcher sees, so that no two spellings of the same resource can be matched differently by policy and
 * by the upstream.
 *
 * The path is split from the query at the first `?` (a `#fragment` is dropped); percent-escapes of unreserved
 * characters (ALPHA / DIGIT / `-._~`) are decoded, every other escape is kept with upper-case hex; raw
 * characters that are neither reserved nor unreserved are escaped; runs of `/` are merged; `.` and `..`
 * segments are resolved (also when spelled `%2e`); a trailing slash is kept and letter case is preserved.
 *
 * Rejected (`ok: false`, with a short reason): an empty target or one not starting with `/` (including `*`),
 * a backslash (raw or `%5C`), an encoded slash (`%2F`), NUL or any control character (raw or escaped), a
 * malformed escape (`%zz`, `%4`), raw non-ASCII, escapes that are not valid UTF-8 (overlong forms such as
 * `%C0%AE`, surrogates, truncated sequences), a segment starting with `.;` or `..;` (servlet path parameters
 * that Tomcat-style upstreams resolve as dot segments), a segment that is only a path parameter (`/a/;x/b`,
 * which a servlet container routes as `/a//b`), and `..` segments that would climb above the root.
 * Never throws.
 *
 * Path parameters (`;` inside a segment, RFC 3986 §3.3): Java servlet containers route `/admin;x/users` as
 * `/admin/users`, so a matcher that saw the literal segment `admin;x` could be bypassed. They are stripped
 * from each segment as Tomcat does (after the dot-segment checks above, so stripping can never produce a
 * `..`), and reported in `pathParameters` so the policy can refuse them (its default) — the canonical path
 * is what such an upstream routes on. An encoded `;` is never stripped, only reported: upstreams disagree
 * on whether it delimits a parameter, so no single reading is safe.
 *
 * @returns `{ ok: true, path, query, pathParameters? }` where `query` is the raw query without `?` (not
 *   decoded), or `{ ok: false, reason }`.
 */
export function canonicalizePath(rawTarget: string): CanonicalPathResult {
  if (typeof rawTarget !== 'string' || rawTarget.length === 0) return reject('empty request target');
  let end = rawTarget.length;
  const hash = rawTarget.indexOf('#');
  if (hash >= 0) end = hash;
  const qmark = rawTarget.indexOf('?');
  let query = '';
  if (qmark >= 0 && qmark < end) {
    query = rawTarget.slice(qmark + 1, end);
    end = qmark;
  }
  if (rawTarget.charCodeAt(0) !== 0x2f) return reject('request target is not an absolute path');
  for (let i = end; i < rawTarget.length; i++) {
    const c = rawTarget.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return reject('control character in request target');
  }

  if (isAlreadyCanonical(rawTarget, end)) return { ok: true, path: rawTarget.slice(0, end), query };

  // Decode into segments in one pass; `segment` collects the current segment's canonical text.
  const segments: string[] = [];
  let segment = '';
  let i = 1;
  while (i <= end) {
    if (i === end) {
      segments.push(segment);
      break;
    }
    const c = rawTarget.charCodeAt(i);
    if (c === 0x2f) {
      segments.push(segment);
      segment = '';
      i++;
      continue;
    }
    if (c === 0x25) {
      const byte = hexByte(rawTarget, i + 1, end);
      if (byte < 0) return reject('malformed percent-encoding');
      if (byte < 0x80) {
        if (byte === 0x2f) return reject('encoded slash');
        if (byte === 0x5c) return reject('encoded backslash');
        if (byte < 0x20 || byte === 0x7f) return reject('encoded control character');
        segment += ASCII_CLASS[byte] === 1 ? String.fromCharCode(byte) : escapeByte(byte);
        i += 3;
        continue;
      }
      const consumed = readUtf8Escapes(rawTarget, i, end, byte);
      if (consumed === null) return reject('invalid UTF-8 in percent-encoding');
      segment += consumed.text;
      i = consumed.next;
      continue;
    }
    if (c > 0x7e) return reject('raw non-ASCII character in path');
    if (c < 0x21) return reject(c === 0x20 ? 'raw space in path' : 'control character in path');
    if (c === 0x5c) return reject('backslash in path');
    segment += ASCII_CLASS[c] === 0 ? escapeByte(c) : rawTarget[i];
    i++;
  }

  const out: string[] = [];
  const last = segments.length - 1;
  let trailingSlash = false;
  let parameters: PathParameters | undefined;
  for (let s = 0; s <= last; s++) {
    const seg = segments[s] as string;
    const isLast = s === last;
    if (seg === '') {
      if (isLast) trailingSlash = out.length > 0;
      continue;
    }
    if (seg === '.') {
      if (isLast) trailingSlash = out.length > 0;
      continue;
    }
    if (seg === '..') {
      if (out.length === 0) return reject('dot segment above the root');
      out.pop();
      if (isLast) trailingSlash = out.length > 0;
      continue;
    }
    if (seg.charCodeAt(0) === 0x2e && isDotParameter(seg)) return reject('dot segment with path parameter');
    if (seg.includes('%3B')) parameters = 'encoded';
    const semicolon = seg.indexOf(';');
    if (semicolon === 0) return reject('path parameter without a segment name');
    if (semicolon > 0) {
      parameters ??= 'raw';
      out.push(seg.slice(0, semicolon));
    } else {
      out.push(seg);
    }
  }
  if (out.length === 0) return withParameters({ ok: true, path: '/', query }, parameters);
  const path = '/' + out.join('/') + (trailingSlash ? '/' : '');
  return withParameters({ ok: true, path, query }, parameters);
}

function withParameters(
  result: { ok: true; path: string; query: string },
  parameters: PathParameters | undefined,
): CanonicalPathResult {
  return parameters === undefined ? result : { ...result, pathParameters: parameters };
}

/**
 * The common case on the hot path: only plain characters, no escapes, no `;`, no empty or dot-led segments,
 * so the slow decoder would return the input unchanged.
 */
function isAlreadyCanonical(s: string, end: number): boolean {
  let prev = 0x2f;
  for (let i = 1; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7e || c === 0x25 || c === 0x3b || ASCII_CLASS[c] === 0) return false;
    if (prev === 0x2f && (c === 0x2f || c === 0x2e)) return false;
    prev = c;
  }
  return true;
}

function reject(reason: string): CanonicalPathResult {
  return { ok: false, reason };
}

/** `.;…`, `..;…` and the same with `;` escaped as `%3B`. */
function isDotParameter(seg: string): boolean {
  const rest = seg.charCodeAt(1) === 0x2e ? seg.slice(2) : seg.slice(1);
  return rest.startsWith(';') || rest.startsWith('%3B');
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** The byte encoded by the two hex digits at `at`, or -1 when they are missing or not hex. */
function hexByte(s: string, at: number, end: number): number {
  if (at + 1 >= end) return -1;
  const hi = hexValue(s.charCodeAt(at));
  const lo = hexValue(s.charCodeAt(at + 1));
  if (hi < 0 || lo < 0) return -1;
  return (hi << 4) | lo;
}

function escapeByte(byte: number): string {
  return '%' + HEX[byte >> 4] + HEX[byte & 15];
}

/**
 * Validates one UTF-8 sequence spelled as consecutive escapes starting at `start` (whose first byte is
 * `lead`), following RFC 3629's table so overlong forms and surrogates are refused. The sequence stays
 * escaped (upper-case) in the canonical form.
 */
function readUtf8Escapes(
  s: string,
  start: number,
  end: number,
  lead: number,
): { text: string; next: number } | null {
  let need: number;
  let lower = 0x80;
  let upper = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) need = 1;
  else if (lead >= 0xe0 && lead <= 0xef) {
    need = 2;
    if (lead === 0xe0) lower = 0xa0;
    else if (lead === 0xed) upper = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    need = 3;
    if (lead === 0xf0) lower = 0x90;
    else if (lead === 0xf4) upper = 0x8f;
  } else return null;
  let text = escapeByte(lead);
  let at = start + 3;
  for (let k = 0; k < need; k++) {
    if (s.charCodeAt(at) !== 0x25) return null;
    const b = hexByte(s, at + 1, end);
    if (b < lower || b > upper) return null;
    lower = 0x80;
    upper = 0xbf;
    text += escapeByte(b);
    at += 3;
  }
  return { text, next: at };
}
