/** A claim reference compiled once: the name as written and its dotted segments. */
export interface ClaimPath {
  /** The name as written in the policy (shown in traces; claim *names* are not PII). */
  readonly name: string;
  readonly segments: readonly string[];
}

/** Compiles `realm_access.roles` into segments; a name without dots is one segment. */
export function compileClaimPath(name: string): ClaimPath {
  return { name, segments: name.split('.') };
}

/**
 * Reads a claim. A top-level claim whose name is exactly the path wins (namespaced claims such as
 * `https://example.com/roles` contain dots); otherwise the dotted segments walk into nested objects.
 * Only own properties are read, so `__proto__` or `constructor` never reach the prototype.
 *
 * @returns the value, or undefined when absent or when a segment crosses a non-object.
 */
export function readClaim(claims: Readonly<Record<string, unknown>>, path: ClaimPath): unknown {
  if (Object.hasOwn(claims, path.name)) return claims[path.name];
  if (path.segments.length === 1) return undefined;
  let cur: unknown = claims;
  for (const segment of path.segments) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, segment)) return undefined;
    cur = (cur as Record<string, unknown>)[segment];
  }
  return cur;
}

/**
 * The string members of a list-like claim: an array (non-strings ignored) or a space-separated string
 * (the OAuth `scope` form). Anything else yields an empty list.
 */
export function claimList(value: unknown): readonly string[] {
  if (typeof value === 'string') return value.split(' ').filter((s) => s !== '');
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/**
 * Whether `item` is a member of the list-like claim `value`: exactly `claimList(value).includes(item)`,
 * without building the list (the scope, role and amr checks of every Check).
 */
export function claimListIncludes(value: unknown, item: string): boolean {
  if (typeof value === 'string') {
    // claimList splits on single spaces and drops empty members: no member is empty or holds a space.
    if (item === '' || item.includes(' ')) return false;
    for (let at = value.indexOf(item); at >= 0; at = value.indexOf(item, at + 1)) {
      const end = at + item.length;
      if ((at === 0 || value[at - 1] === ' ') && (end === value.length || value[end] === ' ')) return true;
    }
    return false;
  }
  // A string equals only an identical string, so the non-strings claimList drops can never match.
  if (Array.isArray(value)) return value.includes(item);
  return false;
}
