import type { IdgateConfig, RouteConfig } from '../config/types.js';

/** The layer a rule is declared in (the decision log's names; `platform` = `policy.routes`). */
export type RuleLayer = 'platform' | 'tenant' | 'defaults' | 'guardrail';

/** One rule of a policy, read as a route, with its layer and its position in its list. */
export interface PolicyRule {
  readonly layer: RuleLayer;
  /** Position in its own list (a tenant's routes, the defaults…): first match wins within it. */
  readonly index: number;
  readonly route: RouteConfig;
}

/**
 * Every rule of every layer of a configuration, once: platform routes, each tenant's routes (ids already
 * `<tenant>/<id>`), the defaults' routes, then the guardrails read as routes (no claim headers, never in
 * shadow or fail-open — what a guardrail cannot have). What the tools that look at "every rule" share
 * (`policy diff`, the replay record's reads), so a new layer is added in one place.
 */
export function policyRules(policy: IdgateConfig['policy']): PolicyRule[] {
  return [
    ...policy.routes.map((route, index) => ({ layer: 'platform' as const, index, route })),
    ...policy.tenants.flatMap((t) => t.routes.map((route, index) => ({ layer: 'tenant' as const, index, route }))),
    ...policy.defaults.routes.map((route, index) => ({ layer: 'defaults' as const, index, route })),
    ...policy.guardrails.map((g, index) => ({ layer: 'guardrail' as const, index, route: { claimHeaders: {}, shadow: false, failOpen: false, ...g } })),
  ];
}
