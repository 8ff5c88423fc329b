import type { Logger } from 'pino';
import { DependencyError } from '../core/dependency-error.js';

/** Which dependency a coded fault came from. */
export type DependencyName = 'store' | 'didit' | 'other';

/** Counts faults per dependency (implemented by observability/metrics). */
export interface DependencyFaultMetrics {
  fault(dependency: DependencyName): void;
  up?(dependency: DependencyName, up: boolean): void;
}

export interface DependencyFaultReporterOptions {
  /** How often a "still down" summary is logged while faults continue, ms (default 10 s). */
  readonly summaryEveryMs?: number;
  /** How often a down dependency with a probe is probed, ms (default 1 s). */
  readonly probeEveryMs?: number;
  /** Without a probe: a dependency is considered recovered after this long without a fault, ms (default 30 s). */
  readonly quietRecoveryMs?: number;
}

export interface DependencyFaultReporter {
  /** Reports one request that failed closed because of `err`. Never throws. */
  report(err: unknown, requestId?: string): void;
  /** Stops probe timers. */
  stop(): void;
}

interface State {
  down: boolean;
  since: number;
  total: number;
  sinceSummary: number;
  lastSummaryAt: number;
  lastFaultAt: number;
  probing: NodeJS.Timeout | undefined;
}

/** The dependency a fault came from, read from the {@link DependencyError} class, never from a name string. */
export function dependencyOf(err: unknown): DependencyName {
  if (!(err instanceof DependencyError)) return 'other';
  return err.dependency === 'keys' ? 'other' : err.dependency;
}

/**
 * Turns a stream of per-request dependency faults into a few readable log lines: one `error` when a
 * dependency starts failing ("dependency down", with the error's class, code and message — no stack),
 * a `warn` summary at most every `summaryEveryMs` while it keeps failing ("still down", with counts), and
 * an `info` when it answers again ("recovered", with the outage's duration and failed-request count).
 * Every failed request is counted in the metric instead of the log. Recovery is detected by a probe
 * (e.g. the store's PING) while down, else after `quietRecoveryMs` without faults.
 */
export function createDependencyFaultReporter(
  deps: {
    logger: Logger;
    metrics?: DependencyFaultMetrics;
    clock?: () => number;
    probes?: Partial<Record<DependencyName, () => Promise<boolean>>>;
  },
  options: DependencyFaultReporterOptions = {},
): DependencyFaultReporter {
  const clock = deps.clock ?? Date.now;
  const summaryEveryMs = options.summaryEveryMs ?? 10_000;
  const probeEveryMs = options.probeEveryMs ?? 1_000;
  const quietRecoveryMs = options.quietRecoveryMs ?? 30_000;
  const states = new Map<DependencyName, State>();
  let stopped = false;

  function recovered(dependency: DependencyName, state: State): void {
    if (!state.down) return;
    state.down = false;
    if (state.probing !== undefined) clearTimeout(state.probing);
    state.probing = undefined;
    deps.metrics?.up?.(dependency, true);
    deps.logger.info(
      { dependency, downForMs: clock() - state.since, failedRequests: state.total },
      'dependency recovered',
    );
  }

  function scheduleProbe(dependency: DependencyName, state: State): void {
    const probe = deps.probes?.[dependency];
    if (probe === undefined || stopped) return;
    state.probing = setTimeout(() => {
      state.probing = undefined;
      probe().then(
        (ok) => (ok ? recovered(dependency, state) : scheduleProbe(dependency, state)),
        () => scheduleProbe(dependency, state),
      );
    }, probeEveryMs);
    state.probing.unref();
  }

  return {
    report(err, requestId) {
      try {
        const dependency = dependencyOf(err);
        deps.metrics?.fault(dependency);
        const now = clock();
        let state = states.get(dependency);
        if (state === undefined) {
          state = { down: false, since: 0, total: 0, sinceSummary: 0, lastSummaryAt: 0, lastFaultAt: 0, probing: undefined };
          states.set(dependency, state);
        }
        if (state.down && deps.probes?.[dependency] === undefined && now - state.lastFaultAt >= quietRecoveryMs) {
          recovered(dependency, state);
        }
        state.lastFaultAt = now;
        if (!state.down) {
          state.down = true;
          state.since = now;
          state.total = 1;
          state.sinceSummary = 0;
          state.lastSummaryAt = now;
          deps.metrics?.up?.(dependency, false);
          const e = err as { name?: unknown; code?: unknown; message?: unknown } | null;
          deps.logger.error(
            {
              dependency,
              errName: typeof e?.name === 'string' ? e.name : undefined,
              errCode: typeof e?.code === 'string' ? e.code : undefined,
              error: typeof e?.message === 'string' ? e.message.slice(0, 200) : undefined,
              requestId,
            },
            'dependency down; failing closed',
          );
          scheduleProbe(dependency, state);
          return;
        }
        state.total += 1;
        state.sinceSummary += 1;
        if (now - state.lastSummaryAt >= summaryEveryMs) {
          deps.logger.warn(
            { dependency, downForMs: now - state.since, failedRequests: state.total, sinceLastReport: state.sinceSummary },
            'dependency still down',
          );
          state.lastSummaryAt = now;
          state.sinceSummary = 0;
        }
      } catch {
        // Reporting must never turn a fail-closed decision into a crash.
      }
    },
    stop() {
      stopped = true;
      for (const state of states.values()) if (state.probing !== undefined) clearTimeout(state.probing);
    },
  };
}
