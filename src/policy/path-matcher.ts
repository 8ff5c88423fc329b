import type { PathMatch } from '../config/types.js';

/** A canonical request path plus its segments, split at most once per request and shared by all routes. */
export interface RequestPath {
  readonly path: string;
  segments?: readonly string[];
  /** `path` with ASCII letters lower-cased, computed once for the case-insensitive routes. */
  lower?: string;
  lowerSegments?: readonly string[];
}

/** Options of {@link compilePathMatcher}. */
export interface PathMatcherOptions {
  /** `false`: ASCII letters match regardless of case (default true). */
  readonly caseSensitive?: boolean;
}

/** Tests a canonical request path. */
export type PathPredicate = (path: RequestPath) => boolean;

/**
 * Compiles a route's path matchers into one predicate (any matcher may match; none = every path).
 * Exact paths are one `Set` lookup; prefixes are segment-aware (`/api` matches `/api` and `/api/x`, not
 * `/apix`); globs are matched segment by segment (see {@link compileGlob}).
 *
 * With `caseSensitive: false` the patterns and the request path are compared with ASCII letters
 * lower-cased (as Envoy's `case_sensitive: false`); percent-escapes are upper-case hex in the canonical
 * path and never appear in patterns, so only letters are affected.
 */
export function compilePathMatcher(paths: readonly PathMatch[], options: PathMatcherOptions = {}): PathPredicate {
  if (paths.length === 0) return () => true;
  const fold = options.caseSensitive === false ? asciiLowerCase : (s: string) => s;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const globs: GlobPredicate[] = [];
  for (const p of paths) {
    if ('exact' in p) exact.add(fold(p.exact));
    else if ('prefix' in p) prefixes.push(fold(p.prefix.length > 1 ? p.prefix.replace(/\/+$/, '') : p.prefix));
    else globs.push(compileGlob(fold(p.glob)));
  }
  // `folded`: `path` is the lower-cased form, whose segments are cached apart from the original's.
  const test = (req: RequestPath, path: string, folded: boolean): boolean => {
    if (exact.has(path)) return true;
    for (const prefix of prefixes) {
      if (prefix === '/' || path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f)) return true;
    }
    if (globs.length === 0) return false;
    const segs = folded ? (req.lowerSegments ??= splitSegments(path)) : (req.segments ??= splitSegments(path));
    for (const glob of globs) if (glob(segs)) return true;
    return false;
  };
  if (options.caseSensitive === false) return (req) => test(req, (req.lower ??= asciiLowerCase(req.path)), true);
  return (req) => test(req, req.path, false);
}

/** Lower-cases A–Z only: no Unicode case folding (`K`, the Kelvin sign, must not become `k`). */
function asciiLowerCase(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

/** `/a/b/` → `['a', 'b', '']`. */
export function splitSegments(path: string): readonly string[] {
  return path.split('/').slice(1);
}

/** Tests the segments of a path. */
export type GlobPredicate = (segments: readonly string[]) => boolean;

/**
 * Compiles a glob: `*` matches within one segment, a `**` segment matches any number of segments
 * (including none, so `/public/**` matches `/public`, `/public/` and `/public/a/b`; `/a/**\/b` matches
 * `/a/b`). Everything else is literal.
 *
 * Matching is a leftmost-greedy scan over segments and a linear wildcard match within a segment — no
 * regular expressions, so a hostile path cannot trigger catastrophic backtracking.
 */
export function compileGlob(glob: string): GlobPredicate {
  const tokens = splitSegments(glob);
  const parts: (readonly string[])[] = [[]];
  for (const t of tokens) {
    if (t === '**') {
      if ((parts[parts.length - 1] ?? []).length > 0 || parts.length === 1) parts.push([]);
    } else {
      (parts[parts.length - 1] as string[]).push(t);
    }
  }
  const head = parts[0] ?? [];
  if (parts.length === 1) {
    return (segs) => segs.length === head.length && matchAt(head, segs, 0);
  }
  const tail = parts[parts.length - 1] ?? [];
  const middle = parts.slice(1, -1);
  const minLength = parts.reduce((n, p) => n + p.length, 0);
  return (segs) => {
    if (segs.length < minLength || !matchAt(head, segs, 0)) return false;
    const tailStart = segs.length - tail.length;
    if (!matchAt(tail, segs, tailStart)) return false;
    let pos = head.length;
    for (const part of middle) {
      let found = -1;
      for (let i = pos; i + part.length <= tailStart; i++) {
        if (matchAt(part, segs, i)) {
          found = i;
          break;
        }
      }
      if (found === -1) return false;
      pos = found + part.length;
    }
    return pos <= tailStart;
  };
}

function matchAt(part: readonly string[], segs: readonly string[], start: number): boolean {
  for (let i = 0; i < part.length; i++) {
    const seg = segs[start + i];
    if (seg === undefined || !wildcardMatch(part[i] ?? '', seg)) return false;
  }
  return true;
}

/** `*` = any run of characters within the segment; O(pattern × text) worst case. */
function wildcardMatch(pattern: string, text: string): boolean {
  if (!pattern.includes('*')) return pattern === text;
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.length && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (star !== -1) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}
