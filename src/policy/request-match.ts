import type { RouteMatch } from '../config/types.js';
import type { RequestContext } from '../core/request-context.js';
import { compileHostMatcher, type HostPredicate } from './host-matcher.js';
import { compilePathMatcher, type PathPredicate, type RequestPath } from './path-matcher.js';
import { compilePrincipalMatcher, type PrincipalPredicate } from './principal-matcher.js';

/** A route's or guardrail's host, path, method and principal matchers, built once. */
export interface RequestMatchers {
  readonly host: HostPredicate;
  readonly path: PathPredicate;
  readonly methods?: ReadonlySet<string>;
  /** `match.principals`: the caller workload's SPIFFE ID must be listed. */
  readonly principal?: PrincipalPredicate;
}

/** Compiles `match` except `contextExtensions` (routes check those first, guardrails never). */
export function compileRequestMatchers(match: RouteMatch): RequestMatchers {
  return {
    host: compileHostMatcher(match.hosts),
    path: compilePathMatcher(match.paths, { caseSensitive: match.caseSensitive !== false }),
    ...(match.methods.length > 0 ? { methods: new Set(match.methods) } : {}),
    ...(match.principals !== undefined ? { principal: compilePrincipalMatcher(match.principals) } : {}),
  };
}

/** Whether the request's method, host, canonical path and workload principal all match. */
export function matchesRequest(m: RequestMatchers, ctx: RequestContext, path: RequestPath): boolean {
  return (m.methods === undefined || m.methods.has(ctx.method)) && m.host(ctx.host) && m.path(path) && (m.principal === undefined || m.principal(ctx.sourcePrincipal));
}
