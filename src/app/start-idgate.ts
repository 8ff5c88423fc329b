import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { configWarnings } from '../config/config-warnings.js';
import type { IdgateConfig } from '../config/types.js';
import { buildDecisionLog } from './build-decision-log.js';
import { createMetrics } from '../observability/metrics.js';
import { startTracing } from '../observability/start-tracing.js';
import { compilePolicy } from '../policy/compile-policy.js';
import type { PolicyHolder } from './policy-holder.js';
import type { ReloadPlan } from './reload-plan.js';
import { buildSharedParts, type SharedParts } from './roles/build-shared-parts.js';
import { closeAll, type Closer, type StartedRole } from './roles/started-role.js';
import { reportTenants } from './report-tenants.js';
import { watchConfig } from './watch-config.js';

/** Which parts of idgate one process runs. `serve` = all of them. */
export interface Roles {
  /** gRPC ext_authz (+ health) and the HTTP authorization mode. */
  readonly authz: boolean;
  /** Public HTTP: Didit webhooks, verification callback, pages; and the reconciliation sweep. */
  readonly webhook: boolean;
  /** Embedded Didit sandbox and demo issuer (only in `didit.mode: sandbox`). */
  readonly sandbox: boolean;
  /** The admin server (default true; cluster workers leave it to the primary). */
  readonly admin?: boolean;
}

/** A running idgate: its bound ports and a graceful stop. */
export interface RunningIdgate {
  readonly ports: Readonly<Record<string, number>>;
  readonly policy: PolicyHolder;
  /** Graceful shutdown: readiness off, health NOT_SERVING, drain in-flight work, close everything. */
  stop(): Promise<void>;
}

/**
 * The composition root: builds the parts the roles share from the validated config, starts each enabled
 * role (see `roles/`) and wires config reloads through them. Nothing else constructs clients or servers.
 * Resolves once every listener is bound and logs `listening` per listener and then `ready`.
 *
 * With a `configPath` and an `env`, the config file is watched (see `watchConfig`). A valid change is applied
 * everywhere it is used — compiled policy, workflows (verification gate, webhook server, reconciler),
 * issuers (a new authenticator with fresh JWKS and token caches), risk weights and context, trusted
 * proxies, the decision log (sample rate, replay records, the revision it names) — and counts `idgate_config_reloads_total{result="success"}`.
 * Sections that need a restart (see `SECTION_RELOAD`) keep their running value, with a warning and
 * `idgate_config_reload_refused_total{section,reason="restart_required"}`. An invalid, empty or
 * comment-only file keeps the running config, logs why and counts `{result="failure"}`.
 * `reloadIntervalMs` sets the poll interval (default 1 s).
 */
export async function startIdgate(
  deps: {
    logger: Logger;
    configPath?: string;
    env?: NodeJS.ProcessEnv;
    reloadIntervalMs?: number;
    /** Log `ready` when started (default true; the cluster primary announces once its workers are up). */
    announceReady?: boolean;
    /** What the admin server's `/metrics` serves, given this process's registry (cluster aggregation). */
    metricsSource?: (registry: Registry) => Pick<Registry, 'metrics' | 'contentType'>;
  },
  config: IdgateConfig,
  roles: Roles,
): Promise<RunningIdgate> {
  const { logger } = deps;
  const ports: Record<string, number> = {};
  const closers: Closer[] = [];
  /** The roles that serve traffic, in start order (the admin role is kept apart: it stops last). */
  const traffic: StartedRole[] = [];
  const started = <R extends StartedRole>(role: R, servesTraffic: boolean): R => {
    if (servesTraffic) traffic.push(role);
    for (const [name, port] of Object.entries(role.listeners)) {
      ports[name] = port;
      logger.info({ role: name, port }, 'listening');
    }
    closers.push(...role.closers);
    return role;
  };

  try {
    // First, so the store, Didit and JWKS clients built below are traced (a no-op when tracing is off).
    closers.push(await startTracing(config.tracing, logger));
    const registry = new Registry();
    const metrics = createMetrics(registry);
    // Always asked, admin role or not: a cluster worker (no admin) takes its registry from this call.
    const metricsSource = deps.metricsSource ? deps.metricsSource(registry) : registry;
    for (const w of configWarnings(config)) logger.warn({ path: w.path }, `config warning: ${w.path} ${w.message}`);
    // A tenant whose files failed at start does not stop idgate: it is logged, and the others serve.
    reportTenants({ logger, metrics }, config.policy.tenants);

    // Each role's module is loaded only when the role runs (`idgate authz` never loads the sandbox, the
    // demo issuer, the webhook server or the reconciler). The try-out role comes first: the demo issuer
    // must answer before the authenticator's first JWKS fetch, and the Didit client needs the sandbox's URL.
    const sandbox =
      roles.sandbox && config.didit.mode === 'sandbox'
        ? await (await import('./roles/start-sandbox-role.js')).startSandboxRole({ logger }, config)
        : undefined;
    if (sandbox) started(sandbox, false);
    const parts = await buildSharedParts({ logger, metrics }, config, {
      diditBaseUrl: sandbox?.diditBaseUrl ?? config.didit.apiBaseUrl,
      needsDidit: roles.authz || roles.webhook,
    });
    closers.push(...parts.closers);
    if (roles.webhook) {
      const { startWebhookRole } = await import('./roles/start-webhook-role.js');
      started(await startWebhookRole(parts, config, { setSandboxWebhookUrl: (url) => sandbox?.setWebhookUrl(url) }), true);
    }
    const authz = roles.authz ? started(await (await import('./roles/start-authz-role.js')).startAuthzRole(parts, config), true) : undefined;
    const admin =
      roles.admin === false
        ? undefined
        : started(
            await (await import('./roles/start-admin-role.js')).startAdminRole(parts, config, {
              metricsSource,
              ...(authz ? { issuers: authz.issuers } : {}),
            }),
            false,
          );

    if ((roles.authz || roles.webhook) && deps.configPath !== undefined && deps.env !== undefined) {
      const watcher = watchConfig(
        { logger, env: deps.env },
        {
          path: deps.configPath,
          initial: config,
          ...(deps.reloadIntervalMs !== undefined ? { intervalMs: deps.reloadIntervalMs } : {}),
          capabilities: { workflowsWired: parts.didit !== undefined },
          apply: reloadThrough(parts, traffic),
          onResult: (result) => metrics.configReloadsTotal.inc({ result }),
          onRefused: (section) => metrics.configReloadRefusedTotal.inc({ section, reason: 'restart_required' }),
          onTenants: (tenants, before) => reportTenants({ logger, metrics }, tenants, before),
        },
      );
      closers.push(async () => watcher.stop());
    }

    if (deps.announceReady !== false) logger.info({ roles, ports, config: deps.configPath }, 'ready');

    let stopping: Promise<void> | undefined;
    return {
      ports,
      policy: parts.policy,
      stop() {
        stopping ??= stopInOrder(logger, { traffic, admin, closers }, config.server.shutdownGraceMs);
        return stopping;
      },
    };
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}

/**
 * A config reload through every part that uses it: build and check everything that can fail first (the
 * policy, then each role's new parts); swap only when all of it succeeded.
 */
function reloadThrough(parts: SharedParts, roles: readonly StartedRole[]): (plan: ReloadPlan) => Promise<void> {
  return async ({ effective: next, applied }) => {
    compilePolicy(next);
    const swaps: Array<() => void> = [];
    for (const role of roles) if (role.prepareReload) swaps.push(await role.prepareReload(next, applied));
    parts.policy.replace(next);
    parts.workflows.replace(next.workflows);
    parts.decisionLog.replace(buildDecisionLog(parts.logger, next));
    for (const swap of swaps) swap();
  };
}

/**
 * Graceful shutdown, the same for every role: readiness off and health NOT_SERVING first, then the traffic
 * roles drain in parallel (bounded by `graceMs`), then the admin listener closes, then everything the
 * roles acquired, last first.
 */
async function stopInOrder(
  logger: Logger,
  running: { traffic: readonly StartedRole[]; admin: StartedRole | undefined; closers: readonly Closer[] },
  graceMs: number,
): Promise<void> {
  running.admin?.stopServing?.();
  for (const role of running.traffic) role.stopServing?.();
  logger.info('shutting down: draining in-flight requests');
  await Promise.allSettled(running.traffic.map((role) => role.drain?.(graceMs)));
  await running.admin?.drain?.(graceMs);
  await closeAll(running.closers, (err) => logger.warn({ err }, 'error while closing'));
  logger.info('stopped');
}
