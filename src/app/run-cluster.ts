import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { IdgateConfig } from '../config/types.js';
import { startIdgate, type Roles, type RunningIdgate } from './start-idgate.js';

/** IPC between the primary and its workers. */
type WorkerMessage =
  | { readonly type: 'idgate:ready' }
  | { readonly type: 'idgate:failed'; readonly message: string }
  | { readonly type: 'idgate:metrics'; readonly id: number; readonly metrics: MetricsJson };
/** One registry's metrics as `getMetricsAsJSON()` returns them. */
type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
type PrimaryMessage = { readonly type: 'idgate:metrics'; readonly id: number };

const METRICS_TIMEOUT_MS = 2_000;

/**
 * `--workers N`: the authorization roles run in N worker processes (node:cluster) that share the gRPC and
 * HTTP authz ports, so one idgate uses several cores. The primary runs everything that must exist once —
 * the webhook role and reconciliation sweep, the sandbox and demo issuer, and the admin server, whose
 * `/metrics` sums the workers' metrics and its own.
 *
 * Verdicts, pending sessions and risk state must be shared by the workers, so `store.type: redis` is
 * required. A worker that dies is replaced (at most once per second); SIGTERM drains the workers first,
 * then the primary.
 */
export async function runPrimary(
  deps: { logger: Logger; configPath: string; env: NodeJS.ProcessEnv },
  config: IdgateConfig,
  roles: Roles,
  workers: number,
): Promise<RunningIdgate> {
  const { logger } = deps;
  if (config.store.type !== 'redis') {
    throw new ClusterConfigError(
      `--workers ${workers} needs store.type: redis — workers are separate processes and must share verdicts, pending sessions and risk state`,
    );
  }
  const live = new Set<Worker>();
  let stopping = false;
  let lastRespawn = 0;
  const fork = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ IDGATE_WORKER: '1' });
      live.add(worker);
      const onMessage = (msg: WorkerMessage) => {
        if (msg.type === 'idgate:ready') {
          worker.off('message', onMessage);
          resolve();
        } else if (msg.type === 'idgate:failed') {
          worker.off('message', onMessage);
          reject(new Error(`worker failed to start: ${msg.message}`));
        }
      };
      worker.on('message', onMessage);
      worker.once('exit', (code, signal) => {
        live.delete(worker);
        worker.off('message', onMessage);
        reject(new Error(`worker exited during start (${signal ?? code})`));
        if (stopping) return;
        logger.error({ pid: worker.process.pid, code, signal }, 'worker exited; starting a replacement');
        const wait = Math.max(0, lastRespawn + 1_000 - Date.now());
        lastRespawn = Date.now() + wait;
        setTimeout(() => {
          if (!stopping) fork().catch((err: unknown) => logger.error({ err }, 'replacement worker failed'));
        }, wait).unref();
      });
    });

  const own = await startIdgate(
    { ...deps, announceReady: false, metricsSource: (registry) => clusterMetrics(registry, live) },
    config,
    { ...roles, authz: false },
  );
  try {
    await Promise.all(Array.from({ length: workers }, () => fork()));
  } catch (err) {
    stopping = true;
    for (const w of live) w.kill('SIGTERM');
    await own.stop();
    throw err;
  }
  logger.info({ workers, ports: own.ports }, 'ready');
  return {
    ports: own.ports,
    policy: own.policy,
    async stop() {
      stopping = true;
      await Promise.all(
        [...live].map(
          (w) =>
            new Promise<void>((resolve) => {
              const t = setTimeout(() => w.kill('SIGKILL'), config.server.shutdownGraceMs + 2_000);
              w.once('exit', () => {
                clearTimeout(t);
                resolve();
              });
              w.kill('SIGTERM');
            }),
        ),
      );
      await own.stop();
    },
  };
}

/**
 * A worker: the authorization roles only (no admin server, no webhook, no sandbox). Tells the primary
 * when it is ready and answers its metrics requests.
 */
export async function runWorker(
  deps: { logger: Logger; configPath: string; env: NodeJS.ProcessEnv },
  config: IdgateConfig,
): Promise<RunningIdgate> {
  let registry: Registry | undefined;
  try {
    const running = await startIdgate(
      {
        ...deps,
        announceReady: false,
        metricsSource: (r) => {
          registry = r;
          return r;
        },
      },
      config,
      { authz: true, webhook: false, sandbox: false, admin: false },
    );
    process.on('message', (msg: PrimaryMessage) => {
      if (msg?.type !== 'idgate:metrics' || registry === undefined) return;
      void registry.getMetricsAsJSON().then((metrics) => process.send?.({ type: 'idgate:metrics', id: msg.id, metrics }));
    });
    process.send?.({ type: 'idgate:ready' });
    return running;
  } catch (err) {
    process.send?.({ type: 'idgate:failed', message: (err as Error).message });
    throw err;
  }
}

/** `/metrics` of the primary: its own metrics plus every live worker's, summed by prom-client's aggregator. */
function clusterMetrics(own: Registry, workers: ReadonlySet<Worker>): Pick<Registry, 'metrics' | 'contentType'> {
  let nextId = 0;
  return {
    contentType: own.contentType,
    async metrics() {
      const id = ++nextId;
      const replies = [...workers].map(
        (w) =>
          new Promise<MetricsJson | undefined>((resolve) => {
            const t = setTimeout(() => {
              w.off('message', onMessage);
              resolve(undefined);
            }, METRICS_TIMEOUT_MS);
            const onMessage = (msg: WorkerMessage) => {
              if (msg.type !== 'idgate:metrics' || msg.id !== id) return;
              clearTimeout(t);
              w.off('message', onMessage);
              resolve(msg.metrics);
            };
            w.on('message', onMessage);
            w.send({ type: 'idgate:metrics', id } satisfies PrimaryMessage);
          }),
      );
      const all = [await own.getMetricsAsJSON(), ...(await Promise.all(replies)).filter((m): m is MetricsJson => m !== undefined)];
      return AggregatorRegistry.aggregate(all as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
    },
  } as Pick<Registry, 'metrics' | 'contentType'>;
}

/** A configuration that cannot run clustered (reported like a config error: exit 1). */
export class ClusterConfigError extends Error {
  override readonly name = 'ClusterConfigError';
}

/** True in a process forked by {@link runPrimary}. */
export function isClusterWorker(): boolean {
  return cluster.isWorker && process.env.IDGATE_WORKER === '1';
}
