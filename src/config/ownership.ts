import type { PathMatch } from './types.js';

/**
 * Host and path-prefix arithmetic for tenant ownership, done at load time on what the configuration
 * writes. Hosts follow the request path's matcher (`compileHostMatcher`): `*.example.com` covers exactly
 * one extra label. Prefixes are canonical and segment-aware: `/api` covers `/api` and `/api/x`, not `/apix`.
 */

/** True when `path` is `prefix` or lies below it, segment-wise. */
export function isUnderPrefix(path: string, prefix: string): boolean {
  if (prefix === '/' || path === prefix) return true;
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return path.startsWith(p);
}

/** True when some path can be under both prefixes (one is a segment-prefix of the other). */
export function prefixesOverlap(a: string, b: string): boolean {
  return isUnderPrefix(a, b) || isUnderPrefix(b, a);
}

/**
 * The literal part of a path matcher every path it matches starts with: the whole path of `exact` and
 * `prefix`, and for `glob` the segments before the first one holding a `*` (`/api/*\/x` → `/api`).
 */
export function literalPrefix(m: PathMatch): string {
  if ('exact' in m) return m.exact;
  if ('prefix' in m) return m.prefix;
  const segments = m.glob.split('/');
  const star = segments.findIndex((s) => s.includes('*'));
  const kept = star === -1 ? segments : segments.slice(0, star);
  const joined = kept.join('/');
  return joined === '' ? '/' : joined;
}

/** The parent of a wildcard host (`*.example.com` → `example.com`), or undefined for an exact host. */
function wildcardParent(host: string): string | undefined {
  return host.startsWith('*.') ? host.slice(2) : undefined;
}

/** The parent of an exact host one label up (`a.example.com` → `example.com`), or undefined. */
function parentOf(host: string): string | undefined {
  const dot = host.indexOf('.');
  return dot > 0 ? host.slice(dot + 1) : undefined;
}

/**
 * True when every request host `host` matches is one `owned` matches: an exact host by itself or by the
 * wildcard one label up; a wildcard only by the same wildcard.
 */
export function hostCovers(owned: string, host: string): boolean {
  if (owned === host) return true;
  const parent = wildcardParent(owned);
  return parent !== undefined && wildcardParent(host) === undefined && parentOf(host) === parent;
}

/** True when some request host matches both `a` and `b`. */
export function hostsOverlap(a: string, b: string): boolean {
  return hostCovers(a, b) || hostCovers(b, a);
}
