/**
 * One spelling rule for "is this request header an identity header?", shared by every front end.
 *
 * HTTP field names are case-insensitive, and WSGI, CGI, Rack and PHP upstreams read `X-Idgate_Roles`,
 * `x_idgate_roles` and `x-idgate-roles` as the same variable (`HTTP_X_IDGATE_ROLES`): they upper-case the
 * name and turn `-` into `_`. So a client copy of an identity header is any name that, lower-cased with
 * `_` read as `-`, starts with the identity prefix or is one of the configured strip names.
 */
export type IdentityHeaderTest = (lowerCaseName: string) => boolean;

/** `X-Idgate_Roles` → `x-idgate-roles`: the spelling every upstream convention folds a name to. */
export function foldHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower;
}

/**
 * Compiles the identity-header test once.
 * @param prefix the identity prefix (`headers.prefix`, e.g. `x-idgate-`).
 * @param stripHeaders further identity names (`headers.strip`: claim headers outside the prefix).
 * @returns a predicate over lower-case header names (as the front ends store them); never throws.
 */
export function createIdentityHeaderTest(prefix: string, stripHeaders: readonly string[] = []): IdentityHeaderTest {
  const foldedPrefix = foldHeaderName(prefix);
  const folded = new Set(stripHeaders.map(foldHeaderName));
  return (name) => {
    // Fast path: most header names contain no `_`, and the front ends already lower-cased them.
    const n = name.includes('_') ? name.replaceAll('_', '-') : name;
    return n.startsWith(foldedPrefix) || folded.has(n);
  };
}
