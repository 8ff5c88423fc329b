import type { TenantConfig } from '../config/types.js';
import { compileHostMatcher } from './host-matcher.js';
import { compilePathMatcher, type RequestPath } from './path-matcher.js';

/** Finds the tenant owning a request: its index in `policy.tenants`, or -1 when no tenant owns it. */
export type OwnerLookup = (host: string, path: RequestPath) => number;

/**
 * Compiles the tenants' `owns` grants: a request is owned when its canonical host is one of the tenant's
 * hosts (exact or `*.` wildcard) and its canonical path is under one of its prefixes (segment-aware:
 * `/pay` owns `/pay` and `/pay/x`, not `/payroll`). Grants never overlap (the loader rejects overlaps),
 * so the first owner found is the only one. Ownership is the only way a tenant's routes see a request:
 * nothing the request carries (headers, context extensions) can name a tenant.
 */
export function compileOwnership(tenants: readonly TenantConfig[]): OwnerLookup {
  const grants = tenants.map((t) => ({
    // An empty host list would mean "any host" to the route matcher; a tenant that owns no host owns nothing.
    host: t.owns.hosts.length === 0 ? () => false : compileHostMatcher(t.owns.hosts),
    path: compilePathMatcher((t.owns.prefixes.length === 0 ? ['/'] : t.owns.prefixes).map((prefix) => ({ prefix }))),
  }));
  return (host, path) => {
    for (let i = 0; i < grants.length; i++) {
      const g = grants[i];
      if (g !== undefined && g.host(host) && g.path(path)) return i;
    }
    return -1;
  };
}
