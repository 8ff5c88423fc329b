import type { IdgateConfig } from '../../config/types.js';
import type { PutVerdictOptions, PutVerdictResult } from '../../store/verdict-store.js';
import { createReconciler } from '../../verification/create-reconciler.js';
import type { Verdict } from '../../core/verdict.js';
import { createVerificationStart } from '../../webhook/verification-start.js';
import { createWebhookServer } from '../../webhook/webhook-server.js';
import type { SharedParts } from './build-shared-parts.js';
import { closeAll, type Closer, type StartedRole } from './started-role.js';

/**
 * The public role: Didit's signed webhooks, the browser's return from verification and the step-up start
 * URL on `server.public`, and the reconciliation sweep for sessions whose webhook never came. It has
 * nothing to do without workflows (no Didit client) or a webhook secret: it then says so and binds nothing.
 * Once bound, `parts.publicBaseUrl` names the bound port when the config left the port to the OS, and the
 * embedded sandbox (if any) is pointed at the webhook endpoint through `setSandboxWebhookUrl`.
 */
export async function startWebhookRole(
  parts: SharedParts,
  config: IdgateConfig,
  hooks: { setSandboxWebhookUrl(url: string): void },
): Promise<StartedRole> {
  const { logger, metrics, didit, tickets } = parts;
  const secrets = [config.didit.webhookSecret, config.didit.webhookSecretPrevious].filter(
    (s): s is string => typeof s === 'string' && s !== '',
  );
  if (didit === undefined || secrets.length === 0) {
    logger.warn('webhook role has nothing to do: no workflows or no webhook secret configured');
    return { listeners: {}, closers: [] };
  }
  const closers: Closer[] = [];
  try {
    // Verdicts settled here (webhook, callback, sweep) feed the step-up funnel's approved/declined stage.
    const settleStore = countWrittenVerdicts(parts.store, (status) => metrics.recordVerdict(status));
    const server = createWebhookServer({
      store: settleStore,
      didit,
      logger: logger.child({ component: 'webhook' }),
      metrics: { webhook: (result) => metrics.webhooksTotal.inc({ result }) },
      ...(tickets !== undefined
        ? {
            // Built on first use: the callback URL must name the bound public port.
            start: (ticket: string) =>
              createVerificationStart(
                {
                  starter: parts.sessionStarter(didit),
                  tickets,
                  logger: logger.child({ component: 'verification-start' }),
                  metrics: { start: (result) => metrics.stepUpStartsTotal.inc({ result }) },
                },
                { workflows: parts.workflows.current, waitMs: startWaitMs(config) },
              )(ticket),
          }
        : {}),
      workflows: parts.workflows.current,
      secrets,
      toleranceMs: config.didit.webhookToleranceMs,
      maxBodyBytes: config.server.public.maxBodyBytes,
      publicBaseUrl: config.server.public.baseUrl,
      returnToAllowlist: config.didit.returnToAllowlist,
    });
    const port = await server.listen(config.server.public.host, config.server.public.port);
    parts.publicBaseUrl.replace(namingBoundPort(parts.publicBaseUrl.current, config.server.public.port, port));
    hooks.setSandboxWebhookUrl(`http://127.0.0.1:${port}/webhooks/didit`);
    const reconciler = createReconciler(
      {
        store: settleStore,
        didit,
        logger: logger.child({ component: 'reconciler' }),
        metrics: {
          backlog: (count) => (count === undefined ? metrics.reconcileBacklog.reset() : metrics.reconcileBacklog.set(count)),
        },
      },
      {
        workflows: () => parts.workflows.current,
        reconcileAfterMs: config.didit.reconcileAfterMs,
        intervalMs: config.didit.sweepIntervalMs,
      },
    );
    reconciler.start();
    closers.push(async () => reconciler.stop());
    return {
      listeners: { public: port },
      closers,
      drain: (graceMs) => server.close(graceMs),
      prepareReload: async (next) => () => server.setWorkflows(next.workflows),
    };
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}

/**
 * The public base URL once its listener is bound: a base URL naming port 0 (what the config derives from
 * `server.public.port: 0`, i.e. "any free port") names the bound port instead, so the callback and start
 * URLs handed to Didit and browsers reach this listener. Any other base URL is kept as configured.
 */
export function namingBoundPort(baseUrl: string, configuredPort: number, boundPort: number): string {
  return configuredPort === 0 && baseUrl.endsWith(':0') ? `${baseUrl.slice(0, -2)}:${boundPort}` : baseUrl;
}

/** How long opening the start URL may wait for a session: every Didit attempt plus a little. */
function startWaitMs(config: IdgateConfig): number {
  return Math.min(config.didit.requestTimeoutMs * (config.didit.maxRetries + 1) + 1_000, 12_000);
}

/**
 * The store with `putVerdict` observed: every verdict it newly writes is reported by status. Other methods
 * are the store's own, bound to it (the stores keep private fields).
 */
function countWrittenVerdicts<S extends { putVerdict(v: Verdict, options?: PutVerdictOptions): Promise<PutVerdictResult> }>(
  store: S,
  onWritten: (status: string) => void,
): S {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'putVerdict') {
        return async (v: Verdict, options?: PutVerdictOptions) => {
          const result = await target.putVerdict(v, options);
          if (result === 'written') onWritten(v.status);
          return result;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
