import { createCelCompiler } from '../cel/compile-cel.js';
import { createConfigSchema } from './config-schema.js';
import { checkOrgPolicy } from './check-org-policy.js';
import { crossCheckConfig, routeRefs } from './cross-check.js';
import { deepFreeze } from './deep-freeze.js';
import { expandDemoIssuerRefs } from './demo-issuer-ref.js';
import type { SecretSources } from './secret-ref.js';
import { resolveTenants, type ReadTenantFile } from './resolve-tenants.js';
import { checkGuardrailMerges, type TenantRoute } from './check-tenants.js';
import type { IdgateConfig, RouteConfig, TenantConfig } from './types.js';
import { locatedError, readYamlMapping, setSource, validateDocument, type YamlMapping } from './yaml-document.js';

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions extends SecretSources {
  /** Label used in error messages, normally the file path (e.g. `examples/idgate.yaml`). */
  readonly sourceName: string;
  /**
   * Reads a tenant file (an absolute path inside {@link baseDir}); `loadConfig` passes a bounded reader that
   * refuses anything resolving outside that directory. Without it every tenant fails ("not read").
   */
  readonly readTenantFile?: ReadTenantFile;
  /** Directory tenant files are relative to (default: the directory of `sourceName`). */
  readonly baseDir?: string;
  /** The running configuration: a tenant whose files fail keeps its routes from here (`stale`). */
  readonly previous?: IdgateConfig;
  /** `policy.revision`: `loadConfig` passes the first 12 hex of the platform file's sha256 (default ''). */
  readonly revision?: string;
}

/**
 * Parses, validates and resolves an idgate YAML configuration.
 *
 * Every problem — YAML syntax, unknown keys (with "did you mean" suggestions), wrong types, bad durations,
 * unresolvable secret references, broken cross-references — is collected and reported at once, each with
 * its line and column.
 *
 * @returns the deep-frozen configuration with every default applied and every secret resolved.
 * @throws {ConfigError} listing all issues when the document cannot be used.
 */
export function parseConfig(text: string, options: ParseConfigOptions): IdgateConfig {
  const { sourceName } = options;
  const yaml = readYamlMapping(text, sourceName, 'configuration');
  const { raw } = yaml;
  const demoIssues = expandDemoIssuerRefs(raw);
  // One compiler for the load: the cross-section checks reuse what the schema compiled.
  const cel = createCelCompiler();
  const refs = routeRefs(raw, cel);
  const data = validateDocument(createConfigSchema(options, cel), yaml, sourceName, () => [
    ...demoIssues,
    ...crossCheckConfig(raw, cel),
    ...checkOrgPolicy(raw, refs),
  ]);
  attachSources(data.policy, yaml, sourceName);
  // The platform's own routes and default routes merge with the guardrails too: an impossible merge there
  // is the platform file's error.
  const merges = checkGuardrailMerges(
    [
      ...platformRoutes(data.policy.routes, raw, ['policy', 'routes']),
      ...platformRoutes(data.policy.defaults.routes, raw, ['policy', 'defaults', 'routes']),
    ],
    data.policy,
  );
  if (merges.length > 0) throw locatedError(yaml, sourceName, merges);
  const policy = data.policy as { tenants: readonly TenantConfig[]; revision: string };
  policy.revision = options.revision ?? '';
  policy.tenants = resolveTenants(data.policy, {
    cel,
    refs,
    platformSource: sourceName,
    ...(options.baseDir !== undefined ? { baseDir: options.baseDir } : {}),
    ...(options.readTenantFile !== undefined ? { readTenantFile: options.readTenantFile } : {}),
    ...(options.previous !== undefined ? { previous: options.previous } : {}),
  });
  return deepFreeze(data);
}

/** Parsed routes with their raw forms and paths, for the checks that need both. */
function platformRoutes(routes: readonly RouteConfig[], raw: unknown, path: readonly PropertyKey[]): TenantRoute[] {
  let list: unknown = raw;
  for (const part of path) list = list !== null && typeof list === 'object' ? (list as Record<PropertyKey, unknown>)[part] : undefined;
  const rawRoutes = Array.isArray(list) ? list : [];
  return routes.map((route, i) => {
    const r: unknown = rawRoutes[i];
    return { route, raw: r !== null && typeof r === 'object' ? (r as Record<string, unknown>) : {}, path: [...path, i] };
  });
}

/**
 * Records where each platform route, default route and guardrail was declared, as a non-enumerable
 * `source` (not configuration data: comparisons and serialisation never see it).
 */
function attachSources(
  policy: { readonly routes: readonly object[]; readonly defaults: { readonly routes: readonly object[] }; readonly guardrails: readonly object[] },
  yaml: YamlMapping,
  file: string,
): void {
  const lists: [readonly object[], PropertyKey[]][] = [
    [policy.routes, ['policy', 'routes']],
    [policy.defaults.routes, ['policy', 'defaults', 'routes']],
    [policy.guardrails, ['policy', 'guardrails']],
  ];
  for (const [items, path] of lists) items.forEach((item, i) => setSource(item, yaml, file, [...path, i]));
}

