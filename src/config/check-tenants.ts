import type { RawIssue } from './cross-check.js';
import { hostCovers, hostsOverlap, isUnderPrefix, literalPrefix, prefixesOverlap } from './ownership.js';
import type { ConditionConfig, GuardrailConfig, PathMatch, Requirements, RouteConfig, RouteMatch, TenantConfig } from './types.js';

/** A parsed route with its raw form and its path in its file. */
export interface TenantRoute {
  readonly route: RouteConfig;
  readonly raw: Record<string, unknown>;
  readonly path: readonly PropertyKey[];
}

/** What the tenant checks need from the platform: guardrails and sensitivity levels. */
export interface TenantPlatform {
  readonly guardrails: readonly GuardrailConfig[];
  readonly sensitivity: Readonly<Record<string, Requirements>>;
}

/**
 * The tenant-file checks that need parsed routes: **ownership** (every host a route names is owned, every
 * path's literal prefix lies under an owned prefix) and **unsatisfiable merges** with each guardrail that
 * can overlap the route (no issuer accepted by both, no country allowed by both). Issues are located in the
 * tenant's file and fail only that tenant.
 */
export function checkTenantRoutes(tenant: Pick<TenantConfig, 'name' | 'owns'>, routes: readonly TenantRoute[], platform: TenantPlatform): RawIssue[] {
  const issues: RawIssue[] = [];
  for (const r of routes) checkOwnership(tenant, r.route, r.raw, r.path, issues);
  issues.push(...checkGuardrailMerges(routes, platform, tenant.owns));
  for (const r of routes) checkCaseEscape(r, platform, tenant.owns, issues);
  return issues;
}

/**
 * A team's route with `caseSensitive: false` says its upstream ignores letter case: `/ADMIN/x` is served as
 * `/admin/x`. A case-sensitive guardrail on `/admin` would not match that spelling while the route would,
 * so the team could escape the guardrail by writing one flag. Refused when the route can overlap, ignoring
 * case, a guardrail whose paths are case-sensitive and spell a letter (the platform can make the guardrail
 * `caseSensitive: false`, which only ever makes it catch more).
 */
function checkCaseEscape(r: TenantRoute, platform: TenantPlatform, owns: TenantConfig['owns'], issues: RawIssue[]): void {
  const { route } = r;
  if (route.match.caseSensitive !== false || route.action === 'deny') return;
  const folded = { ...route.match, paths: route.match.paths.map(lowerPathMatch) };
  const foldedOwns = { ...owns, prefixes: owns.prefixes.map((p) => p.toLowerCase()) };
  for (const guardrail of platform.guardrails) {
    const g = guardrail.match;
    if (g.caseSensitive === false || !g.paths.some((m) => /[A-Za-z]/.test(Object.values(m)[0] as string))) continue;
    if (!canOverlap({ ...g, paths: g.paths.map(lowerPathMatch) }, folded, foldedOwns)) continue;
    const where = guardrail.source !== undefined ? ` (${guardrail.source.file}:${guardrail.source.line}:${guardrail.source.column})` : '';
    issues.push({
      path: [...r.path, 'match', 'caseSensitive'],
      message: `a case-insensitive route can escape the case-sensitive guardrail "${guardrail.id}"${where}: a path spelled in another case would match this route but not the guardrail (ask the platform team for caseSensitive: false on the guardrail, or drop it here)`,
    });
  }
}

/** A path matcher with ASCII letters lower-cased (what a case-insensitive matcher compares). */
function lowerPathMatch(m: PathMatch): PathMatch {
  if ('exact' in m) return { exact: m.exact.toLowerCase() };
  if ('prefix' in m) return { prefix: m.prefix.toLowerCase() };
  return { glob: m.glob.toLowerCase() };
}

/**
 * Unsatisfiable merges between routes and each guardrail that can overlap them. `scope` is what a route
 * without hosts or paths stands for: a tenant's grants, or (platform and default routes) anything.
 */
export function checkGuardrailMerges(
  routes: readonly TenantRoute[],
  platform: TenantPlatform,
  scope: TenantConfig['owns'] = { hosts: [], prefixes: ['/'] },
): RawIssue[] {
  const issues: RawIssue[] = [];
  for (const { route, raw, path } of routes) {
    if (route.action === 'deny') continue;
    for (const guardrail of platform.guardrails) {
      if (guardrail.action === 'deny' || !canOverlap(guardrail.match, route.match, scope)) continue;
      checkMerge(route, raw, path, guardrail, platform.sensitivity, issues);
    }
  }
  return issues;
}

function checkOwnership(tenant: Pick<TenantConfig, 'name' | 'owns'>, route: RouteConfig, raw: Record<string, unknown>, path: readonly PropertyKey[], issues: RawIssue[]): void {
  const match = obj(raw['match']) ?? {};
  const owns = tenant.owns;
  for (const host of route.match.hosts) {
    if (owns.hosts.some((o) => hostCovers(o, host))) continue;
    issues.push({
      path: [...path, 'match', ...rawItemPath(match, ['host', 'hosts'], (s) => s.toLowerCase() === host)],
      message: `host "${host}" is not owned by tenant "${tenant.name}" (owns ${owns.hosts.join(', ')})`,
    });
  }
  for (const m of route.match.paths) {
    const literal = literalPrefix(m);
    if (owns.prefixes.some((p) => isUnderPrefix(literal, p))) continue;
    const [kind, value] = Object.entries(m)[0] as [string, string];
    issues.push({
      path: [...path, 'match', ...rawPathItemPath(match, kind, value)],
      message: `path ${kind} "${value}" is not under a prefix owned by tenant "${tenant.name}" (owns ${owns.prefixes.join(', ')})`,
    });
  }
}

/**
 * Conservative: a guardrail can overlap a route unless their hosts, path prefixes or methods rule it out.
 * A route without hosts or paths stands for what the tenant owns.
 */
function canOverlap(g: RouteMatch, r: RouteMatch, owns: TenantConfig['owns']): boolean {
  // No hosts on either side (and no owned hosts to stand for them) = any host.
  const routeHosts = r.hosts.length > 0 ? r.hosts : owns.hosts;
  if (g.hosts.length > 0 && routeHosts.length > 0 && !g.hosts.some((a) => routeHosts.some((b) => hostsOverlap(a, b)))) return false;
  const routePrefixes = r.paths.length > 0 ? r.paths.map(literalPrefix) : owns.prefixes;
  if (g.paths.length > 0 && !g.paths.some((m) => routePrefixes.some((p) => prefixesOverlap(literalPrefix(m), p)))) return false;
  if (g.methods.length > 0 && r.methods.length > 0 && !g.methods.some((m) => r.methods.includes(m))) return false;
  return true;
}

function checkMerge(
  route: RouteConfig,
  raw: Record<string, unknown>,
  path: readonly PropertyKey[],
  guardrail: GuardrailConfig,
  levels: Readonly<Record<string, Requirements>>,
  issues: RawIssue[],
): void {
  const where = guardrail.source !== undefined ? ` (${guardrail.source.file}:${guardrail.source.line}:${guardrail.source.column})` : '';
  const routeIssuers = allowedIssuers(route.require, route.sensitivity, levels);
  const guardIssuers = allowedIssuers(guardrail.require, guardrail.sensitivity, levels);
  if (routeIssuers !== undefined && guardIssuers !== undefined && !routeIssuers.some((i) => guardIssuers.includes(i))) {
    issues.push({
      path: obj(raw['require'])?.['issuers'] !== undefined ? [...path, 'require', 'issuers'] : path,
      message: `unsatisfiable merge with guardrail "${guardrail.id}"${where}: no issuer is accepted by both (route: ${routeIssuers.join(', ')}; guardrail: ${guardIssuers.join(', ')})`,
    });
  }
  const routeCountries = allowedCountries(route.conditions);
  const guardCountries = allowedCountries(guardrail.conditions);
  const only = intersectOnly(routeCountries.only, guardCountries.only);
  if (only !== undefined) {
    const left = only.filter((c) => !routeCountries.except.has(c) && !guardCountries.except.has(c));
    if (left.length === 0) {
      const at = route.conditions.findIndex((c) => c.when.kind === 'country' && c.then.kind === 'deny');
      issues.push({
        path: at >= 0 ? [...path, 'conditions', at] : path,
        message: `unsatisfiable merge with guardrail "${guardrail.id}"${where}: no country is allowed by both the route's and the guardrail's country conditions`,
      });
    }
  }
}

/** The issuers a side accepts (its own list narrowed by its sensitivity level's), or undefined for any. */
function allowedIssuers(require: Requirements, level: string | undefined, levels: Readonly<Record<string, Requirements>>): string[] | undefined {
  const own = require.issuers;
  const fromLevel = level !== undefined ? (levels[level]?.issuers ?? []) : [];
  if (own.length === 0) return fromLevel.length > 0 ? [...fromLevel] : undefined;
  return fromLevel.length === 0 ? [...own] : own.filter((i) => fromLevel.includes(i));
}

/**
 * The countries a condition list lets through, from its `country` deny conditions that always run (those
 * before the first `then: allow`): `only` when some condition denies every country outside a list.
 */
function allowedCountries(conditions: readonly ConditionConfig[]): { only?: string[]; except: Set<string> } {
  let only: string[] | undefined;
  const except = new Set<string>();
  for (const c of conditions) {
    if (c.then.kind === 'allow') break;
    if (c.when.kind !== 'country' || c.then.kind !== 'deny') continue;
    const { in: inList, notIn } = c.when;
    if (inList !== undefined) {
      for (const code of inList) if (!(notIn ?? []).includes(code)) except.add(code);
    } else if (notIn !== undefined) {
      only = intersectOnly(only, [...notIn]);
    }
  }
  return { ...(only !== undefined ? { only } : {}), except };
}

function intersectOnly(a: readonly string[] | undefined, b: readonly string[] | undefined): string[] | undefined {
  if (a === undefined) return b === undefined ? undefined : [...b];
  if (b === undefined) return [...a];
  return a.filter((x) => b.includes(x));
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Where in a raw `match` a string-or-list item is written (`hosts[1]`, `host`), else the first key present. */
function rawItemPath(match: Record<string, unknown>, keys: readonly string[], pred: (s: string) => boolean): PropertyKey[] {
  for (const key of keys) {
    const v = match[key];
    if (typeof v === 'string' && pred(v)) return [key];
    if (Array.isArray(v)) {
      const i = v.findIndex((s) => typeof s === 'string' && pred(s));
      if (i >= 0) return [key, i];
    }
  }
  return keys.filter((k) => match[k] !== undefined).slice(0, 1);
}

/** Where in a raw `match` a path matcher of `kind` with `value` is written (`prefix`, `paths[2].glob`…). */
function rawPathItemPath(match: Record<string, unknown>, kind: string, value: string): PropertyKey[] {
  const short = kind === 'exact' ? 'path' : kind;
  const direct = rawItemPath(match, [short], (s) => s === value);
  if (direct.length > 0) return direct;
  const i = Array.isArray(match['paths']) ? match['paths'].findIndex((p) => obj(p)?.[kind] === value) : -1;
  return i >= 0 ? ['paths', i, kind] : [];
}
