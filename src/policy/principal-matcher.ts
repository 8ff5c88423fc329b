import { isSpiffeId, parsePrincipalPattern } from '../config/spiffe-id.js';

/** Tests a request's `sourcePrincipal` (`''` when none). */
export type PrincipalPredicate = (principal: string) => boolean;

/**
 * Compiles a list of principal entries (validated by the loader): exact SPIFFE IDs are a `Set` lookup; a
 * `…/*` entry matches IDs strictly under its path. An empty principal never matches, and neither does one
 * that is not a SPIFFE ID (a `..` segment could otherwise climb out of a prefix).
 *
 * @throws {TypeError} for an entry the configuration loader would have rejected.
 */
export function compilePrincipalMatcher(entries: readonly string[]): PrincipalPredicate {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of entries) {
    const pattern = parsePrincipalPattern(entry);
    if (typeof pattern === 'string') throw new TypeError(pattern);
    if ('exact' in pattern) exact.add(pattern.exact);
    else prefixes.push(pattern.under);
  }
  return (principal) => {
    if (principal === '') return false;
    if (exact.has(principal)) return true;
    return prefixes.length > 0 && prefixes.some((p) => principal.startsWith(p)) && isSpiffeId(principal);
  };
}
