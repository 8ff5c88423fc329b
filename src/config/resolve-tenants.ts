import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import type { CelCompiler } from '../cel/compile-cel.js';
import { ConfigError } from './config-error.js';
import { tenantFileSchema } from './config-schema.js';
import { checkTenantRoutes, type TenantPlatform } from './check-tenants.js';
import { checkRoutes, type RawIssue, type RouteRefs } from './cross-check.js';
import { formatPath } from './format-path.js';
import type { IdgateConfig, RouteConfig, TenantConfig } from './types.js';
import { locatedError, readYamlMapping, setSource, validateDocument } from './yaml-document.js';

/** Reads one tenant file by absolute path; throws (with a `code` for system errors) when it cannot. */
export type ReadTenantFile = (absolutePath: string) => string | Uint8Array;

/** Options of {@link resolveTenants}. */
export interface ResolveTenantsOptions {
  /** The load's CEL compiler. */
  readonly cel: CelCompiler;
  /** What tenant routes may reference in the platform file. */
  readonly refs: RouteRefs;
  /** The platform file's name as the operator gave it: tenant files are shown relative to its directory. */
  readonly platformSource: string;
  /** Absolute directory tenant files are resolved against (default: the platform file's directory). */
  readonly baseDir?: string;
  readonly readTenantFile?: ReadTenantFile;
  /** The running configuration, whose good routes a failing tenant keeps. */
  readonly previous?: IdgateConfig;
}

/**
 * Keys that belong to the platform file; a tenant file naming one gets an error saying so (rather than a
 * "did you mean"): a team must not be able to declare guardrails, tenants or anything beyond its routes.
 */
const PLATFORM_KEYS: ReadonlySet<string> = new Set([
  'policy', 'guardrails', 'tenants', 'defaults', 'default', 'sensitivity', 'revision', 'shadow', 'roleClaims', 'acrOrder',
  'server', 'issuers', 'headers', 'workflows', 'didit', 'store', 'network', 'logging', 'tracing', 'demoIssuer', 'context', 'risk',
]);

/**
 * Reads and checks each declared tenant's files, in order, and settles its state: `ok` (this load's
 * routes, ids qualified `<tenant>/<id>`), `stale` (its files failed; the previous good routes are kept) or
 * `failed` (failed, nothing to keep: its requests are denied). A tenant's failure never fails the load:
 * the caller finds it in the returned `status` and `error`.
 */
export function resolveTenants(
  policy: { readonly tenants: readonly TenantConfig[] } & TenantPlatform,
  options: ResolveTenantsOptions,
): TenantConfig[] {
  const shownDir = dirname(options.platformSource);
  const baseDir = options.baseDir ?? resolve(shownDir);
  return policy.tenants.map((declared) => {
    const files = declared.files.map((f) => ({ absolute: resolve(baseDir, f), shown: join(shownDir, f) }));
    const loaded = loadTenantFiles(declared, files, policy, options);
    const base = { name: declared.name, owns: declared.owns, files: files.map((f) => f.absolute) };
    if ('routes' in loaded) return { ...base, routes: loaded.routes, status: 'ok', revision: loaded.revision };
    const kept = options.previous?.policy.tenants.find((t) => t.name === declared.name && t.status !== 'failed');
    return kept !== undefined
      ? { ...base, routes: kept.routes, status: 'stale', error: loaded.error, revision: kept.revision }
      : { ...base, routes: [], status: 'failed', error: loaded.error, revision: 'failed' };
  });
}

/**
 * One line per problem of every tenant that did not load (`stale` or `failed`), each `file:line:col path:
 * rule` line of its error prefixed with the tenant: what `idgate validate` and `idgate policy test` print
 * before exiting non-zero. Empty when every tenant is `ok`.
 */
export function tenantLoadErrors(config: IdgateConfig): string[] {
  return config.policy.tenants.flatMap((t) =>
    t.status === 'ok' ? [] : (t.error ?? 'not loaded').split('\n').map((line) => `tenant "${t.name}" (${t.status}): ${line}`),
  );
}

/** The first 12 hex digits of a sha256: the revision of a policy layer. */
export function revisionOf(hash: ReturnType<typeof createHash>): string {
  return hash.digest('hex').slice(0, 12);
}

function loadTenantFiles(
  tenant: TenantConfig,
  files: readonly { absolute: string; shown: string }[],
  platform: TenantPlatform,
  options: ResolveTenantsOptions,
): { routes: RouteConfig[]; revision: string } | { error: string } {
  const read = options.readTenantFile;
  if (read === undefined) return { error: `${files[0]?.shown ?? tenant.name}: tenant files are not read here (no reader given)` };
  const hash = createHash('sha256');
  const routes: RouteConfig[] = [];
  const errors: ConfigError[] = [];
  // Route ids are unique across all of a tenant's files.
  const seen = new Map<string, string>();
  for (const file of files) {
    let bytes: Uint8Array;
    try {
      const content = read(file.absolute);
      bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    } catch (err) {
      errors.push(new ConfigError(file.shown, [{ path: '', message: readFailure(err) }]));
      continue;
    }
    hash.update(bytes);
    try {
      routes.push(...parseTenantFile(Buffer.from(bytes).toString('utf8'), file.shown, tenant, seen, platform, options));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(err);
    }
  }
  if (errors.length > 0) return { error: errors.map((e) => e.format()).join('\n') };
  return { routes, revision: revisionOf(hash) };
}

function readFailure(err: unknown): string {
  const e = err as { code?: unknown; syscall?: unknown; message?: unknown };
  if (typeof e.code === 'string' && e.syscall !== undefined) return `cannot read the tenant file (${e.code})`;
  return `cannot read the tenant file: ${typeof e.message === 'string' ? e.message : String(err)}`;
}

/** Parses one tenant file: `routes:` only, checked like the platform's plus ownership and guardrail merges. */
function parseTenantFile(
  text: string,
  shown: string,
  tenant: TenantConfig,
  seen: Map<string, string>,
  platform: TenantPlatform,
  options: ResolveTenantsOptions,
): RouteConfig[] {
  const yaml = readYamlMapping(text, shown, 'tenant file');
  if (yaml.doc.contents === null) {
    // What a 0-byte ConfigMap gives: a deployment mistake, not "this team has no routes".
    throw new ConfigError(shown, [{ path: '', message: 'the tenant file is empty or holds only comments (write routes: [] for a tenant without routes)' }]);
  }
  const { raw } = yaml;
  const data = validateDocument(tenantFileSchema(options.cel), yaml, shown, () => {
    const issues: RawIssue[] = [];
    for (const key of Object.keys(raw)) {
      if (key !== 'routes' && PLATFORM_KEYS.has(key)) {
        issues.push({ path: [key], message: `a tenant file holds only routes: "${key}" belongs to the platform file`, at: 'key' });
      }
    }
    checkRoutes(raw['routes'], ['routes'], options.refs, (path, message, at = 'value') => issues.push({ path, message, at }), seen, (p) => `${formatPath(p)} in ${shown}`);
    return issues;
  });
  const rawRoutes = Array.isArray(raw['routes']) ? (raw['routes'] as Record<string, unknown>[]) : [];
  const issues = checkTenantRoutes(
    tenant,
    data.routes.map((route, i) => ({ route, raw: rawRoutes[i] ?? {}, path: ['routes', i] })),
    platform,
  );
  if (issues.length > 0) throw locatedError(yaml, shown, issues);
  return data.routes.map((route, i) => {
    const qualified: RouteConfig = { ...route, id: `${tenant.name}/${route.id}` };
    setSource(qualified, yaml, shown, ['routes', i]);
    return qualified;
  });
}
