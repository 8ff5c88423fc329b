import { isDeepStrictEqual } from 'node:util';
import type { ClaimMatcher, ConditionConfig, IdgateConfig, RiskBand, RouteConfig, RouteMatch, WorkflowConfig } from '../config/types.js';
import { mergeRequirements, type EffectiveRequirements } from '../policy/effective-requirements.js';
import { policyRules, type RuleLayer } from '../policy/policy-rules.js';

/**
 * Which way a change moves decisions: `stricter` can only deny more, `looser` can allow more (a CI gate
 * fails on it), `changed` cannot be told statically (replay recorded decisions to see its effect).
 */
export type ChangeDirection = 'stricter' | 'looser' | 'changed';

/** One static difference between two policies. */
export interface PolicyChange {
  /** `policy`, or the rule: `route pay`, `tenant route payments/refunds`, `guardrail embargo`, `defaults route x`. */
  readonly scope: string;
  /** What changed: `route`, `action`, `scopes`, `issuers`, `match.hosts`, `condition`, … */
  readonly kind: string;
  readonly direction: ChangeDirection;
  /** Human summary naming policy values (scope, role, workflow names), never request data. */
  readonly detail: string;
}

/** A rule of any layer, with the requirements it enforces after its sensitivity level is merged in. */
interface Rule {
  readonly scope: string;
  readonly index: number;
  readonly route: RouteConfig;
  readonly requirements: EffectiveRequirements;
  readonly workflows: Readonly<Record<string, WorkflowConfig>>;
}

const ACTION_RANK: Readonly<Record<RouteConfig['action'], number>> = { public: 0, require: 1, deny: 2 };

/**
 * The static difference between two validated configurations, per rule (keyed on layer and qualified id,
 * so tenant routes `payments/refunds` and guardrails compare with themselves), classified per requirement
 * kind: scopes and roles added are stricter, removed looser; issuers narrowed stricter; a shorter max age
 * stricter; conditions and risk bands that deny or step up added stricter, removed looser; matches
 * widened or narrowed best-effort (looser for a public route that now covers more, stricter for a deny
 * route). Pure: compares the configurations only.
 */
export function diffPolicies(from: IdgateConfig, to: IdgateConfig): PolicyChange[] {
  const changes: PolicyChange[] = [];
  const add = (scope: string, kind: string, direction: ChangeDirection, detail: string): void => {
    changes.push({ scope, kind, direction, detail });
  };
  const a = from.policy;
  const b = to.policy;
  if (a.default !== b.default) add('policy', 'default', b.default === 'allow' ? 'looser' : 'stricter', `default ${a.default} → ${b.default}`);
  if (a.shadow !== b.shadow) add('policy', 'shadow', b.shadow ? 'looser' : 'stricter', `shadow mode ${b.shadow ? 'on: denies become allows' : 'off'}`);
  if (a.methodOverride !== b.methodOverride) add('policy', 'methodOverride', b.methodOverride === 'honor' ? 'looser' : 'stricter', `methodOverride ${a.methodOverride} → ${b.methodOverride}`);
  if (a.pathParameters !== b.pathParameters) add('policy', 'pathParameters', b.pathParameters === 'strip' ? 'looser' : 'stricter', `pathParameters ${a.pathParameters} → ${b.pathParameters}`);
  if (!isDeepStrictEqual(a.roleClaims, b.roleClaims)) add('policy', 'roleClaims', 'changed', `role claims ${a.roleClaims.join(', ')} → ${b.roleClaims.join(', ')}`);
  if (!isDeepStrictEqual(a.acrOrder, b.acrOrder)) add('policy', 'acrOrder', 'changed', `acr order ${a.acrOrder.join(' < ')} → ${b.acrOrder.join(' < ')}`);

  diffTenants(from, to, add);
  const before = rulesOf(from);
  const after = rulesOf(to);
  for (const [key, old] of before) {
    const next = after.get(key);
    if (next === undefined) {
      add(old.scope, 'route', old.route.action === 'deny' ? 'looser' : old.route.action === 'public' ? 'stricter' : 'changed', `removed (was ${old.route.action})`);
      continue;
    }
    diffRule(old, next, add);
  }
  for (const [key, next] of after) {
    if (before.has(key)) continue;
    add(next.scope, 'route', next.route.action === 'deny' ? 'stricter' : next.route.action === 'public' ? 'looser' : 'changed', `added (${next.route.action})`);
  }
  return changes;
}

/** The tenants of a configuration (issue #14), when the loader provides them. */
function tenantsOf(config: IdgateConfig): readonly { readonly name: string; readonly owns: { readonly hosts: readonly string[]; readonly prefixes: readonly string[] } }[] {
  return config.policy.tenants;
}

/**
 * Tenants added, removed or owning other hosts or prefixes: what their routes see changes (requests move
 * between a tenant, the platform routes and the default), which replay shows.
 */
function diffTenants(from: IdgateConfig, to: IdgateConfig, add: Add): void {
  const before = new Map(tenantsOf(from).map((t) => [t.name, t]));
  const after = new Map(tenantsOf(to).map((t) => [t.name, t]));
  const owns = (t: ReturnType<typeof tenantsOf>[number]) => `hosts ${t.owns.hosts.join(', ')} prefixes ${t.owns.prefixes.join(', ')}`;
  for (const [name, t] of before) {
    const next = after.get(name);
    if (next === undefined) add(`tenant ${name}`, 'tenant', 'changed', `removed (owned ${owns(t)})`);
    else if (!isDeepStrictEqual(t.owns, next.owns)) add(`tenant ${name}`, 'owns', 'changed', `owns ${owns(t)} → ${owns(next)}`);
  }
  for (const [name, t] of after) if (!before.has(name)) add(`tenant ${name}`, 'tenant', 'changed', `added (owns ${owns(t)})`);
}

/** How a layer's rules are named in a diff: `route pay`, `tenant route payments/refunds`, `guardrail embargo`. */
const SCOPE_LAYER: Readonly<Record<RuleLayer, string>> = { platform: 'route', tenant: 'tenant route', defaults: 'defaults route', guardrail: 'guardrail' };

/** Every rule of a configuration by `<layer> <id>`: platform routes, tenant, defaults and guardrail rules. */
function rulesOf(config: IdgateConfig): Map<string, Rule> {
  const policy = config.policy;
  const rules = new Map<string, Rule>();
  const put = (layer: string, route: RouteConfig, index: number): void => {
    const level = route.sensitivity !== undefined && Object.hasOwn(policy.sensitivity, route.sensitivity) ? policy.sensitivity[route.sensitivity] : undefined;
    rules.set(`${layer} ${route.id}`, {
      scope: `${layer} ${route.id}`,
      index,
      route,
      requirements: mergeRequirements(route.require, route.action === 'require' ? level : undefined, policy.acrOrder),
      workflows: config.workflows,
    });
  };
  for (const { layer, index, route } of policyRules(policy)) put(SCOPE_LAYER[layer], route, index);
  return rules;
}

type Add = (scope: string, kind: string, direction: ChangeDirection, detail: string) => void;

function diffRule(old: Rule, next: Rule, add: Add): void {
  const scope = next.scope;
  const a = old.route;
  const b = next.route;
  if (a.action !== b.action) {
    add(scope, 'action', ACTION_RANK[b.action] > ACTION_RANK[a.action] ? 'stricter' : 'looser', `action ${a.action} → ${b.action}`);
  }
  if (old.index !== next.index) add(scope, 'order', 'changed', `position ${old.index + 1} → ${next.index + 1} (first match wins)`);
  diffMatch(scope, b.action, a.match, b.match, add);
  if (a.shadow !== b.shadow) add(scope, 'shadow', b.shadow ? 'looser' : 'stricter', `shadow mode ${b.shadow ? 'on' : 'off'}`);
  if (a.failOpen !== b.failOpen) add(scope, 'failOpen', b.failOpen ? 'looser' : 'stricter', `failOpen ${String(b.failOpen)}`);
  if (a.sensitivity !== b.sensitivity) add(scope, 'sensitivity', 'changed', `sensitivity ${a.sensitivity ?? '(none)'} → ${b.sensitivity ?? '(none)'}`);
  if (!isDeepStrictEqual(a.claimHeaders, b.claimHeaders)) add(scope, 'claimHeaders', 'changed', 'claim headers changed');
  // Requirements only bind a `require` route: an action change already said everything else.
  if (a.action === 'require' && b.action === 'require') diffRequirements(scope, old, next, add);
  diffEffects(scope, 'condition', conditionsByName(a.conditions), conditionsByName(b.conditions), add);
  diffEffects(scope, 'risk band', bandsByScore(a.riskBands), bandsByScore(b.riskBands), add);
}

/** Requirement changes, per kind. */
export function diffRequirements(scope: string, old: Pick<Rule, 'requirements' | 'workflows'>, next: Pick<Rule, 'requirements' | 'workflows'>, add: Add): void {
  const a = old.requirements;
  const b = next.requirements;
  if (a.authenticated !== b.authenticated) add(scope, 'authenticated', b.authenticated ? 'stricter' : 'looser', `token ${b.authenticated ? 'now required' : 'no longer required'}`);
  if (!sameSet(a.issuers, b.issuers)) {
    const any = (s: ReadonlySet<string> | undefined) => (s === undefined ? 'any issuer' : [...s].join(', '));
    // Any issuer the new rule accepts that the old one did not is a loosening; otherwise it narrowed.
    const gained = b.issuers === undefined || (a.issuers !== undefined && [...b.issuers].some((i) => !a.issuers?.has(i)));
    add(scope, 'issuers', gained ? 'looser' : 'stricter', `issuers ${any(a.issuers)} → ${any(b.issuers)}`);
  }
  listDelta(scope, 'scopes', a.scopes, b.scopes, add);
  listDelta(scope, 'allRoles', a.allRoles, b.allRoles, add);
  groupsDelta(scope, 'anyRoles', a.anyRoleGroups, b.anyRoleGroups, add);
  groupsDelta(scope, 'mfa.amr', a.amrGroups, b.amrGroups, add);
  if (a.acrAtLeast?.value !== b.acrAtLeast?.value) {
    const rank = (x: EffectiveRequirements['acrAtLeast']) => x?.rank ?? -1;
    add(scope, 'mfa.acrAtLeast', rank(b.acrAtLeast) > rank(a.acrAtLeast) ? 'stricter' : 'looser', `acr at least ${a.acrAtLeast?.value ?? '(none)'} → ${b.acrAtLeast?.value ?? '(none)'}`);
  }
  maxAgeDelta(scope, 'maxTokenAge', a.maxTokenAgeMs, b.maxTokenAgeMs, add);
  const claimsA = new Map(a.claims.map((c) => [c.path.name, c.matcher]));
  const claimsB = new Map(b.claims.map((c) => [c.path.name, c.matcher]));
  for (const [name, matcher] of claimsA) {
    const other = claimsB.get(name);
    if (other === undefined) add(scope, 'claims', 'looser', `claim ${name} no longer checked`);
    else if (!isDeepStrictEqual(matcher, other)) add(scope, 'claims', compareMatchers(matcher, other), `claim ${name} matcher changed`);
  }
  for (const name of claimsB.keys()) if (!claimsA.has(name)) add(scope, 'claims', 'stricter', `claim ${name} now checked`);
  listDelta(scope, 'verification', a.verification, b.verification, add);
  for (const workflow of b.verification) {
    if (!a.verification.includes(workflow)) continue;
    maxAgeDelta(scope, `verification ${workflow} max age`, needMaxAge(old, workflow), needMaxAge(next, workflow), add);
  }
  if (a.onInReview !== b.onInReview) add(scope, 'onInReview', b.onInReview === 'allow' ? 'looser' : 'stricter', `in-review verdicts ${b.onInReview === 'allow' ? 'allowed' : 'denied'}`);
  if (a.onDeclined !== b.onDeclined) add(scope, 'onDeclined', b.onDeclined === 'retry' ? 'looser' : 'stricter', `declined verdicts ${b.onDeclined === 'retry' ? 'may retry' : 'denied'}`);
}

function needMaxAge(rule: Pick<Rule, 'requirements' | 'workflows'>, workflow: string): number | undefined {
  return rule.requirements.verificationMaxAgeMs ?? rule.workflows[workflow]?.maxAgeMs;
}

function sameSet(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && [...a].every((x) => b.has(x));
}

/** "All of" lists: an added member is stricter, a removed one looser. */
function listDelta(scope: string, kind: string, a: readonly string[], b: readonly string[], add: Add): void {
  const added = b.filter((x) => !a.includes(x));
  const removed = a.filter((x) => !b.includes(x));
  if (added.length > 0) add(scope, kind, 'stricter', `${kind} added: ${added.join(', ')}`);
  if (removed.length > 0) add(scope, kind, 'looser', `${kind} removed: ${removed.join(', ')}`);
}

/**
 * "Any of" groups (each must hold): a group added is stricter, removed looser; within a group kept in place,
 * fewer options are stricter and more options looser.
 */
function groupsDelta(scope: string, kind: string, a: readonly (readonly string[])[], b: readonly (readonly string[])[], add: Add): void {
  const key = (g: readonly string[]) => [...g].sort().join(' ');
  const keysA = a.map(key);
  const keysB = b.map(key);
  const gone = a.filter((_, i) => !keysB.includes(keysA[i] as string));
  const fresh = b.filter((_, i) => !keysA.includes(keysB[i] as string));
  if (gone.length === 1 && fresh.length === 1) {
    const [was, now] = [gone[0] as readonly string[], fresh[0] as readonly string[]];
    const dropped = was.filter((x) => !now.includes(x));
    const gained = now.filter((x) => !was.includes(x));
    if (dropped.length > 0) add(scope, kind, 'stricter', `${kind} no longer accepts ${dropped.join(', ')}`);
    if (gained.length > 0) add(scope, kind, 'looser', `${kind} now also accepts ${gained.join(', ')}`);
    return;
  }
  for (const g of fresh) add(scope, kind, 'stricter', `${kind} now needs one of ${g.join(', ')}`);
  for (const g of gone) add(scope, kind, 'looser', `${kind} no longer needs one of ${g.join(', ')}`);
}

/** A max age: shorter (or newly set) is stricter, longer (or removed) looser. */
function maxAgeDelta(scope: string, kind: string, a: number | undefined, b: number | undefined, add: Add): void {
  if (a === b) return;
  const show = (ms: number | undefined) => (ms === undefined ? '(none)' : `${Math.round(ms / 1000)}s`);
  const stricter = b !== undefined && (a === undefined || b < a);
  add(scope, kind, stricter ? 'stricter' : 'looser', `${kind} ${show(a)} → ${show(b)}`);
}

/** Values a claim matcher accepts, when it is a finite set. */
function acceptedValues(m: ClaimMatcher): readonly (string | number | boolean)[] | undefined {
  if ('equals' in m) return [m.equals];
  if ('oneOf' in m) return m.oneOf;
  return undefined;
}

function compareMatchers(a: ClaimMatcher, b: ClaimMatcher): ChangeDirection {
  if ('present' in b) return 'looser';
  if ('present' in a) return 'stricter';
  const va = acceptedValues(a);
  const vb = acceptedValues(b);
  if (va !== undefined && vb !== undefined) {
    if (vb.every((v) => va.includes(v))) return 'stricter';
    return 'looser';
  }
  return 'changed';
}

function widthOf<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): 'widened' | 'narrowed' | 'changed' | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  // An absent or empty list means "any".
  if (b === undefined || b.length === 0) return 'widened';
  if (a === undefined || a.length === 0) return 'narrowed';
  const has = (list: readonly T[], x: T) => list.some((y) => isDeepStrictEqual(x, y));
  if (a.every((x) => has(b, x))) return 'widened';
  if (b.every((x) => has(a, x))) return 'narrowed';
  return 'changed';
}

/**
 * Match changes, best-effort: a route covering more requests is looser when it is public, stricter when it
 * denies; a `require` route's wider match can go either way (see replay).
 */
function diffMatch(scope: string, action: RouteConfig['action'], a: RouteMatch, b: RouteMatch, add: Add): void {
  const ext = (m: RouteMatch) => Object.entries(m.contextExtensions ?? {}).map(([k, v]) => `${k}=${v}`);
  const parts: [string, 'widened' | 'narrowed' | 'changed' | undefined][] = [
    ['match.hosts', widthOf(a.hosts, b.hosts)],
    ['match.paths', widthOf(a.paths, b.paths)],
    ['match.methods', widthOf(a.methods, b.methods)],
    ['match.principals', widthOf(a.principals, b.principals)],
    // Fewer required context extensions match more requests.
    ['match.contextExtensions', (() => {
      const w = widthOf(ext(b), ext(a));
      return w === 'widened' ? 'narrowed' : w === 'narrowed' ? 'widened' : w;
    })()],
    ['match.caseSensitive', a.caseSensitive === b.caseSensitive ? undefined : b.caseSensitive === false ? 'widened' : 'narrowed'],
  ];
  for (const [kind, width] of parts) {
    if (width === undefined) continue;
    const direction: ChangeDirection =
      width === 'changed' || action === 'require' ? 'changed' : (width === 'widened') === (action === 'public') ? 'looser' : 'stricter';
    add(scope, kind, direction, `${kind} ${width}`);
  }
}

type Effect = ConditionConfig['then'];

function conditionsByName(list: readonly ConditionConfig[]): Map<string, { effect: Effect; value: unknown }> {
  return new Map(list.map((c) => [c.name, { effect: c.then, value: { when: c.when, then: c.then } }]));
}

function bandsByScore(list: readonly RiskBand[]): Map<string, { effect: Effect; value: unknown }> {
  return new Map(list.map((b) => [`≥ ${b.atLeast}`, { effect: b.then, value: b.then }]));
}

/**
 * Conditions and risk bands: one that denies or steps up is stricter added and looser removed; an `allow`
 * (which skips the conditions after it) the other way round; a changed one cannot be told statically.
 */
function diffEffects(scope: string, kind: string, a: Map<string, { effect: Effect; value: unknown }>, b: Map<string, { effect: Effect; value: unknown }>, add: Add): void {
  const restrictive = (e: Effect) => e.kind !== 'allow';
  for (const [name, old] of a) {
    const next = b.get(name);
    if (next === undefined) add(scope, kind, restrictive(old.effect) ? 'looser' : 'stricter', `${kind} ${name} removed (${old.effect.kind})`);
    else if (!isDeepStrictEqual(old.value, next.value)) add(scope, kind, 'changed', `${kind} ${name} changed`);
  }
  for (const [name, next] of b) {
    if (!a.has(name)) add(scope, kind, restrictive(next.effect) ? 'stricter' : 'looser', `${kind} ${name} added (${next.effect.kind})`);
  }
}
