import type { CheckVerdicts } from './check-verdicts.js';
import type { HealthBoard } from './health-status.js';

/**
 * The lifecycle both gRPC transports share (grpc-js `ExtAuthzServer`, node:http2 `H2CheckServer`): the
 * health state, and draining or closing the listener. `W` is the transport's Watch stream.
 */
export abstract class GrpcFrontEnd<W> {
  protected state: 'new' | 'listening' | 'closed' = 'new';
  protected abstract readonly health: HealthBoard<W>;
  protected abstract readonly verdicts: CheckVerdicts;

  /** Sets what the health service reports (SERVING / NOT_SERVING) and notifies Watch streams. */
  setServing(serving: boolean): void {
    this.health.setServing(serving);
  }

  /**
   * Forgets the allows rendered so far (on a config reload). Not needed for correctness — a cached allow is
   * used only for a decision with exactly its content — but allows of removed routes or claim mappings would
   * otherwise stay until evicted.
   */
  forgetRenderedAllows(): void {
    this.verdicts.forgetAllows();
  }

  /** Whether health currently reports SERVING. */
  get isServing(): boolean {
    return this.health.serving;
  }

  /**
   * Graceful stop: report NOT_SERVING, end Watch streams, stop accepting calls and wait for in-flight
   * Checks (which are bounded by their deadlines) up to `graceMs`, then force-close.
   */
  async drain(graceMs = 10_000): Promise<void> {
    if (this.state === 'closed') return;
    this.health.shutDown();
    this.state = 'closed';
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.forceStop();
        resolve();
      }, graceMs);
      timer.unref();
      this.stopGracefully(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Immediate stop: cancels in-flight calls. Idempotent. */
  async close(): Promise<void> {
    this.health.close();
    this.state = 'closed';
    this.forceStop();
    return Promise.resolve();
  }

  /** Stops accepting calls; `done` once every in-flight call has finished. */
  protected abstract stopGracefully(done: () => void): void;

  /** Cuts every connection now. */
  protected abstract forceStop(): void;
}
