/**
 * SPIFFE IDs (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md) as policy entries and as
 * what Envoy reports for an mTLS peer (`source.principal`, an Istio workload's URI SAN).
 */

/** The SPIFFE ID spec's limit on the whole URI, bytes (all accepted characters are ASCII). */
const MAX_SPIFFE_ID_LENGTH = 2048;
const SCHEME = 'spiffe://';
/** §2.1: lower-case letters, digits, `.`, `-`, `_` (no port, no user info, no upper case). */
const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;
/** §2.2: letters, digits, `.`, `-`, `_`; `.` and `..` alone are not allowed. */
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;
/** The last segment of a prefix entry: `spiffe://td/ns/shop/*`. `*` is not a SPIFFE ID character, so the form is unambiguous. */
const WILDCARD = '*';

/** Why `id` is not a SPIFFE ID, or undefined when it is one. The reason never quotes the ID: callers decide whether to. */
export function spiffeIdProblem(id: string): string | undefined {
  if (id.length > MAX_SPIFFE_ID_LENGTH) return `too long (a SPIFFE ID has at most ${MAX_SPIFFE_ID_LENGTH} characters)`;
  if (!id.startsWith(SCHEME)) return 'must start with "spiffe://" (lower-case scheme)';
  const rest = id.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  if (trustDomain === '') return 'the trust domain is empty';
  if (!TRUST_DOMAIN_RE.test(trustDomain)) {
    return 'the trust domain may hold only lower-case letters, digits, ".", "-" and "_" (no port, user info, query or fragment)';
  }
  if (slash < 0) return undefined;
  for (const segment of rest.slice(slash + 1).split('/')) {
    if (segment === '') return 'the path has an empty segment (no "//" and no trailing "/")';
    if (segment === '.' || segment === '..') return 'the path has a "." or ".." segment';
    if (!SEGMENT_RE.test(segment)) return 'path segments may hold only letters, digits, ".", "-" and "_" (no query or fragment)';
  }
  return undefined;
}

/** True when `id` is a SPIFFE ID by the spec. */
export function isSpiffeId(id: string): boolean {
  return spiffeIdProblem(id) === undefined;
}

/** A principal entry: an exact SPIFFE ID, or a trust domain and path prefix followed by `/*`. */
export type PrincipalPattern = { readonly exact: string } | { readonly under: string };

/**
 * Parses a `principals` / `principal.in` entry. `spiffe://td/ns/shop/*` becomes `{ under: 'spiffe://td/ns/shop/' }`
 * (the trailing `/` keeps it segment-aware: `…/ns/shopx/…` does not start with it); `spiffe://td/*` is every
 * workload of the trust domain. `*` anywhere else, or as part of a segment, is refused.
 */
export function parsePrincipalPattern(entry: string): PrincipalPattern | string {
  const wildcard = entry.endsWith(`/${WILDCARD}`);
  const id = wildcard ? entry.slice(0, -2) : entry;
  const problem = spiffeIdProblem(id);
  if (problem !== undefined) {
    const hint = id.includes(WILDCARD) ? ' ("*" is allowed only as the whole last segment: spiffe://cluster.local/ns/shop/*)' : '';
    return `not a SPIFFE ID: ${problem}${hint}: ${JSON.stringify(entry)}`;
  }
  return wildcard ? { under: `${id}/` } : { exact: id };
}

/** A `check` for the config lists: the problem with an entry, or undefined. */
export function checkPrincipalPattern(entry: string): string | undefined {
  const parsed = parsePrincipalPattern(entry);
  return typeof parsed === 'string' ? parsed : undefined;
}
