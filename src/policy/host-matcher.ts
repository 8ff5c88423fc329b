/** Tests a request host (lower-case, no port). */
export type HostPredicate = (host: string) => boolean;

/**
 * Compiles a route's host list (none = any host). Exact names are a `Set` lookup; `*.example.com` matches
 * exactly one extra label (`a.example.com`, not `example.com` nor `a.b.example.com`). A trailing dot on
 * the request host (`example.com.`) is ignored.
 */
export function compileHostMatcher(hosts: readonly string[]): HostPredicate {
  if (hosts.length === 0) return () => true;
  const exact = new Set<string>();
  const wildcardParents = new Set<string>();
  for (const h of hosts) {
    if (h.startsWith('*.')) wildcardParents.add(h.slice(2));
    else exact.add(h);
  }
  return (rawHost) => {
    const host = rawHost.endsWith('.') ? rawHost.slice(0, -1) : rawHost;
    if (exact.has(host)) return true;
    if (wildcardParents.size === 0) return false;
    const dot = host.indexOf('.');
    return dot > 0 && wildcardParents.has(host.slice(dot + 1));
  };
}
