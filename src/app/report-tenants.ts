import type { Logger } from 'pino';
import type { TenantConfig, TenantStatus } from '../config/types.js';
import type { IdgateMetrics } from '../observability/metrics.js';

const STATUSES: readonly TenantStatus[] = ['ok', 'stale', 'failed'];

/**
 * Says which tenants' files were rejected by a load (at start or on a reload): an `error` log per tenant
 * naming its files and the formatted errors (`file:line:col path: rule`), `idgate_policy_tenant_status`
 * set for every tenant (series of tenants no longer declared, per `before`, are removed) and
 * `idgate_policy_tenant_load_failures_total` counted. A failed tenant never stops idgate: the others serve.
 *
 * @returns true when every tenant is `ok`.
 */
export function reportTenants(
  deps: { readonly logger: Logger; readonly metrics: Pick<IdgateMetrics, 'policyTenantStatus' | 'policyTenantLoadFailuresTotal'> },
  tenants: readonly TenantConfig[],
  before: readonly TenantConfig[] = [],
): boolean {
  const { logger, metrics } = deps;
  const names = new Set(tenants.map((t) => t.name));
  for (const gone of before.filter((t) => !names.has(t.name))) {
    for (const status of STATUSES) metrics.policyTenantStatus.remove({ tenant: gone.name, status });
  }
  for (const t of tenants) {
    for (const status of STATUSES) metrics.policyTenantStatus.set({ tenant: t.name, status }, t.status === status ? 1 : 0);
    if (t.status === 'ok') continue;
    metrics.policyTenantLoadFailuresTotal.inc({ tenant: t.name });
    logger.error(
      { tenant: t.name, status: t.status, files: t.files, revision: t.revision, detail: t.error },
      t.status === 'stale'
        ? `tenant "${t.name}" policy rejected; keeping its last good routes`
        : `tenant "${t.name}" policy rejected and no good version to keep; its requests are denied (policy_unavailable)`,
    );
  }
  return tenants.every((t) => t.status === 'ok');
}
