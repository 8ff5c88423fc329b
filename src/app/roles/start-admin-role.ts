import type { Registry } from 'prom-client';
import type { IdgateConfig } from '../../config/types.js';
import type { IssuerStatus } from '../../identity/authenticator.js';
import { createAdminServer } from '../../observability/admin-server.js';
import { createReadiness } from '../../observability/create-readiness.js';
import { createAdminRoutes } from '../admin-routes.js';
import type { SharedParts } from './build-shared-parts.js';
import type { StartedRole } from './started-role.js';

/**
 * The admin role on `server.admin`: `/metrics` (from `metricsSource`: this process's registry, or the
 * cluster's aggregate), `/healthz`, `/readyz` and the token-protected admin API. It stops last: `/readyz`
 * answers 503 from the first step of shutdown, and the listener closes only after the traffic roles drained.
 */
export async function startAdminRole(
  parts: Pick<SharedParts, 'logger' | 'metrics' | 'store' | 'workflows'>,
  config: IdgateConfig,
  options: { metricsSource: Pick<Registry, 'metrics' | 'contentType'>; issuers?: () => readonly IssuerStatus[] },
): Promise<StartedRole> {
  const { logger, metrics, store } = parts;
  const readiness = createReadiness({
    ping: () => store.ping(),
    onStore: (up) => metrics.setDependencyUp('store', up),
    ...(store.invalidationsLive ? { invalidationsLive: store.invalidationsLive.bind(store) } : {}),
    ...(options.issuers ? { issuers: options.issuers } : {}),
  });
  const admin = createAdminServer({
    logger, // the admin server names its own component (a child here printed "component" twice)
    registry: options.metricsSource,
    ...(config.server.admin.token !== undefined ? { adminToken: config.server.admin.token } : {}),
    routes: createAdminRoutes({ store, logger, workflows: () => Object.keys(parts.workflows.current) }),
    readiness: () => readiness.report(),
  });
  const port = await admin.listen(config.server.admin.host, config.server.admin.port);
  return {
    listeners: { admin: port },
    closers: [],
    stopServing: () => {
      readiness.setDraining();
      admin.setDraining(true);
    },
    drain: () => admin.close(),
  };
}
