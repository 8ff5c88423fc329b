import { parseConfig } from '../../src/config/parse-config.js';
import type { GuardrailConfig, IdgateConfig, RouteConfig, TenantConfig } from '../../src/config/types.js';
import type { AuthResult } from '../../src/core/auth-result.js';

/** Issuers, workflows and the country header the org-wide policy tests share (policy left to each test). */
export const ORG_TEST_BASE = `
didit: { mode: sandbox }
issuers:
  - issuer: https://corp.example
    name: corp
    jwksUri: https://corp.example/jwks
    audiences: [api]
  - issuer: https://partner.example
    name: partner
    jwksUri: https://partner.example/jwks
    audiences: [api]
workflows:
  kyc: { workflowId: wf-kyc, maxAge: 365d }
  liveness: { workflowId: wf-live, maxAge: 1d }
context: { countryHeader: x-geo-country }
network: { trustedProxies: [10.0.0.0/8] }
risk: { enabled: true }
`;

/** A caller whose token `issuerName` verified, with these claims (and `sub: u1`). */
export const verifiedCaller = (claims: Record<string, unknown>, issuerName = 'corp'): AuthResult => ({
  kind: 'verified',
  principal: { issuerName, issuer: `https://${issuerName}.example`, sub: 'u1', subject: `${issuerName}:u1`, claims: { sub: 'u1', ...claims }, source: 'header', tokenId: 't1' },
});

/**
 * Org-wide configurations for tests, built by hand on top of `parseConfig` (the config loader of #14
 * parses `guardrails`/`tenants` itself): every route is written once in today's YAML route format and
 * then placed in a layer by id.
 */
export interface OrgParts {
  /** Route ids turned into guardrails (`deny: true` → `action: deny`; `public: true` → no floor). */
  readonly guardrails?: readonly string[];
  readonly tenants?: readonly {
    readonly name: string;
    readonly hosts: readonly string[];
    readonly prefixes?: readonly string[];
    /** Route ids, qualified `<name>/<id>` in the result. */
    readonly routes?: readonly string[];
    readonly status?: TenantConfig['status'];
  }[];
  readonly defaults?: readonly string[];
  /** Route ids kept as platform routes (`policy.routes`); default: none. */
  readonly platform?: readonly string[];
  readonly revision?: string;
}

/** Parses `base` + `policy:` with `policyYaml` (its `routes:` hold every route) and places routes per `parts`. */
export function orgConfig(base: string, policyYaml: string, parts: OrgParts): IdgateConfig {
  const config = parseConfig(`${base}policy:\n${policyYaml}`, { sourceName: 'org.yaml', env: {} });
  const byId = new Map(config.policy.routes.map((r) => [r.id, r]));
  const route = (id: string): RouteConfig => {
    const r = byId.get(id);
    if (r === undefined) throw new Error(`no route ${id} in the test policy`);
    return r;
  };
  return {
    ...config,
    policy: {
      ...config.policy,
      routes: (parts.platform ?? []).map(route),
      guardrails: (parts.guardrails ?? []).map((id) => toGuardrail(route(id))),
      tenants: (parts.tenants ?? []).map((t) => ({
        name: t.name,
        owns: { hosts: t.hosts, prefixes: t.prefixes ?? ['/'] },
        files: [`/etc/idgate/tenants/${t.name}.yaml`],
        routes: t.status === 'failed' ? [] : (t.routes ?? []).map((id) => ({ ...route(id), id: `${t.name}/${id}` })),
        status: t.status ?? 'ok',
        revision: t.status === 'failed' ? 'failed' : `rev-${t.name}`,
      })),
      defaults: { routes: (parts.defaults ?? []).map(route) },
      revision: parts.revision ?? 'platformrev1',
    },
  };
}

/** A route read as a guardrail: its match (no contextExtensions), floor, level, conditions and bands. */
export function toGuardrail(r: RouteConfig): GuardrailConfig {
  return {
    id: r.id,
    match: { hosts: r.match.hosts, paths: r.match.paths, methods: r.match.methods, ...(r.match.principals !== undefined ? { principals: r.match.principals } : {}) },
    action: r.action === 'deny' ? 'deny' : 'require',
    require: r.require,
    ...(r.sensitivity !== undefined ? { sensitivity: r.sensitivity } : {}),
    conditions: r.conditions,
    riskBands: r.riskBands,
  };
}
