import type { IdgateConfig } from '../../config/types.js';
import type { ReloadPlan } from '../reload-plan.js';

/** Releases something a role acquired (a client, a timer, a watcher). */
export type Closer = () => Promise<unknown>;

/**
 * What a role builder hands back to the composition root once its listeners are bound. Stopping runs in
 * the same order for every role: `stopServing` (readiness/health off), `drain` (in-flight requests finish
 * within the grace period, listeners close), then the `closers`, last acquired first.
 */
export interface StartedRole {
  /** Bound ports by listener name (`grpc`, `http`, `public`, `admin`, `sandbox`, `demoIssuer`), in bind order. */
  readonly listeners: Readonly<Record<string, number>>;
  /** In the order acquired; run in reverse at stop. */
  readonly closers: readonly Closer[];
  /** Stop announcing: health NOT_SERVING, readiness off. Synchronous, before anything drains. */
  readonly stopServing?: () => void;
  /** Lets in-flight requests finish for up to `graceMs`, then closes the role's listeners. */
  readonly drain?: (graceMs: number) => Promise<void>;
  /**
   * A config reload, phase 1: build and check everything that can fail (throwing = nothing is applied
   * anywhere); returns phase 2, the swap, which must not fail.
   */
  readonly prepareReload?: (next: IdgateConfig, applied: ReloadPlan['applied']) => Promise<() => void>;
}

/** Runs `closers` last first; a failing one is reported to `onError` and the rest still run. */
export async function closeAll(closers: readonly Closer[], onError: (err: unknown) => void = () => undefined): Promise<void> {
  for (const close of [...closers].reverse()) {
    await close().catch(onError);
  }
}
