import type { IdgateConfig, Requirements } from '../config/types.js';
import { createCelCompiler, type CelCompiler, type CelProgram } from '../cel/compile-cel.js';
import { METHOD_OVERRIDE_HEADERS } from './method-override.js';
import { policyRules } from './policy-rules.js';

/**
 * What policy evaluation can read of a request beyond its method, host, path, addresses and
 * `contextExtensions`: computed once per configuration, so a replay record (docs/decision-log.md) holds
 * these and nothing else. Over-inclusion is safe for replay and under-inclusion is not, so every rule that
 * could read a value counts, whatever route it is on.
 */
export interface PolicyReads {
  /** Request headers (lower-case) the policy reads: context headers, method overrides, CEL-named ones. */
  readonly headers: readonly string[];
  /** Claim paths (as written: `realm_access.roles`, `https://example.com/org`) a rule reads. */
  readonly claims: readonly string[];
  /** A CEL expression reads `request.query`: the whole query string is needed, not only `_method`. */
  readonly query: boolean;
  /**
   * Where a CEL expression reads `claims` or `request.headers` with a key computed at run time: those
   * values are not recorded, so replaying such a request may differ (reported, never silently).
   */
  readonly dynamic: readonly string[];
}

/** Computes {@link PolicyReads} for a validated configuration. */
export function policyReads(config: IdgateConfig): PolicyReads {
  const headers = new Set<string>(METHOD_OVERRIDE_HEADERS);
  const claims = new Set<string>();
  const dynamic: string[] = [];
  let query = false;
  if (config.context.countryHeader !== undefined) headers.add(config.context.countryHeader);
  for (const h of config.context.deviceHeaders) headers.add(h);
  // The client address is resolved against trusted proxies through x-forwarded-for.
  if (config.network.trustedProxies.length > 0) headers.add('x-forwarded-for');
  for (const path of config.policy.roleClaims) claims.add(path);
  const requirements = (req: Requirements | undefined): void => {
    if (req === undefined) return;
    for (const name of Object.keys(req.claims)) claims.add(name);
    if (req.scopes.length > 0) claims.add('scope').add('scp');
    if (req.mfa?.amr !== undefined) claims.add('amr');
    if (req.mfa?.acrAtLeast !== undefined) claims.add('acr');
    if (req.maxTokenAgeMs !== undefined) claims.add('auth_time');
  };
  for (const level of Object.values(config.policy.sensitivity)) requirements(level);
  let cel: CelCompiler | undefined;
  for (const { route: rule } of policyRules(config.policy)) {
    requirements(rule.require);
    for (const path of Object.values(rule.claimHeaders ?? {})) claims.add(path);
    for (const c of rule.conditions) {
      const test = c.when;
      if (test.kind === 'device') {
        if (test.header !== undefined) headers.add(test.header.toLowerCase());
        if (test.claim !== undefined) claims.add(test.claim);
      } else if (test.kind === 'cel') {
        let program: CelProgram | undefined = test.program;
        if (program === undefined) {
          const compiled = (cel ??= createCelCompiler()).compile(test.expression);
          if (compiled.ok) program = compiled.program;
        }
        if (program === undefined) continue;
        const r = program.reads;
        for (const name of r.claims) claims.add(name);
        for (const name of r.headers) headers.add(name);
        query ||= r.query;
        if (r.claimsDynamic) dynamic.push(`${rule.id} condition ${c.name}: claims read by a computed key`);
        if (r.headersDynamic) dynamic.push(`${rule.id} condition ${c.name}: request.headers read by a computed key`);
      }
    }
  }
  // Credentials are never bound to CEL, so no rule can read them; never record them.
  for (const secret of ['authorization', 'proxy-authorization', 'cookie']) headers.delete(secret);
  for (const issuer of config.issuers) for (const src of issuer.sources) if (src.type === 'header') headers.delete(src.name.toLowerCase());
  return { headers: [...headers].sort(), claims: [...claims].sort(), query, dynamic };
}
